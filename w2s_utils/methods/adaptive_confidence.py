"""Adaptive confidence: each example's target mixes the weak soft label with the student's
own hardened prediction, in proportion to how sure each of the two is.

A simpler relative of ``logconf``: instead of one coefficient for the whole batch (and
hardening at the weak positive rate), the share of the student's own label on example i
is c · s_i / (s_i + w_i), where s_i = |2·p_student − 1| and w_i = |2·p_weak − 1| are the
two confidences and c ramps from 0 to ``max_coef``. A student that is unsure defers to
the weak label; a weak label near 0.5 gives way to a confident student.
"""

import torch
from pydantic import BaseModel, ConfigDict, Field

from .. import losses
from ..train import Loss
from .base import Method, StudentContext, register


class AdaptiveConfidenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_coef: float = Field(1.0, ge=0, le=1)  # the student's largest possible share
    warmup_frac: float = Field(0.2, ge=0, le=1)  # share of training over which c ramps up


def adaptive_targets(logits: torch.Tensor, weak: torch.Tensor, coef: float) -> torch.Tensor:
    """(1 − a) · weak + a · hardened student, a = coef · s / (s + w) per example."""
    student = torch.softmax(logits.detach().float(), dim=-1)[:, 1]
    sure_student, sure_weak = (2 * student - 1).abs(), (2 * weak - 1).abs()
    total = sure_student + sure_weak
    share = coef * torch.where(total > 0, sure_student / total.clamp(min=1e-12), 0.0)
    return (1 - share) * weak + share * (student > 0.5).float()


def adaptive_confidence(max_coef: float = 1.0, warmup_frac: float = 0.2) -> Loss:
    def loss(logits: torch.Tensor, targets: torch.Tensor, progress: float = 0.0):
        coef = losses.logconf_coefficient(progress, max_coef, warmup_frac)
        return losses.xent(logits, adaptive_targets(logits, targets, coef))

    return loss


@register
class AdaptiveConfidence(Method):
    name = "adaptive_confidence"
    description = "xent towards a per-example mix of weak label and hardened student, by confidence"
    Params = AdaptiveConfidenceParams
    published_setting = (
        "its parent, logconf, helped for large weak-strong gaps (GPT-2 → GPT-4 scale, "
        "Burns et al. 2023); public replications at GPT-2/Pythia scale, whose gaps are "
        "closer to ours, found it neutral or harmful")

    def loss(self, ctx: StudentContext) -> Loss:
        return adaptive_confidence(ctx.params.max_coef, ctx.params.warmup_frac)
