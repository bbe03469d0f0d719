"""Exercise 3 (``e3_method_plugin``): a method plug-in that weights pool examples by the
weak labels' confidence and changes nothing else."""

from __future__ import annotations

import numpy as np

from .common import WrongAnswer, close, passed, run_answer


def check_confidence_weights(method_class: type) -> None:
    """A ``Method`` plug-in whose ``weights`` are the weak labels' confidence
    |2p − 1| raised to ``Params.power``."""
    from ..methods.base import METHODS, Method

    if not (isinstance(method_class, type) and issubclass(method_class, Method)):
        raise WrongAnswer("Pass the class itself (not an instance), a subclass of "
                          "w2s_utils.methods.base.Method.")
    if not method_class.name:
        raise WrongAnswer("Give the class a `name` (the string experiments use).")
    if method_class.name not in METHODS or METHODS.get(method_class.name) is not method_class:
        raise WrongAnswer(f"Decorate the class with @register so experiments find it by its "
                          f"name {method_class.name!r} (rerunning the cell replaces it).")
    overridden = [h for h in ("targets", "relabel", "subset", "loss", "run")
                  if getattr(method_class, h) is not getattr(Method, h)]
    if overridden:
        raise WrongAnswer(f"Override only `weights`: you also changed {overridden}, and a "
                          "plug-in states only what differs from naive training.")
    if "power" not in method_class.Params.model_fields:
        raise WrongAnswer("Params needs a field `power` (a float, default 1.0).")
    probs = np.array([0.02, 0.3, 0.5, 0.62, 0.97, 0.81])
    for power in (1.0, 2.0):
        ctx = _WeightsContext(probs, method_class.Params(power=power))
        got = run_answer(method_class().weights, ctx)
        right = np.abs(2 * probs - 1) ** power
        if got is None:
            raise WrongAnswer("weights returned None, which means equal weights.")
        got = np.asarray(got, float)
        if got.shape != probs.shape:
            raise WrongAnswer(f"Return one weight per pool example: shape {probs.shape}, "
                              f"not {got.shape}.")
        if close(got, right, 1e-6):
            continue
        if close(got, probs ** power, 1e-6):
            raise WrongAnswer("You weighted by P(y=1): that favours examples labelled "
                              "positive. Confidence is symmetric: |2p − 1| is 1 at p = 0 and "
                              "p = 1, and 0 at p = 0.5.")
        if close(got, (1 - np.abs(2 * probs - 1)) ** power, 1e-6):
            raise WrongAnswer("Your weights are largest where the weak model is least sure "
                              "(p near 0.5): invert them, |2p − 1|.")
        if close(got, np.abs(2 * probs - 1), 1e-6):
            raise WrongAnswer("Your weights ignore Params.power: read it from "
                              "ctx.params.power.")
        raise WrongAnswer(f"For weak probabilities {probs} and power {power} expected "
                          f"{np.round(right, 4)}, got {np.round(got, 4)}.")
    passed(method_class.__name__, "Weights from weak confidence, nothing else changed.")


class _WeightsContext:
    """The parts of a StudentContext that ``weights`` may read."""

    def __init__(self, probs, params):
        self.weak = {"pool": probs.copy(), "val": probs.copy()}
        self.params = params

