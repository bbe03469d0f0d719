"""One weak-to-strong run end to end: the cached stages (``stages``), then the metrics
on ``test``, recorded as one row of the results table. Scoring is not cached: it is
cheap, and a new metric then needs no retraining."""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from typing import Any

import pandas as pd

from . import results
from .cache import ArtifactStore
from .code_keys import stage_code
from .experiment import Experiment
from .metrics import (
    classification_metrics,
    pack_correct,
    pgr,
    pgr_summary,
    weak_error_imitation,
    weak_fit_diagnostics,
)
from .stages import (
    WeakSupervisors,
    ceiling,
    experiment_splits,
    student,
    student_key,
    weak_labels,
)


def run(exp: Experiment, store: ArtifactStore | None = None, force: bool = False,
        progress: bool = True) -> dict:
    """All stages of one experiment; records and returns its results row.

    The row keeps each model's per-example correctness on ``test`` (``*_test_correct``,
    packed bits in hex) so intervals can resample test examples as well as seeds, and
    label-free diagnostics of the student against its supervisor on ``pool`` and ``val``
    (``misfit_sq_pool``, ``misfit_sq_val``, ``error_difference_val``).
    A method that changes the supervisor is scored against its own supervisor.
    """
    store = store or ArtifactStore()
    weak = weak_labels(exp, store, force, progress)
    top = ceiling(exp, store, force, progress)
    stud = student(exp, store, force, progress)
    labels = experiment_splits(exp)["test"].labels
    method = exp.method_class
    teacher = weak["probs"]
    if method.changes_supervisor():
        weak_probs = WeakSupervisors(exp, store, progress, ("pool", "val", "test"))
        teacher = method().supervisor(exp.method_config, weak_probs)
    supervisor = teacher["test"]
    row: dict[str, Any] = {
        "task": exp.task, "regime": exp.regime, "weak_model": exp.weak_model,
        "strong_model": exp.strong_model, "method": exp.method,
        "method_params": _canonical(exp.method_params), "split_seed": exp.split_seed,
        "seed": exp.seed, "supervisor": "changed" if method.changes_supervisor() else "weak",
        "balanced": exp.balanced, **{f"n_{k}": v for k, v in exp.sizes.model_dump().items()},
        "majority_acc": float(max(labels.mean(), 1 - labels.mean())),
    }
    row.update(_scale_columns(exp, top))
    probs = {"weak": supervisor, "ceiling": top["probs"]["test"],
             "student": stud["probs"]["test"]}
    scores = {name: classification_metrics(labels, p) for name, p in probs.items()}
    for name, metrics in scores.items():
        row.update({f"{name}_{k}": v for k, v in metrics.items()})
    row["pgr"] = pgr(scores["student"]["acc"], scores["weak"]["acc"], scores["ceiling"]["acc"])
    for metric in ("balanced_acc", "auroc"):
        row[f"pgr_{metric}"] = pgr(*(scores[n][metric] for n in ("student", "weak", "ceiling")))
    row.update(weak_error_imitation(labels, supervisor, probs["student"]))
    row.update(weak_fit_diagnostics(teacher, stud["probs"]))
    row.update({f"{name}_test_correct": pack_correct(labels, p) for name, p in probs.items()})
    row.update({f"{n}_seconds": a["seconds"] for n, a in
                (("weak", weak), ("ceiling", top), ("student", stud))})
    row.update(code_version=stage_code(), git_commit=_git_commit(),
               train_config=exp.train_config.model_dump_json())
    results.record(student_key(exp), row)
    return row


def run_seeds(exp: Experiment, seeds, **kwargs) -> pd.DataFrame:
    """The same experiment over several seeds (split, initialisation and data order)."""
    return pd.DataFrame([run(exp.replicate(s), **kwargs) for s in seeds])


def pgr_table(frame: pd.DataFrame, by=("task", "regime", "weak_model", "strong_model",
                                       "method")) -> pd.DataFrame:
    """Accuracies (mean ± 95% CI over seeds) and PGR (ratio of means, paired bootstrap
    interval over seeds and test examples; "gap not resolved" instead of a PGR when the
    ceiling's lead is within noise), one row per configuration."""
    return pgr_summary(frame, list(by))


def _scale_columns(exp: Experiment, ceiling_artifact: dict) -> dict:
    """Where the strong model trained, and the LM-head settings when they are used (so
    tables of the offline ladder keep their columns)."""
    columns = {"device": ceiling_artifact.get("device", "cpu")}
    if exp.head != "linear":
        columns["head"] = exp.head
    if exp.weak_regime != "linear_probe":
        columns["weak_regime"] = exp.weak_regime
    return columns


@lru_cache(maxsize=1)
def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5, cwd=__file__.rsplit("/", 2)[0])
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _canonical(params: dict) -> str:
    return json.dumps(params, sort_keys=True)
