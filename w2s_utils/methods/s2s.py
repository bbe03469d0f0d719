"""Strong-to-strong relabelling (EleutherAI w2s): the student becomes its own teacher.

After training on weak labels the student relabels pool and val with its predictions
and a fresh student trains on those, ``rounds`` times. A student that already fixed
some weak errors passes the fixes on without the remaining weak noise. In the
linear_probe regime soft relabels are close to a fixed point (a probe fitted to its
own probabilities recovers itself); ``hard=True`` makes it self-training.
"""

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..train import TrainResult
from .base import Method, StudentContext, register


class S2SParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rounds: int = Field(2, ge=1)  # relabel-and-retrain rounds after the first fit
    hard: bool = False  # relabel with the thresholded prediction instead of P(y=1)


@register
class StrongToStrong(Method):
    name = "s2s"
    description = "train on weak labels, then relabel pool/val with the student and retrain"
    Params = S2SParams

    def run(self, ctx: StudentContext) -> TrainResult:
        result = ctx.fit(ctx.weak["pool"], desc="s2s round 0")
        for round_ in range(1, ctx.params.rounds + 1):
            labels = ctx.learner.predict(result, ("pool", "val"))
            if ctx.params.hard:
                labels = {s: (p > 0.5).astype(np.float32) for s, p in labels.items()}
            result = ctx.fit(labels["pool"], val_targets=labels["val"], seed_offset=round_,
                             desc=f"s2s round {round_}")
        return result
