"""Learned weights over several weak supervisors, trained jointly with the student
(after RAVEN, NeurIPS 2025, and EnsemW2S, 2024).

``weak_ensemble`` averages its supervisors with fixed, equal weights. Here the weights α
(on the simplex) and the student are fitted to one objective,

    J(θ, α) = xent(student_θ, Σ_k α_k · weak_k) − T · H(α),

by alternating: the student is fitted to the current mixture, then α takes its exact
minimiser for that student, α_k ∝ exp(−L_k / T), where L_k is the student's
cross-entropy against supervisor k on ``val`` (held out from the student's training, so
a student that memorised its targets does not vote for them). The strong model's
features thus decide which supervisor to trust: labels it can express well get weight.

The method builds its teacher from weak models only, so it is scored against the
fixed-weight average of the same supervisors (what ``weak_ensemble`` trains on): its PGR
is the gain that learning the weights with the student adds beyond that teacher.
"""

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..names import ModelName
from ..train import TrainResult, binary_cross_entropy
from .base import Method, StudentContext, register


class LearnedEnsembleParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weak_models: tuple[ModelName, ...] = ("tfidf-logreg", "static64")  # with the weak model
    rounds: int = Field(3, ge=1)  # student fits; weights are updated after all but the last
    temperature: float = Field(0.05, gt=0)  # T: lower trusts the best-fitting supervisor more


def members(params: LearnedEnsembleParams, weak_probs) -> list[dict[str, np.ndarray]]:
    """Each distinct supervisor's soft labels per split, the experiment's weak model first."""
    return [weak_probs(m) for m in dict.fromkeys([weak_probs.weak_model, *params.weak_models])]


def mixture(supervisors: list[dict[str, np.ndarray]], weights: np.ndarray
            ) -> dict[str, np.ndarray]:
    return {s: np.tensordot(weights, [m[s] for m in supervisors], axes=1)
            for s in supervisors[0]}


def ensemble_weights(student: np.ndarray, supervisors: list[np.ndarray], temperature: float
                     ) -> np.ndarray:
    """argmin over the simplex of Σ α_k L_k − T·H(α): a softmax of −L_k / T."""
    losses = np.array([binary_cross_entropy(student, labels) for labels in supervisors])
    logits = -(losses - losses.min()) / temperature
    return np.exp(logits) / np.exp(logits).sum()


def fit_jointly(ctx: StudentContext, supervisors: list[dict[str, np.ndarray]]
                ) -> tuple[TrainResult, np.ndarray]:
    """Alternate student fits and weight updates; the last student and its weights."""
    weights = np.full(len(supervisors), 1 / len(supervisors))
    for round_ in range(ctx.params.rounds):
        labels = mixture(supervisors, weights)
        result = ctx.fit(labels["pool"], val_targets=labels["val"], seed_offset=round_,
                         desc=f"ensemble round {round_}")
        if round_ < ctx.params.rounds - 1:
            student = ctx.learner.predict(result, ("val",))["val"]
            weights = ensemble_weights(student, [m["val"] for m in supervisors],
                                       ctx.params.temperature)
    return result, weights


@register
class LearnedEnsemble(Method):
    name = "learned_ensemble"
    description = "weak supervisors weighted by weights learned jointly with the student"
    Params = LearnedEnsembleParams
    published_setting = (
        "RAVEN (NeurIPS 2025) and EnsemW2S (2024) combined several LLM supervisors of "
        "different families, whose errors differ, and learned the weights with the "
        "student by gradient; our default supervisors are two small probes (TF-IDF and "
        "static embeddings) trained on the same weak_train examples")

    def supervisor(self, params, weak_probs):
        """Scored against the equal-weight average of the same supervisors."""
        supervisors = members(params, weak_probs)
        return mixture(supervisors, np.full(len(supervisors), 1 / len(supervisors)))

    def run(self, ctx: StudentContext) -> TrainResult:
        if ctx.weak_supervisor is None:
            raise ValueError("learned_ensemble needs other weak supervisors (weak_supervisor)")
        return fit_jointly(ctx, members(ctx.params, ctx.weak_supervisor))[0]
