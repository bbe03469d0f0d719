"""The method interface and registry (see ``naive.py`` for the smallest example)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from ..registry import Registry
from ..train import Loss, TrainResult, soft_cross_entropy

if TYPE_CHECKING:
    from ..pipeline import Experiment, Learner
    from ..tasks import TaskSplits


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class StudentContext:
    """What a method may see: label-free splits, weak soft labels and the strong learner.

    Ground truth never appears here: ``weak`` holds the weak model's P(y=1) on
    ``pool`` and ``val``, and selection uses the weak-labelled ``val``.
    """

    experiment: Experiment
    splits: TaskSplits
    weak: dict[str, np.ndarray]
    learner: Learner
    params: Any
    store: Any = None  # the ArtifactStore of the run, for methods that reuse other stages
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
        from ..pipeline import Learner

        return Learner(model, "linear_probe", self.splits, self.experiment.probe,
                       progress=self.progress)


class Method:
    """Override only what differs from naive soft-label training."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    regimes: ClassVar[tuple[str, ...]] = ("linear_probe", "finetune")
    Params: ClassVar[type[BaseModel]] = NoParams
    # True when the method trains extra weak supervisors on ``weak_train`` ground truth:
    # legitimate for the weak side, but impossible for an agent that only holds labels-free data.
    trains_weak_models: ClassVar[bool] = False

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
        if labels is None:
            labels = {"pool": self.targets(ctx), "val": None}
        return ctx.fit(labels["pool"], val_targets=labels["val"], loss=self.loss(ctx),
                       weights=self.weights(ctx), subset=self.subset(ctx))


METHODS: Registry[type[Method]] = Registry("method")


def register(cls: type[Method], *, replace: bool = False) -> type[Method]:
    """Class decorator: make a method available by its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name`")
    METHODS.add(cls.name, cls, replace=replace)
    return cls


def get_method(name: str) -> type[Method]:
    return METHODS.get(name)
