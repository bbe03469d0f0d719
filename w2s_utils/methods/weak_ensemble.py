"""Weak ensemble: average several weak supervisors' soft labels before training.

Independent weak models make partly independent mistakes, so their average is a
better teacher than any one. Each extra weak model is a probe trained on the
``weak_train`` ground truth only, exactly like the experiment's own weak model.
"""

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..names import ModelName
from .base import Method, register


class WeakEnsembleParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weak_models: tuple[ModelName, ...] = ("tfidf-logreg", "static64")  # with the weak model


@register
class WeakEnsemble(Method):
    name = "weak_ensemble"
    description = "mean soft label of the weak model and extra weak probes (a new supervisor)"
    Params = WeakEnsembleParams

    def supervisor(self, params, weak_probs):
        models = dict.fromkeys([weak_probs.weak_model, *params.weak_models])
        members = [weak_probs(m) for m in models]
        return {s: np.mean([m[s] for m in members], axis=0) for s in members[0]}
