"""Bootstrapping (Burns et al. 2023): climb the ladder through an intermediate model.

A weak → strong gap may be too wide to cross at once; a mid-sized model trained on the
weak labels can correct some of them, and its labels then supervise the strong model.
"""

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator

from ..models import get_model
from ..train import TrainResult
from .base import Method, StudentContext, register


class BootstrapParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    intermediate: str = "minilm-l3"  # linear probe on this model's features

    @field_validator("intermediate")
    @classmethod
    def _known_model(cls, value: str) -> str:
        get_model(value)
        return value


@register
class Bootstrap(Method):
    name = "bootstrap"
    description = "weak → intermediate linear probe → strong; the intermediate relabels pool/val"
    Params = BootstrapParams

    def run(self, ctx: StudentContext) -> TrainResult:
        labels = self.intermediate_labels(ctx)
        return ctx.fit(labels["pool"], val_targets=labels["val"])

    def intermediate_labels(self, ctx: StudentContext) -> dict[str, np.ndarray]:
        """The intermediate probe's P(y=1) on pool and val, trained on the weak labels."""
        learner = ctx.learner_for(ctx.params.intermediate)
        result = ctx.fit(ctx.weak["pool"], learner=learner, desc="intermediate")
        return learner.predict(result, ("pool", "val"))
