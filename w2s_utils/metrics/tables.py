"""Tables of a results frame, one row per configuration: means with intervals, PGR with
its bootstrap interval, and in words whatever makes a row's numbers say less than they
seem to."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import mean_ci, pgr_interval
from .scores import unpack_correct


def summarize(frame: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, 95% CI half-width and seed count of each metric per group."""
    rows = []
    for keys, group in frame.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(by, keys))
        for metric in metrics:
            mean, half, n = mean_ci(group[metric])
            row[metric] = mean
            row[f"{metric}_ci95"] = half
            if n < len(group):  # NaN runs (e.g. PGR with no gap) are left out of the mean
                row[f"{metric}_n"] = n
        row["seeds"] = len(group)
        row["seed_list"] = ",".join(str(s) for s in sorted(group["seed"]))
        rows.append(row)
    return pd.DataFrame(rows)


def pgr_summary(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """One row per group: accuracies (mean ± 95% t-interval over seeds), PGR as a ratio
    of means with its paired bootstrap interval, the per-seed PGRs, and ``warnings``: in
    words, whatever makes a row's numbers say less than they seem to (a gap within
    noise, a weak model ahead of its ceiling, an accuracy that does not beat always
    predicting the majority class). ``pgr_note`` says why a row has no PGR."""
    rows = []
    for keys, group in frame.groupby(by, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        group = group.sort_values("seed")
        row = dict(zip(by, keys))
        for metric in ("weak_acc", "ceiling_acc", "student_acc"):
            row[metric], row[f"{metric}_ci95"], _ = mean_ci(group[metric])
        row.update(pgr_interval(*(_correct_matrix(group, w)
                                  for w in ("weak", "ceiling", "student"))))
        weak_ahead = row["resolved"] and row["gap"] < 0
        if weak_ahead:  # a ratio over a negative gap is no recovery
            row.update(pgr=float("nan"), pgr_low=float("nan"), pgr_high=float("nan"))
        row["pgr_note"] = ("weak beats ceiling" if weak_ahead else
                           "" if row["resolved"] else "gap not resolved")
        per_seed = group["pgr"].to_numpy(float)
        row["per_seed_pgr"] = " ".join("nan" if np.isnan(v) else f"{v:.2f}" for v in per_seed)
        row["nan_seeds"] = int(np.isnan(per_seed).sum())
        row["seeds"] = len(group)
        row["seed_list"] = ",".join(str(s) for s in group["seed"])
        if "supervisor" in group:
            row["supervisor"] = group["supervisor"].iloc[0]
        majority = group["majority_acc"].iloc[0] if "majority_acc" in group else np.nan
        row["majority_acc"] = float(majority)
        row["warnings"] = "; ".join(row_warnings(row))
        rows.append(row)
    return pd.DataFrame(rows)


def row_warnings(row: dict) -> list[str]:
    """Why a summary row's numbers say less than they seem to, one sentence each."""
    out = []
    interval = f"{row['gap']:+.3f} [{row['gap_low']:+.3f}, {row['gap_high']:+.3f}]"
    if not row["resolved"]:
        out.append(f"gap not resolved: ceiling − weak {interval}, no PGR")
    elif row["gap"] < 0:
        out.append(f"weak model beats the ceiling: ceiling − weak {interval}, no PGR")
    if row["nan_seeds"] and row["resolved"] and row["gap"] > 0:
        out.append(f"PGR undefined on {row['nan_seeds']} of {row['seeds']} seeds "
                   "(ceiling not above weak there)")
    majority = row.get("majority_acc", np.nan)
    for who in ("weak", "ceiling", "student"):
        mean = row[f"{who}_acc"]
        if not np.isnan(majority) and mean <= majority:
            out.append(f"{who} {mean:.3f} is no better than always predicting the majority "
                       f"class ({majority:.3f})")
    return out


def warning_summary(table: pd.DataFrame) -> str:
    """How many rows of a ``pgr_summary`` table carry warnings, then each one in full
    (a displayed table cuts long text)."""
    flagged = table[table["warnings"] != ""]
    if flagged.empty:
        return f"No warnings in {len(table)} row(s)."
    keys = list(table.columns[:list(table.columns).index("weak_acc")])
    lines = [f"{len(flagged)} of {len(table)} row(s) carry warnings:"]
    for _, row in flagged.iterrows():
        name = " / ".join(str(row[k]) for k in keys)
        lines += [f"  {name}: {w}" for w in row["warnings"].split("; ")]
    return "\n".join(lines)


def _correct_matrix(group: pd.DataFrame, who: str) -> np.ndarray:
    """(seeds, test examples) correctness of ``who`` (weak, ceiling or student)."""
    n = int(group["n_test"].iloc[0])
    return np.stack([unpack_correct(p, n) for p in group[f"{who}_test_correct"]])
