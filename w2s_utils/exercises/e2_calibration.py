"""Exercise 2 (``e2_weak_supervisor``): the weak supervisor's calibration error, and a
temperature that fixes it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

from .. import metrics
from .common import WrongAnswer, close, passed, run_answer


def _calibration_case(rng, n=3000):
    labels = rng.integers(0, 2, n)
    logits = (2 * labels - 1) * rng.gamma(2.0, 1.0, n) + rng.normal(0, 1.5, n)
    return labels, 1 / (1 + np.exp(-1.8 * logits))  # overconfident on purpose


def check_ece(ece: Callable) -> None:
    """``ece(labels, probs, bins=10)``: expected calibration error of P(y=1)."""
    rng = np.random.default_rng(4)
    for _ in range(3):
        labels, probs = _calibration_case(rng)
        probs = np.where(rng.random(len(probs)) < 0.3, 0.5 + 0.05 * rng.random(len(probs)),
                         probs)  # crowd one bin, so equal bin weights are visibly wrong
        got = run_answer(ece, labels.copy(), probs.copy(), bins=10)
        right = metrics.expected_calibration_error(labels, probs, bins=10)
        if close(got, right, 1e-4):
            continue
        edges = np.linspace(0.5, 1.0, 11)
        confidence = np.maximum(probs, 1 - probs)
        correct = (probs > 0.5) == labels.astype(bool)
        which = np.clip(np.digitize(confidence, edges) - 1, 0, 9)
        gaps = [abs(confidence[which == b].mean() - correct[which == b].mean())
                for b in range(10) if (which == b).any()]
        raw_edges = np.linspace(0, 1, 11)
        raw_which = np.clip(np.digitize(probs, raw_edges) - 1, 0, 9)
        raw = sum((raw_which == b).mean() * abs(probs[raw_which == b].mean()
                                                 - labels[raw_which == b].mean())
                  for b in range(10) if (raw_which == b).any())
        if close(got, np.mean(gaps), 1e-4):
            raise WrongAnswer(f"You averaged the bins equally ({got:.4f}); weight each bin "
                              f"by its share of examples (expected {right:.4f}). A bin with "
                              "3 examples should not count as much as one with 900.")
        if close(got, raw, 1e-4):
            raise WrongAnswer(
                f"You binned P(y=1) on [0, 1] ({got:.4f}); this exercise bins the model's "
                "confidence in its own prediction, max(p, 1 − p), on [0.5, 1], and compares it "
                f"with whether that prediction was right (expected {right:.4f}).")
        raise WrongAnswer(f"ece returned {got!r}, expected {right:.4f}: per bin of "
                          "confidence max(p, 1 − p), |mean confidence − accuracy|, weighted "
                          "by the bin's share of examples.")
    passed("ece", "Bins of confidence, weighted by their size.")


def check_temperature(fit_temperature: Callable) -> None:
    """``fit_temperature(logits, labels)``: the T > 0 minimising the log loss of
    sigmoid(logits / T)."""
    rng = np.random.default_rng(5)
    for scale in (1.8, 0.6):  # over- and under-confident
        labels, probs = _calibration_case(rng)
        logits = np.log(probs / (1 - probs)) * scale / 1.8
        got = run_answer(fit_temperature, logits.copy(), labels.copy())
        if not isinstance(got, int | float | np.number):
            raise WrongAnswer(f"Return one number, the temperature, not {type(got).__name__}.")
        got = float(got)
        right = _best_temperature(logits, labels)
        if abs(got - right) <= 0.02 * right:
            continue
        if abs(got - 1 / right) <= 0.02 / right:
            raise WrongAnswer(f"You returned {got:.3f}, the inverse of the temperature "
                              f"({right:.3f}): divide the logits by T, sigmoid(logits / T).")
        if got <= 0:
            raise WrongAnswer(f"A temperature must be positive; you returned {got:.3f}.")
        raise WrongAnswer(f"Temperature {got:.3f} does not minimise the log loss of "
                          f"sigmoid(logits / T); the minimum is at T = {right:.3f}. "
                          "Minimise the mean binary cross-entropy over T (e.g. "
                          "scipy.optimize.minimize_scalar on log T).")
    passed("fit_temperature", "T > 1 softens an overconfident model, T < 1 sharpens.")


def _best_temperature(logits, labels) -> float:
    def loss(log_t):
        z = logits / np.exp(log_t)
        return np.mean(np.logaddexp(0, z) - labels * z)
    return float(np.exp(optimize.minimize_scalar(loss, bounds=(-5, 5), method="bounded").x))

