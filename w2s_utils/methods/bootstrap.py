"""Bootstrapping (Burns et al. 2023): climb the ladder through an intermediate model.

A weak → strong gap may be too wide to cross at once; a mid-sized model trained on the
weak labels can correct some of them, and its labels then supervise the strong model.
"""

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..names import ModelName
from .base import Method, StudentContext, register


class BootstrapParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    intermediate: ModelName = "minilm-l3"  # linear probe on this model's features


@register
class Bootstrap(Method):
    name = "bootstrap"
    description = "weak → intermediate linear probe → strong; the intermediate relabels pool/val"
    Params = BootstrapParams

    def relabel(self, ctx: StudentContext) -> dict[str, np.ndarray]:
        """The intermediate probe's P(y=1) on pool and val, trained on the weak labels."""
        learner = ctx.learner_for(ctx.params.intermediate)
        result = ctx.fit(ctx.weak["pool"], learner=learner, desc="intermediate")
        return learner.predict(result, ("pool", "val"))
