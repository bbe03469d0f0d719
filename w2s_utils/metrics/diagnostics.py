"""How a student relates to its supervisor: imitation of the weak model's errors (on
ground truth) and label-free misfit on ``pool`` and ``val``."""

from __future__ import annotations

import numpy as np


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


def weak_fit_diagnostics(supervisor: dict[str, np.ndarray], student: dict[str, np.ndarray]
                         ) -> dict[str, float]:
    """Label-free diagnostics from soft predictions on ``pool`` and ``val`` only.

    ``misfit_sq_*``: mean squared difference between the student's P(y=1) and its
    supervisor's, the misfit that Charikar et al. (2024) show lower-bounds the gain in
    squared loss (for a student that is the projection of the weak labels onto a convex
    class). ``error_difference_val``: the share of ``val`` where the two disagree; on a
    binary task two classifiers disagree exactly where one of them errs and the other
    does not, so this is how often their errors differ, measured without any label.
    """
    out = {f"misfit_sq_{s}": float(np.mean((np.asarray(student[s], float)
                                            - np.asarray(supervisor[s], float)) ** 2))
           for s in ("pool", "val")}
    out["error_difference_val"] = float(np.mean(
        (np.asarray(student["val"]) > 0.5) != (np.asarray(supervisor["val"]) > 0.5)))
    return out
