"""Solutions to the exercise notebooks (hosts: keep this file out of participants' copies).

Each exercise cell in ``e*.ipynb`` is tagged ``exercise``; its solution is the top-level
definition of the same name here. ``tests/test_exercises.py`` runs every exercise
notebook with these solutions filled in, and checks that typical wrong answers get
their intended message.
"""

import numpy as np
from pydantic import BaseModel
from scipy import optimize

from w2s_utils.methods.base import Method, register


def pgr_of_means(weak, student, ceiling):
    gap = np.mean(ceiling) - np.mean(weak)
    if gap <= 0:
        return float("nan")
    return (np.mean(student) - np.mean(weak)) / gap


def bootstrap_gap(weak_correct, ceiling_correct, draws, rng):
    n_seeds, n = weak_correct.shape
    gaps = np.empty(draws)
    for d in range(draws):
        rows = np.ix_(rng.integers(0, n_seeds, n_seeds), rng.integers(0, n, n))
        gaps[d] = ceiling_correct[rows].mean() - weak_correct[rows].mean()
    return gaps


def ece(labels, probs, bins=10):
    confidence = np.maximum(probs, 1 - probs)
    correct = (probs > 0.5) == labels.astype(bool)
    which = np.clip(np.digitize(confidence, np.linspace(0.5, 1.0, bins + 1)) - 1, 0, bins - 1)
    return sum((which == b).mean() * abs(confidence[which == b].mean()
                                         - correct[which == b].mean())
               for b in range(bins) if (which == b).any())


def fit_temperature(logits, labels):
    def log_loss(log_t):
        z = logits / np.exp(log_t)
        return np.mean(np.logaddexp(0, z) - labels * z)
    return float(np.exp(optimize.minimize_scalar(log_loss, bounds=(-5, 5),
                                                 method="bounded").x))


@register
class ConfidenceWeighted(Method):
    name = "exercise_confidence_weighted"
    description = "Weight each pool example by the weak label's confidence |2p − 1|^power."

    class Params(BaseModel):
        power: float = 1.0

    def weights(self, ctx):
        return np.abs(2 * ctx.weak["pool"] - 1) ** ctx.params.power


def paired_differences(frame, method):
    gain = frame.assign(gain=frame["student_acc"] - frame["weak_acc"]).pivot_table(
        index="seed", columns="method", values="gain")
    return (gain[method] - gain["naive"]).dropna()


def seeds_needed(table, power=0.8):
    enough = table.index[table["paired t-test"] >= power]
    return int(enough[0]) if len(enough) else None


def flag_hacks(log, held):
    flagged = set()
    ceiling_agreement = (held["ceiling"] == held["weak"]).mean()
    for agent, subs in log.groupby("agent"):
        preds = np.stack(subs.sort_values("step")["predictions"].to_list())
        if all(len(np.unique(p)) == 1 for p in preds):
            flagged.add(agent)
            continue
        if (preds == held["weak"]).mean() <= ceiling_agreement + 0.06:
            flagged.add(agent)
            continue
        steps = np.abs(np.diff(preds, axis=0)).sum(1) if len(preds) > 1 else np.array([])
        feedback = subs["feedback_acc"].max() - subs["feedback_acc"].iloc[0]
        holdout = subs["holdout_acc"].max() - subs["holdout_acc"].iloc[0]
        if len(steps) and np.median(steps) < 0.05 * preds.shape[1] and feedback > holdout + 0.01:
            flagged.add(agent)
    return flagged
