"""Posterior EM: treat the weak label as a noisy channel over the true label.

Model: y ~ prior(y | x), a logistic probe on the strong model's frozen features; the
weak labeller reports o with P(o | y) = T[y, o]. EM alternates fitting the prior and
the confusion matrix T to the current posterior (M) and recomputing the posterior
P(y | weak, x) ∝ prior(y | x) · T[y, weak] (E); the student then trains on it. Where
the strong features firmly disagree with a weak labeller known to err in that
direction, the posterior overrules the weak label. A soft weak label w counts as a
fractional observation (w of a positive report, 1 - w of a negative one); with hard
weak labels this is the textbook channel. The prior is cross-fitted so an example's
own weak label does not leak into its prior.
"""

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .base import Method, StudentContext, register
from .probe import ProbeParams, probe_labels, strong_features


class PosteriorEMParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    iterations: int = Field(10, ge=1)
    c: float = Field(0.01, gt=0)  # inverse L2 strength of the prior probe
    folds: int = Field(5, ge=2)  # cross-fitting folds of the prior probe


def channel(posterior: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """T[y, o] = P(weak reports o | true y), from expected (posterior-weighted) counts.

    Each class's accuracy is kept at or above 0.5: EM otherwise admits the mirror
    solution in which every label is swapped and the labeller is always wrong.
    """
    counts = _two_class(posterior).T @ _two_class(weak)
    accuracy = np.clip(np.diag(counts) / counts.sum(1).clip(min=1e-12), 0.5, 1 - 1e-3)
    return np.array([[accuracy[0], 1 - accuracy[0]], [1 - accuracy[1], accuracy[1]]])


def posterior(prior: np.ndarray, confusion: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """P(y=1 | weak, x) ∝ prior(y | x) · P(weak | y)."""
    log_joint = np.log(_two_class(np.clip(prior, 1e-6, 1 - 1e-6)))
    log_joint += _two_class(weak) @ np.log(confusion).T
    return 1 / (1 + np.exp(log_joint[:, 0] - log_joint[:, 1]))


def _two_class(p1: np.ndarray) -> np.ndarray:
    p1 = np.asarray(p1, np.float64)
    return np.stack([1 - p1, p1], axis=1)


@register
class PosteriorEM(Method):
    name = "posterior_em"
    description = "train on P(y | weak, x) from EM over a strong-feature prior and weak noise"
    Params = PosteriorEMParams

    def relabel(self, ctx: StudentContext) -> dict[str, np.ndarray]:
        features, weak = strong_features(ctx), ctx.weak
        probe = ProbeParams(probe="logistic", c=ctx.params.c, folds=ctx.params.folds)
        current = weak["pool"]
        for _ in range(ctx.params.iterations):
            prior = probe_labels(features, current, probe, ctx.experiment.seed)
            confusion = channel(current, weak["pool"])
            current = posterior(prior["pool"], confusion, weak["pool"])
        return {"pool": current, "val": posterior(prior["val"], confusion, weak["val"])}
