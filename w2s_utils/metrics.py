"""Metrics on ground truth, PGR, and confidence intervals over seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, roc_auc_score


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and AUROC of P(y=1) against 0/1 labels."""
    labels = np.asarray(labels)
    hard = (np.asarray(probs) > 0.5).astype(int)
    auroc = roc_auc_score(labels, probs) if len(np.unique(labels)) == 2 else float("nan")
    return {
        "acc": float((hard == labels).mean()),
        "balanced_acc": float(balanced_accuracy_score(labels, hard)),
        "auroc": float(auroc),
    }


def pgr(student: float, weak: float, ceiling: float) -> float:
    """Performance gap recovered: (student − weak) / (ceiling − weak).

    NaN when the ceiling does not beat the weak model: there is no gap to recover.
    """
    gap = ceiling - weak
    return float((student - weak) / gap) if gap > 1e-9 else float("nan")


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, int]:
    """Mean and half-width of a Student-t confidence interval over seeds (NaNs dropped)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), 0
    if len(x) == 1:
        return float(x[0]), float("nan"), 1
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(half), len(x)


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


def weak_error_imitation(labels, weak_probs, student_probs) -> dict[str, float]:
    """How often the student agrees with the weak labels where the weak model is wrong vs right.

    High agreement on weak-wrong examples means the student copies the supervisor's
    mistakes instead of generalising past them.
    """
    labels = np.asarray(labels)
    weak = np.asarray(weak_probs) > 0.5
    student = np.asarray(student_probs) > 0.5
    wrong = weak != labels.astype(bool)
    agree = student == weak
    return {
        "agree_weak_wrong": float(agree[wrong].mean()) if wrong.any() else float("nan"),
        "agree_weak_right": float(agree[~wrong].mean()) if (~wrong).any() else float("nan"),
        "misfit": float(1 - agree.mean()),
    }


def expected_calibration_error(labels, probs, bins: int = 10) -> float:
    """Mean |confidence − accuracy| over equal-width confidence bins, weighted by size."""
    labels = np.asarray(labels)
    probs = np.asarray(probs)
    confidence = np.maximum(probs, 1 - probs)
    correct = (probs > 0.5) == labels.astype(bool)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(error)


def interval_side(mean: float, half: float, other: float, other_half: float) -> int:
    """+1 if ``mean ± half`` lies wholly above ``other ± other_half``, -1 if wholly below,
    0 if the intervals overlap (no reliable difference)."""
    if mean - half > other + other_half:
        return 1
    if mean + half < other - other_half:
        return -1
    return 0


def compare_to_baseline(table: pd.DataFrame, baseline: str = "naive", by: str = "regime",
                        metric: str = "pgr") -> pd.DataFrame:
    """One honest verdict per method: helped / hurt / no clear difference vs the baseline.

    'helped' (or 'hurt') only when the 95% intervals of the two means do not overlap;
    without an interval (one seed) there is no verdict.
    """
    rows = []
    for group, part in table.groupby(by, sort=False):
        base = part[part["method"] == baseline]
        if base.empty:
            continue
        b_mean, b_half = base[metric].iloc[0], base[f"{metric}_ci95"].iloc[0]
        for _, row in part.iterrows():
            if row["method"] == baseline:
                continue
            mean, half = row[metric], row[f"{metric}_ci95"]
            if np.isnan(half) or np.isnan(b_half):
                verdict = "no interval (one seed)"
            else:
                verdict = {1: "helped", -1: "hurt", 0: "no clear difference"}[
                    interval_side(mean, half, b_mean, b_half)]
            rows.append({by: group, "method": row["method"], metric: round(mean, 3),
                         f"{baseline} {metric}": round(b_mean, 3),
                         "difference": round(mean - b_mean, 3), "verdict": verdict})
    return pd.DataFrame(rows)
