"""Scores of P(y=1) against ground truth: accuracy, balanced accuracy, AUROC, PGR,
calibration, and which test examples a model got right (packed, for the bootstrap)."""

from __future__ import annotations

import numpy as np
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


def pack_correct(labels, probs) -> str:
    """Which test examples a model got right, as hex of packed bits (for the bootstrap)."""
    correct = (np.asarray(probs) > 0.5) == np.asarray(labels).astype(bool)
    return np.packbits(correct).tobytes().hex()


def unpack_correct(packed: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(packed), np.uint8))[:n].astype(bool)
