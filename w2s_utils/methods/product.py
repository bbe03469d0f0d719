"""Product loss (Burns et al. 2023): train towards p_weak^alpha · p_student^beta."""

from pydantic import BaseModel, ConfigDict, Field

from .. import losses
from ..train import Loss
from .base import Method, StudentContext, register


class ProductParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    alpha: float = Field(1.0, ge=0)  # exponent of the weak label
    beta: float = Field(1.0, ge=0)  # exponent of the student's own prediction


@register
class Product(Method):
    name = "product"
    description = "xent towards the normalised product of weak and student probabilities"
    Params = ProductParams

    def loss(self, ctx: StudentContext) -> Loss:
        return losses.product(ctx.params.alpha, ctx.params.beta)
