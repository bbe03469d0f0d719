"""Student losses: Burns et al.'s ``xent``, ``logconf`` and ``product``, and a ``window``.

Every loss has the training loop's signature: (logits (b, 2), targets P(y=1) (b,),
training progress in [0, 1]) → per-example loss (b,). Factories take the
hyperparameters and return such a function. Targets built from the student's own
predictions are detached, so the student is pulled towards them and never the reverse.
"""

from __future__ import annotations

import torch

from .train import Loss, soft_cross_entropy

xent: Loss = soft_cross_entropy
"""Cross-entropy against the weak soft labels: the naive baseline every loss reduces to."""


def _student_probs(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits.detach().float(), dim=-1)[:, 1]


def harden_at_rate(probs: torch.Tensor, positive_rate: float | torch.Tensor) -> torch.Tensor:
    """1 for the ``round(rate * b)`` most positive examples of the batch, else 0.

    This is thresholding at the batch's (1 - rate) quantile, done by ranking so that ties
    cannot move the hardened positive rate away from the weak labels' rate.
    """
    k = int(float(positive_rate) * len(probs) + 0.5)
    hard = torch.zeros_like(probs)
    hard[torch.argsort(probs, descending=True, stable=True)[:k]] = 1.0
    return hard


def logconf_coefficient(progress: float, max_coef: float, warmup_frac: float) -> float:
    """Weight of the student's own hardened predictions: a linear ramp, then flat."""
    if warmup_frac <= 0:
        return max_coef
    return max_coef * min(1.0, progress / warmup_frac)


def logconf_targets(logits: torch.Tensor, targets: torch.Tensor, coef: float) -> torch.Tensor:
    """(1 - c) · weak + c · hardened student, hardened at the batch's weak positive rate."""
    hardened = harden_at_rate(_student_probs(logits), targets.mean())
    return (1 - coef) * targets + coef * hardened


def logconf(max_coef: float = 0.5, warmup_frac: float = 0.2) -> Loss:
    """Auxiliary confidence loss: lets a confident student overrule the weak labels.

    The coefficient starts at 0 (plain ``xent``) so the student first learns the weak
    signal before it is allowed to trust itself.
    """

    def loss(logits: torch.Tensor, targets: torch.Tensor, progress: float = 0.0):
        coef = logconf_coefficient(progress, max_coef, warmup_frac)
        return xent(logits, logconf_targets(logits, targets, coef))

    return loss


def product_targets(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 1.0,
                    beta: float = 1.0) -> torch.Tensor:
    """P(y=1) of p_weak^alpha · p_student^beta, normalised over the two classes.

    Computed in log space; ``xlogy`` keeps alpha = 0 with a hard weak label finite.
    """
    weak = torch.stack([1 - targets, targets], dim=-1).float()
    student = torch.log_softmax(logits.detach().float(), dim=-1)
    return torch.softmax(torch.xlogy(alpha, weak) + beta * student, dim=-1)[:, 1]


def product(alpha: float = 1.0, beta: float = 1.0) -> Loss:
    """Product-of-experts target: weak and student must agree for a confident target."""

    def loss(logits: torch.Tensor, targets: torch.Tensor, progress: float = 0.0):
        return xent(logits, product_targets(logits, targets, alpha, beta))

    return loss


def window(radius: float = 0.2) -> Loss:
    """``xent`` only where the student is still unsure: |P(y=1) - 0.5| < radius.

    Examples the student has become confident about stop pulling it towards their weak
    labels, so it cannot go on to memorise the weak model's mistakes. The zero-initialised
    head predicts 0.5 everywhere, so training starts on every example.
    """

    def loss(logits: torch.Tensor, targets: torch.Tensor, progress: float = 0.0):
        unsure = (_student_probs(logits) - 0.5).abs() < radius
        return xent(logits, targets) * unsure

    return loss
