"""Weak ensemble: average several weak supervisors' soft labels before training.

Independent weak models make partly independent mistakes, so their average is a
better teacher than any one. Each extra weak model is a probe trained on the
``weak_train`` ground truth only, exactly like the experiment's own weak model.
"""

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..names import ModelName
from .base import Method, StudentContext, register


class WeakEnsembleParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weak_models: tuple[ModelName, ...] = ("tfidf-logreg", "static64")  # with the weak model


@register
class WeakEnsemble(Method):
    name = "weak_ensemble"
    description = "mean soft label of the weak model and extra weak probes (pool and val)"
    Params = WeakEnsembleParams
    trains_weak_models = True

    def relabel(self, ctx: StudentContext) -> dict[str, np.ndarray]:
        from ..pipeline import weak_labels

        exp = ctx.experiment
        extra = [m for m in dict.fromkeys(ctx.params.weak_models) if m != exp.weak_model]
        members = [ctx.weak] + [
            weak_labels(exp.with_(weak_model=m), ctx.store, progress=ctx.progress)["probs"]
            for m in extra
        ]
        return {s: np.mean([m[s] for m in members], axis=0) for s in ("pool", "val")}
