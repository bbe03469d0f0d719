"""Notebook 07's tables, figure and verdicts: a team's code ideas, the leaderboard with
its costs, the ideas worth re-running, and the transfer conclusion. Every sentence is
computed from the run's rows; nothing here holds or reads ground truth."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd

from ..metrics import ALPHA
from .codegen import family, genome_of
from .proposals import Proposal
from .transfer import proposal_of


def code_ideas(findings: list[dict], registered: set[str], holdout: list[dict]) -> pd.DataFrame:
    """One row per idea shared with code: its family, parent, whether its method was in
    the registry when the run began, and its blind holdout score if its agent spent one."""
    blind = {(h["agent"], h["idea"]): h for h in holdout}
    rows = {}
    for f in sorted(findings, key=lambda f: f["id"]):
        code = (f["config"] or {}).get("code")
        if not code or (f["agent"], f["idea"]) in rows:
            continue
        genome = genome_of(code)
        h = blind.get((f["agent"], f["idea"]), {})
        rows[(f["agent"], f["idea"])] = {
            "agent": f["agent"], "idea": f["idea"], "family": family(genome) if genome else "",
            "parent": f["config"].get("parent"), "new": f["config"]["method"] not in registered,
            "failed": f["body"].startswith("failed"), "lines": code.count("\n") + 1,
            "holdout_pgr": h.get("pgr"), "holdout_pgr_low": h.get("pgr_low"),
            "holdout_pgr_high": h.get("pgr_high")}
    return pd.DataFrame(list(rows.values()), columns=[
        "agent", "idea", "family", "parent", "new", "failed", "lines", "holdout_pgr",
        "holdout_pgr_low", "holdout_pgr_high"])


def leaderboard_costs(entries: list[dict]) -> pd.DataFrame:
    """The leaderboard with the ledger's columns (holdout PGR as its interval only)."""
    columns = ["rank", "agent", "idea", "counted", "seeds", "submissions", "best_feedback_pgr",
               "holdout_pgr_low", "holdout_pgr_high", "eval_calls", "cpu_seconds",
               "server_cpu_seconds", "tokens", "dollars", "pgr_per_cpu_hour",
               "pgr_per_dollar", "flags"]
    frame = pd.DataFrame(entries, columns=columns)
    frame["flags"] = frame["flags"].map(", ".join)
    return frame.set_index("rank")


def transfer_candidates(entries: list[dict], findings: list[dict],
                        count: int) -> dict[tuple[str, str], Proposal]:
    """The ``count`` best *counted*, clean ideas in leaderboard order, one per distinct
    config, each rebuilt from the config its agent shared on the forum."""
    configs = {}
    for f in sorted(findings, key=lambda f: f["id"]):
        config = f["config"] or {}
        if "method" in config and not f["body"].startswith("failed"):
            configs.setdefault((f["agent"], f["idea"]), config)
    chosen, seen = {}, set()
    for e in entries:
        config = configs.get((e["agent"], e["idea"]))
        if not e["counted"] or e["flags"] or config is None:
            continue
        key = config.get("code_sha256") or repr(sorted(config.items()))
        if key in seen:
            continue
        seen.add(key)
        chosen[(e["agent"], e["idea"])] = proposal_of(config, hypothesis=f"re-run {e['idea']}")
        if len(chosen) == count:
            break
    return chosen


def plot_transfer(table: pd.DataFrame, ax=None):
    """PGR on the search task vs the held-out task, one point per idea, 95% intervals."""
    ax = ax or plt.subplots(figsize=(5.5, 5))[1]
    for _, row in table.iterrows():
        x, y = row["search_pgr"], row["heldout_pgr"]
        if math.isnan(x) or math.isnan(y):
            continue
        ax.errorbar(x, y, xerr=[[x - row["search_pgr_low"]], [row["search_pgr_high"] - x]],
                    yerr=[[y - row["heldout_pgr_low"]], [row["heldout_pgr_high"] - y]],
                    fmt="o", capsize=3, label=row["idea"][:28])
    lims = [min(-0.1, *ax.get_xlim(), *ax.get_ylim()), max(1.1, *ax.get_xlim(), *ax.get_ylim())]
    ax.plot(lims, lims, ls="--", color="#999", lw=1, label="same PGR on both")
    ax.axhline(0, color="#ccc", lw=1)
    ax.set(xlim=lims, ylim=lims, xlabel="PGR on the search task", ylabel="PGR on the held-out task")
    ax.legend(fontsize=8, loc="best")
    return ax


PER_SEED = ("search_per_seed_pgr", "heldout_per_seed_pgr")


def transfer_per_seed(table: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """The per-seed PGRs behind the transfer figure (``seeds``: those the table's re-runs
    used, in order), one row per (idea, task, seed)."""
    rows = [{"agent": row["agent"], "idea": row["idea"], "role": side,
             "task": row[f"{side}_task"], "seed": seed, "pgr": pgr}
            for _, row in table.iterrows() for side in ("search", "heldout")
            for seed, pgr in zip(seeds, row[f"{side}_per_seed_pgr"], strict=True)]
    return pd.DataFrame(rows, columns=["agent", "idea", "role", "task", "seed", "pgr"])


def _interval(row, side: str) -> str:
    if not row[f"{side}_resolved"]:
        return "no PGR (gap not resolved)"
    return (f"{row[f'{side}_pgr']:.2f} [{row[f'{side}_pgr_low']:.2f}, "
            f"{row[f'{side}_pgr_high']:.2f}]")


def transfer_verdict(table: pd.DataFrame) -> str:
    """The honest conclusion, from the table: the best idea on the search task, its PGR
    there and on the held-out task, and whether it transferred."""
    if table.empty:
        return ("No idea passed the seed gate cleanly, so nothing was re-run: this run has "
                "no result to transfer.")
    resolved = table[table["search_resolved"]]
    best = (resolved if not resolved.empty else table).sort_values(
        "search_pgr", ascending=False, na_position="last").iloc[0]
    seeds = int(best["seeds"])
    did = "transferred" if best["transferred"] else "did not transfer"
    why = ("its interval lies above 0 on both tasks" if best["transferred"] else
           "its search-task PGR is not resolved" if not best["search_resolved"] else
           "its search-task interval reaches 0: the search did not establish a gain"
           if best["search_pgr_low"] <= 0 else
           "its held-out PGR is not resolved" if not best["heldout_resolved"] else
           "its held-out interval reaches 0 or below")
    details = ""
    if best["search_resolved"] and best["heldout_resolved"] and not math.isnan(
            best["task_gap_p"]):
        p_value = best["task_gap_p"]
        details = (f" Paired by training seed, its PGR differs between the tasks "
                   f"(t-test p = {p_value:.3g})." if p_value < ALPHA else
                   f" Paired by training seed, this run cannot tell its PGR on the two tasks "
                   f"apart (t-test p = {p_value:.3g}, {seeds} seeds).")
    if all(_constant(best[column]) for column in PER_SEED):
        details += (f" Its {seeds} training seeds gave the same PGR on each task (training is "
                    "deterministic given the data here, e.g. an L-BFGS probe): the intervals "
                    "show test-example noise only, not training variation.")
    others = int(table["transferred"].sum())
    return (f"The best re-run idea, **{best['idea']}** ({best['agent']}), has PGR "
            f"{_interval(best, 'search')} on the search task ({best['search_task']}) and "
            f"{_interval(best, 'heldout')} on the held-out task ({best['heldout_task']}), "
            f"over {seeds} training seeds: it {did} ({why}).{details} "
            f"{others} of the {len(table)} re-run ideas transferred.")


def _constant(values) -> bool:
    values = [v for v in values if not math.isnan(v)]
    return len(values) > 1 and max(values) - min(values) < 1e-9


def cost_verdict(board: pd.DataFrame) -> str:
    """What the team spent, from the ledger's columns of the leaderboard."""
    cpu, measured = board["cpu_seconds"].sum(), board["server_cpu_seconds"].sum()
    counted = board[board["counted"] & board["pgr_per_cpu_hour"].notna()]
    text = (f"The team reported {cpu:.0f} CPU-seconds of training over {len(board)} ideas and "
            f"{int(board['eval_calls'].sum())} evaluation calls, {int(board['tokens'].sum())} "
            f"LLM tokens (${board['dollars'].sum():.4f})" + (
                f"; the organizer's re-runs measured {measured:.0f} CPU-seconds." if measured
                else "; the organizer has re-run none of them yet."))
    if not counted.empty:
        top = counted.sort_values("pgr_per_cpu_hour", ascending=False).iloc[0]
        text += (f" Among counted ideas, {top['idea']} gained the most feedback PGR per "
                 f"CPU-hour ({top['pgr_per_cpu_hour']:.1f}).")
    return text
