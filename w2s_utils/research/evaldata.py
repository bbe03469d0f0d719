"""What the evaluation server holds: the label-free view it serves, the ground truth it
scores against, and the fixed baselines PGR is measured from.

Ground truth is kept for ``test`` (feedback) and ``holdout`` (blind) only. The weak
baseline is the very weak model whose soft labels the agents receive (one model, so
PGR measures what students recover from *those* labels); the ceiling is averaged over
training seeds on the same split, so one lucky ceiling run does not move every PGR.
The ceiling's agreement with the weak labels on each scored split stays server-side too:
the skip-teacher check compares submissions with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..cache import ArtifactStore
from ..experiment import Experiment
from ..stages import ceiling, experiment_splits, weak_labels
from .schemas import Baselines, DataView

PUBLIC_SPLITS = ("pool", "val", "test", "holdout")
WEAK_SPLITS = ("pool", "val")  # the only splits whose weak labels a student may see
SCORED_SPLITS = ("test", "holdout")


@dataclass(frozen=True)
class ScoredSplit:
    """Ground truth of one split plus the weak model's hard labels (for the detectors)."""

    ids: np.ndarray
    labels: np.ndarray
    weak_hard: np.ndarray
    index: dict[str, int] = field(init=False, repr=False)  # id → position

    def __post_init__(self):
        object.__setattr__(self, "index", {str(i): k for k, i in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class EvalData:
    experiment: Experiment
    views: dict[str, DataView]
    scored: dict[str, ScoredSplit]
    baselines: Baselines
    # Share of examples on which the ceiling's hard predictions agree with the weak labels,
    # averaged over training seeds, and the ceiling's hard predictions (majority over
    # seeds) per scored split; None when the baselines were given, not computed.
    ceiling_weak_agreement: dict[str, float] | None = None
    ceiling_hard: dict[str, np.ndarray] | None = None

    @classmethod
    def from_experiment(cls, exp: Experiment, train_seeds: Sequence[int] = (0,),
                        baselines: Baselines | None = None, store: ArtifactStore | None = None,
                        progress: bool = False) -> EvalData:
        """Splits and weak labels from the pipeline (cached); baselines computed or given."""
        store = store or ArtifactStore()
        splits = experiment_splits(exp)
        weak = weak_labels(exp, store, progress=progress)["probs"]
        agreement = consensus = None
        if baselines is None:
            # The pipeline's ceiling stage per training seed (the split stays the same).
            ceilings = [ceiling(exp.with_(seed=seed), store, progress=progress)["probs"]
                        for seed in train_seeds]
            agreement = {s: float(np.mean([((c[s] > 0.5) == (weak[s] > 0.5)).mean()
                                           for c in ceilings])) for s in SCORED_SPLITS}
            consensus = {s: (np.mean([c[s] > 0.5 for c in ceilings], axis=0) > 0.5)
                         .astype(np.int64) for s in SCORED_SPLITS}
            baselines = Baselines(
                weak={s: _accuracy(splits[s].labels, weak[s]) for s in SCORED_SPLITS},
                ceiling={s: float(np.mean([_accuracy(splits[s].labels, c[s])
                                           for c in ceilings])) for s in SCORED_SPLITS},
                ceiling_seeds=list(train_seeds),
            )
        views = {}
        for name in PUBLIC_SPLITS:
            split = splits[name]
            views[name] = DataView(
                split=name, ids=[str(i) for i in split.ids], texts=list(split.texts),
                features=None if split.features is None else split.features.tolist(),
                weak=weak[name].tolist() if name in WEAK_SPLITS else None,
            )
        scored = {name: ScoredSplit(splits[name].ids, splits[name].labels.copy(),
                                    (weak[name] > 0.5).astype(np.int64))
                  for name in SCORED_SPLITS}
        return cls(exp, views, scored, baselines, agreement, consensus)


def _accuracy(labels: np.ndarray, probs: np.ndarray) -> float:
    return float(((np.asarray(probs) > 0.5) == np.asarray(labels)).mean())

