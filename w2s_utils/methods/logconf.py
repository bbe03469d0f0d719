"""Auxiliary confidence loss (Burns et al. 2023): the student may overrule weak labels."""

from pydantic import BaseModel, ConfigDict, Field

from .. import losses
from ..train import Loss
from .base import Method, StudentContext, register


class LogconfParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_coef: float = Field(0.5, ge=0, le=1)  # weight of the hardened student predictions
    warmup_frac: float = Field(0.2, ge=0, le=1)  # share of training over which it ramps up


@register
class Logconf(Method):
    name = "logconf"
    description = "xent towards (1-c)·weak + c·(student hardened at the weak positive rate)"
    Params = LogconfParams

    def loss(self, ctx: StudentContext) -> Loss:
        return losses.logconf(ctx.params.max_coef, ctx.params.warmup_frac)
