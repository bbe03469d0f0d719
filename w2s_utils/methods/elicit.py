"""Unsupervised elicitation: a direction in the strong model's features found without
labels, whose sign (and scale) only the weak labels fix.

Contrast-consistent search needs contrast pairs; for plain classification the label-free
analogue is a principal direction of the strong features over the pool (or the axis
between two k-means clusters in the top principal subspace). If the strong model
represents the task saliently, that direction *is* the task, and the weak labels are
needed only to pick among a few candidate directions (the "search") and to orient and
calibrate the chosen one: a 1-D logistic fit of the weak labels on the projection. The
student then trains on the calibrated projection instead of the weak labels.
"""

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from .base import Method, StudentContext, register
from .probe import logistic, strong_features


class ElicitParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    direction: Literal["pca", "kmeans"] = "pca"
    components: int = Field(8, ge=1)  # principal directions searched (pca) or kept (kmeans)
    mix: float = Field(1.0, ge=0, le=1)  # share of the elicited label in the target


def candidate_directions(x: np.ndarray, params: ElicitParams, seed: int) -> np.ndarray:
    """Unit directions (rows) found from ``x`` alone, without any label."""
    pca = PCA(n_components=min(params.components, *x.shape), random_state=seed).fit(x)
    if params.direction == "pca":
        return pca.components_
    centres = KMeans(2, n_init=10, random_state=seed).fit(pca.transform(x)).cluster_centers_
    axis = pca.inverse_transform(centres[1:]) - pca.inverse_transform(centres[:1])
    return axis / np.linalg.norm(axis).clip(min=1e-12)


def elicit_direction(x: np.ndarray, weak: np.ndarray, params: ElicitParams, seed: int
                     ) -> np.ndarray:
    """The candidate direction most correlated with the weak labels, signed to agree."""
    directions = candidate_directions(x, params, seed)
    projections = x @ directions.T
    weak = np.asarray(weak, np.float64)
    if np.ptp(weak) == 0:
        raise ValueError("the weak labels are constant: they cannot orient a direction")
    corr = np.array([np.corrcoef(p, weak)[0, 1] if np.ptp(p) > 0 else 0.0
                     for p in projections.T])
    best = int(np.argmax(np.abs(corr)))
    return directions[best] * np.sign(corr[best] or 1.0)


def elicited_labels(features: dict[str, np.ndarray], weak: np.ndarray, params: ElicitParams,
                    seed: int) -> dict[str, np.ndarray]:
    """P(y=1) on pool and val from the elicited direction, calibrated on the weak labels."""
    # Centred, not standardised: per-feature scaling would reshape the very variance the
    # principal directions are read from (the 1-D calibration below sets the scale).
    mean = features["pool"].mean(0)
    x = {s: features[s] - mean for s in ("pool", "val")}
    direction = elicit_direction(x["pool"], weak, params, seed)
    projection = {s: (v @ direction)[:, None] for s, v in x.items()}
    calibration = logistic(projection["pool"], weak, c=1.0)
    return {s: calibration.predict_proba(p)[:, 1] for s, p in projection.items()}


@register
class Elicit(Method):
    name = "elicit"
    description = "label-free direction of strong features (PCA or k-means), signed by weak labels"
    Params = ElicitParams
    published_setting = (
        "CCS and the automated researcher's top method used contrast pairs in the "
        "hidden states of multi-billion-parameter LLMs, where truth is a salient "
        "direction; public replications at GPT-2 scale found it weak, and a sentence "
        "encoder's top principal directions need not be sentiment")

    def relabel(self, ctx: StudentContext) -> dict[str, np.ndarray]:
        features = {s: f for s, f in strong_features(ctx).items() if s in ("pool", "val")}
        elicited = elicited_labels(features, ctx.weak["pool"], ctx.params, ctx.experiment.seed)
        mix = ctx.params.mix
        return {s: mix * elicited[s] + (1 - mix) * ctx.weak[s] for s in ("pool", "val")}
