"""Naive W2S: train the strong model on the weak model's soft labels (Burns et al.)."""

import numpy as np
from pydantic import BaseModel, ConfigDict

from .base import Method, StudentContext, register


class NaiveParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    hard: bool = False  # threshold the weak labels at 0.5 instead of using P(y=1)


@register
class Naive(Method):
    name = "naive"
    description = "cross-entropy against the weak soft labels (hard=True: thresholded)"
    Params = NaiveParams

    def targets(self, ctx: StudentContext) -> np.ndarray:
        weak = ctx.weak["pool"]
        return (weak > 0.5).astype(np.float32) if ctx.params.hard else weak
