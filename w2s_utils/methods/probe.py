"""Probe relabelling and filtering (EleutherAI w2s) on the strong model's frozen features.

A kNN or logistic probe fitted to the weak labels smooths them over the strong model's
representation: a weak label that disagrees with its neighbourhood there is likely a
weak-model mistake. The probe is cross-fitted (kNN leaves each example out, logistic
predicts each fold from the others) so an example's own label never predicts itself.
"""

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from ..learner import split_features
from .base import Method, StudentContext, register


class ProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    probe: Literal["knn", "logistic"] = "knn"
    k: int = Field(10, ge=1)  # neighbours (knn)
    c: float = Field(0.01, gt=0)  # inverse L2 strength (logistic), on standardised features
    folds: int = Field(5, ge=2)  # cross-fitting folds (logistic)


def strong_features(ctx: StudentContext) -> dict[str, np.ndarray]:
    return split_features(ctx.experiment.strong_model, ctx.splits, ctx.experiment.probe,
                          progress=ctx.progress)


def probe_labels(features: dict[str, np.ndarray], targets: np.ndarray, params: ProbeParams,
                 seed: int) -> dict[str, np.ndarray]:
    """Probe P(y=1) on pool (out of fold) and val, fitted to soft ``targets`` on pool."""
    pool = features["pool"]
    mean, scale = pool.mean(0), pool.std(0).clip(min=1e-6)  # label-free, so pool-wide
    x, val = (pool - mean) / scale, (features["val"] - mean) / scale
    targets = np.asarray(targets, np.float64)
    if params.probe == "knn":
        return {"pool": knn(x, targets, x, params.k, exclude_self=True),
                "val": knn(x, targets, val, params.k)}
    out = np.empty(len(x))
    for fit_rows, held in KFold(params.folds, shuffle=True, random_state=seed).split(x):
        out[held] = logistic(x[fit_rows], targets[fit_rows], params.c).predict_proba(x[held])[:, 1]
    return {"pool": out, "val": logistic(x, targets, params.c).predict_proba(val)[:, 1]}


def knn(x: np.ndarray, targets: np.ndarray, queries: np.ndarray, k: int,
        exclude_self: bool = False, chunk: int = 1024) -> np.ndarray:
    """Mean target of each query's ``k`` nearest rows of ``x`` by cosine similarity."""
    x, queries = _unit(x), _unit(queries)
    k = min(k, len(x) - exclude_self)
    out = np.empty(len(queries))
    for start in range(0, len(queries), chunk):
        sims = queries[start:start + chunk] @ x.T
        if exclude_self:
            rows = np.arange(len(sims))
            sims[rows, start + rows] = -np.inf
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out[start:start + chunk] = targets[nearest].mean(1)
    return out


def logistic(x: np.ndarray, targets: np.ndarray, c: float) -> LogisticRegression:
    """Logistic regression on soft targets: each row twice, weighted P(y=1) and P(y=0)."""
    n = len(x)
    model = LogisticRegression(C=c, max_iter=1000)
    with threadpool_limits(1):  # tiny problems: BLAS threads cost far more than they save
        model.fit(np.concatenate([x, x]), np.r_[np.ones(n), np.zeros(n)],
                  sample_weight=np.r_[targets, 1 - targets])
    return model


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True).clip(min=1e-12)


@register
class ProbeRelabel(Method):
    name = "probe_relabel"
    description = "replace pool/val weak labels by a cross-fitted probe on strong features"
    Params = ProbeParams

    def relabel(self, ctx: StudentContext) -> dict[str, np.ndarray]:
        return probe_labels(strong_features(ctx), ctx.weak["pool"], ctx.params,
                            ctx.experiment.seed)


@register
class ProbeFilter(Method):
    name = "probe_filter"
    description = "drop pool examples whose weak label the cross-fitted probe contradicts"
    Params = ProbeParams

    def subset(self, ctx: StudentContext) -> np.ndarray:
        weak = ctx.weak["pool"]
        probe = probe_labels(strong_features(ctx), weak, ctx.params, ctx.experiment.seed)
        return np.flatnonzero((probe["pool"] > 0.5) == (weak > 0.5))
