"""Transfer: the organizer re-runs the best ideas on k training seeds, on the search task
and on a held-out task no agent saw, and reports PGR on both with intervals.

This is organizer-side code: it holds both tasks' ground truth (``EvalData``). The idea
itself still trains on the label-free view only — the same ``DataView``s the server
serves, through ``ResearchAgent.train`` (code ideas in the sandbox) — and is scored here
afterwards. PGR is ``metrics.pgr_interval`` over (seeds × examples) correctness on the
scored split: weak (one fixed supervisor), the ceiling trained on the same seeds, and
the idea's student; a gap that is not resolved gets no PGR. The CPU each re-run takes is
measured here and written to the ledger as ``source="server"``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..cache import ArtifactStore
from ..metrics import paired_test, pgr_interval
from ..stages import ceiling
from . import ledger
from .agent import ResearchAgent
from .client import ResearchClient
from .evaldata import EvalData
from .proposals import Proposal
from .schemas import CostIn

SPLIT = "holdout"  # scored blind once per idea on the search task; never seen on the other


class LocalTask:
    """The label-free face of ``EvalData`` that ``ResearchAgent`` reads (task and views),
    without an HTTP round trip: the idea sees exactly what an agent would."""

    def __init__(self, data: EvalData):
        self._data = data

    def task(self) -> dict:
        return {"experiment": self._data.experiment.model_dump(mode="json"),
                "baselines": self._data.baselines.model_dump()}

    def data(self, split: str) -> dict:
        return self._data.views[split].model_dump()

    label_free_splits = ResearchClient.label_free_splits


def proposal_of(config: dict, hypothesis: str = "re-run") -> Proposal:
    """The proposal a stored finding's config describes (method, params, train, code)."""
    return Proposal(method=config["method"], params=config.get("params", {}),
                    train=config.get("train", {}), code=config.get("code"),
                    parent=config.get("parent"), hypothesis=hypothesis)


def rerun(data: EvalData, proposal: Proposal, seeds: Sequence[int],
          store: ArtifactStore | None = None, allow_unisolated: bool = False) -> dict:
    """PGR of ``proposal`` on ``data``'s scored ``SPLIT`` over ``seeds``, its interval,
    the per-seed PGRs and the CPU-seconds the re-runs took (measured)."""
    store = store or ArtifactStore()
    trainer = ResearchAgent(LocalTask(data), allow_unisolated=allow_unisolated)
    labels = data.scored[SPLIT].labels
    weak = data.scored[SPLIT].weak_hard == labels
    rows = {"weak": [], "ceiling": [], "student": []}
    cpu = 0.0
    for seed in seeds:
        start, sandbox = time.process_time(), trainer.cpu_seconds
        student = trainer.train(proposal, seed)[SPLIT]
        cpu += time.process_time() - start + trainer.cpu_seconds - sandbox
        top = ceiling(data.experiment.with_(seed=seed), store, progress=False)["probs"][SPLIT]
        rows["weak"].append(weak)
        rows["ceiling"].append((top > 0.5) == labels)
        rows["student"].append((student > 0.5) == labels)
    matrices = {k: np.stack(v).astype(np.float32) for k, v in rows.items()}
    result = pgr_interval(matrices["weak"], matrices["ceiling"], matrices["student"])
    per_seed = [_pgr(w, c, s) for w, c, s in zip(*matrices.values(), strict=True)]
    return {**result, "seeds": len(seeds), "per_seed_pgr": per_seed,
            "cpu_seconds": round(cpu, 2), "n": len(labels)}


def _pgr(weak: np.ndarray, ceiling: np.ndarray, student: np.ndarray) -> float:
    gap = ceiling.mean() - weak.mean()
    return float((student.mean() - weak.mean()) / gap) if gap else float("nan")


def transfer_table(ideas: dict[tuple[str, str], Proposal], search: EvalData,
                   heldout: EvalData, seeds: Sequence[int], engine=None,
                   **kwargs) -> pd.DataFrame:
    """One row per (agent, idea): PGR [interval] on the search task and on the held-out
    task, and whether it *transferred*: a gain established on the search task (PGR
    resolved, interval above 0) that holds on the held-out task (the same there). The
    per-seed PGRs on both tasks (``*_per_seed_pgr``, one list per row) give
    ``task_gap_p``: a paired t-test, by training seed, of search − held-out PGR. With
    the server's ``engine``, the search-task re-runs' measured CPU-seconds go to the
    ledger (``source="server"``) beside what the agent reported."""
    rows = []
    for (agent, name), proposal in ideas.items():
        row = {"agent": agent, "idea": name}
        for label, data in (("search", search), ("heldout", heldout)):
            out = rerun(data, proposal, seeds, **kwargs)
            if engine is not None and label == "search":  # comparable to what was reported
                with engine.begin() as connection:
                    ledger.record(connection, ledger.LedgerSettings(), agent,
                                  CostIn(idea=name, cpu_seconds=out["cpu_seconds"]),
                                  "server", time.time())
            row.update({f"{label}_task": data.experiment.task,
                        f"{label}_pgr": out["pgr"], f"{label}_pgr_low": out["pgr_low"],
                        f"{label}_pgr_high": out["pgr_high"],
                        f"{label}_resolved": out["resolved"],
                        f"{label}_cpu_seconds": out["cpu_seconds"],
                        f"{label}_per_seed_pgr": out["per_seed_pgr"]})
        row["seeds"] = len(seeds)
        gaps = np.subtract(row["search_per_seed_pgr"], row["heldout_per_seed_pgr"])
        row["task_gap_p"] = (paired_test(gaps)["p_t"] if np.isfinite(gaps).all()
                             else float("nan"))
        row["transferred"] = all(row[f"{side}_resolved"] and row[f"{side}_pgr_low"] > 0
                                 for side in ("search", "heldout"))
        rows.append(row)
    return pd.DataFrame(rows)
