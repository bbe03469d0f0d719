"""Confident-label filtering: train only on the pool examples the weak model is sure of.

The weak model's confident labels are its most accurate ones; dropping the rest trades
data for label quality (a baseline of the automated W2S researcher).
"""

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .base import Method, StudentContext, register


class ConfidentFilterParams(BaseModel):
    """Keep the ``keep_frac`` most confident examples, or those at or above ``threshold``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keep_frac: float | None = Field(0.5, gt=0, le=1)
    threshold: float | None = Field(None, ge=0, le=1)  # on confidence |p - 0.5| * 2

    @model_validator(mode="before")
    @classmethod
    def _threshold_replaces_default(cls, data):
        if isinstance(data, dict) and "threshold" in data and "keep_frac" not in data:
            data = {**data, "keep_frac": None}
        return data

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.keep_frac is None) == (self.threshold is None):
            raise ValueError("give exactly one of keep_frac and threshold")
        return self


@register
class ConfidentFilter(Method):
    name = "confident_filter"
    description = "train on the pool examples with the most confident weak labels"
    Params = ConfidentFilterParams

    def subset(self, ctx: StudentContext) -> np.ndarray:
        confidence = np.abs(ctx.weak["pool"] - 0.5) * 2
        if ctx.params.threshold is not None:
            return np.flatnonzero(confidence >= ctx.params.threshold)
        keep = max(1, round(ctx.params.keep_frac * len(confidence)))
        return np.sort(np.argsort(-confidence, kind="stable")[:keep])
