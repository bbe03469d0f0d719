"""Window (EleutherAI w2s): train only where the student itself is still uncertain.

Design: a per-batch mask in the loss, judged by the *current* student, rather than a
second fit on examples a first student found hard. One training run, no extra model,
and an example drops out the moment the student is confident about it — which is when
its weak label could only teach the student the weak model's mistakes.
"""

from pydantic import BaseModel, ConfigDict, Field

from .. import losses
from ..train import Loss
from .base import Method, StudentContext, register


class WindowParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    radius: float = Field(0.2, gt=0, le=0.5)  # train where |P_student(y=1) - 0.5| < radius


@register
class Window(Method):
    name = "window"
    description = "xent only on examples whose student probability is within radius of 0.5"
    Params = WindowParams

    def loss(self, ctx: StudentContext) -> Loss:
        return losses.window(ctx.params.radius)
