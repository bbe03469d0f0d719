"""The method interface and registry (see ``naive.py`` for the smallest example)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..learner import Learner
from ..registry import Registry
from ..tasks import TaskSplits
from ..train import Loss, TrainResult, soft_cross_entropy

if TYPE_CHECKING:  # annotations only: an experiment validates its method by this registry
    from ..experiment import Experiment


def method_regime(regime: str) -> str:
    """The regime a method declares support for: LoRA trains the trunk like fine-tuning."""
    return "finetune" if regime == "lora" else regime


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StudentContext:
    """What a method may see: label-free splits, weak soft labels and the strong learner.

    Ground truth never appears here (a test walks every object reachable from a
    context): ``splits`` hold -1 for every label, ``weak`` holds the weak model's P(y=1)
    on ``pool`` and ``val``, selection uses the weak-labelled ``val``, and
    ``weak_supervisor(model)`` gives another weak model's soft labels on those splits.
    """

    experiment: Experiment
    splits: TaskSplits
    weak: dict[str, np.ndarray]
    learner: Learner
    params: Any
    weak_supervisor: Callable[[str], dict[str, np.ndarray]] | None = None
    progress: bool = True
    extras: dict = field(default_factory=dict)

    def fit(
        self,
        targets: np.ndarray,
        *,
        loss: Loss = soft_cross_entropy,
        weights: np.ndarray | None = None,
        subset: np.ndarray | None = None,
        val_targets: np.ndarray | None = None,
        learner: Learner | None = None,
        seed_offset: int = 0,
        desc: str = "student",
    ) -> TrainResult:
        """Train a fresh strong model on ``pool`` (or ``subset`` of it) with ``targets``."""
        learner = learner or self.learner
        return learner.fit(
            targets,
            val_targets=self.weak["val"] if val_targets is None else val_targets,
            loss=loss,
            weights=weights,
            subset=subset,
            seed=self.experiment.seed + seed_offset,
            progress=self.progress,
            desc=desc,
        )

    def learner_for(self, model: str) -> Learner:
        """A linear probe on another model's frozen features, on the same splits."""
        return Learner(model, "linear_probe", self.splits, self.experiment.probe,
                       progress=self.progress)


class Method:
    """Override only what differs from naive soft-label training."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Where the method was reported to help, for notebooks to cite when it does not here.
    published_setting: ClassVar[str] = ""
    regimes: ClassVar[tuple[str, ...]] = ("linear_probe", "finetune")
    Params: ClassVar[type[BaseModel]] = NoParams

    def supervisor(self, params: Any, weak_probs: Callable[[str], dict[str, np.ndarray]]
                   ) -> dict[str, np.ndarray] | None:
        """A new supervisor built from weak models only (``weak_probs(model)`` gives a weak
        probe's soft labels per split; ``weak_probs.weak_model`` is the experiment's), or
        None to keep the experiment's weak model.

        A method that changes the supervisor is scored against it: its PGR is measured
        from the new supervisor's accuracy, so a better teacher is not counted as
        weak-to-strong gain, and verdict tables mark it.
        """
        return None

    @classmethod
    def changes_supervisor(cls) -> bool:
        return cls.supervisor is not Method.supervisor

    def loss(self, ctx: StudentContext) -> Loss:
        return soft_cross_entropy

    def relabel(self, ctx: StudentContext) -> dict[str, np.ndarray] | None:
        """New soft labels for ``pool`` (the targets) and ``val`` (checkpoint selection),
        for methods that replace the weak labels; None keeps them."""
        return None

    def targets(self, ctx: StudentContext) -> np.ndarray:
        return ctx.weak["pool"]

    def weights(self, ctx: StudentContext) -> np.ndarray | None:
        return None

    def subset(self, ctx: StudentContext) -> np.ndarray | None:
        return None

    def run(self, ctx: StudentContext) -> TrainResult:
        labels = self.relabel(ctx)
        if labels is None and ctx.weak_supervisor is not None:
            labels = self.supervisor(ctx.params, ctx.weak_supervisor)
        if labels is None:
            labels = {"pool": self.targets(ctx), "val": None}
        return ctx.fit(labels["pool"], val_targets=labels["val"], loss=self.loss(ctx),
                       weights=self.weights(ctx), subset=self.subset(ctx))


METHODS: Registry[type[Method]] = Registry("method")


def register(cls: type[Method], *, replace: bool = False) -> type[Method]:
    """Class decorator: make a method available by its ``name``. Defining the same class
    again (rerunning its notebook cell) replaces it; another class may not take the name."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name`")
    before = METHODS.get(cls.name) if cls.name in METHODS else None
    redefined = before is not None and (before.__module__, before.__qualname__) == (
        cls.__module__, cls.__qualname__)
    METHODS.add(cls.name, cls, replace=replace or redefined)
    return cls


def get_method(name: str) -> type[Method]:
    return METHODS.get(name)
