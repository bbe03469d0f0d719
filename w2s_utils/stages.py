"""The cached stages of an experiment: weak labels → ceiling → student.

Each stage is an artifact keyed by everything that determines it: its config and the
source of the code that computes it (``code_keys``), so notebooks share work, a rerun
with a warm cache trains nothing, and editing a plot or a notebook helper retrains
nothing.
"""

from __future__ import annotations

import time
from functools import lru_cache

import numpy as np

from .cache import ArtifactStore, stage_key
from .code_keys import method_code, source_code, stage_code
from .experiment import Experiment
from .learner import PREDICTED_SPLITS, Learner
from .lm_head import zero_shot_probs
from .lora import adapter_state
from .methods import StudentContext
from .models import get_model
from .splits import SplitSizes, make_splits
from .tasks import TaskSplits, get_task
from .train import TrainResult


@lru_cache(maxsize=8)
def _splits(task: str, sizes: SplitSizes, split_seed: int, balanced: bool,
            data_version: str) -> TaskSplits:
    return make_splits(task, sizes.model_dump(), split_seed=split_seed, balanced=balanced)


def experiment_splits(exp: Experiment) -> TaskSplits:
    """The experiment's splits, ground truth included: for weak, ceiling and scoring code,
    never for a student (``student`` hands methods ``without_labels()``)."""
    return _splits(exp.task, exp.sizes, exp.split_seed, exp.balanced,
                   get_task(exp.task).data_version())


def _data_config(exp: Experiment) -> dict:
    """What determines the data of a stage: the draw, the version of the task's source
    code and, for a user's files, their digest (an edited file is never served from the
    old file's artifacts)."""
    task = get_task(exp.task)
    config = {"task": exp.task, "sizes": exp.sizes.model_dump(), "balanced": exp.balanced,
              "split_seed": exp.split_seed, "seed": exp.seed,
              "source": source_code(task.source)}
    version = task.data_version()
    return {**config, "data_version": version} if version else config


def weak_key(exp: Experiment) -> str:
    zero_shot = ({"weak_regime": "zero_shot", "prompt": exp.lm_prompt.model_dump()}
                 if exp.weak_regime == "zero_shot" else {})
    return stage_key("weak", {**_data_config(exp), "model": exp.weak_model,
                              "train": exp.probe.model_dump(), **zero_shot})


def _strong_options(exp: Experiment) -> dict:
    """The strong learner's settings beyond its training config (only those it uses)."""
    options = {"lora": exp.lora.model_dump()} if exp.regime == "lora" else {}
    if exp.head == "lm":
        options.update(head="lm", prompt=exp.lm_prompt.model_dump())
    return options


def strong_learner(exp: Experiment, splits: TaskSplits, progress: bool = True) -> Learner:
    """The strong model's learner for ceiling and student (same regime, head, adapters)."""
    return Learner(exp.strong_model, exp.regime, splits, exp.train_config, progress=progress,
                   head=exp.head, lora=exp.lora, prompt=exp.lm_prompt)


def ceiling_key(exp: Experiment) -> str:
    return stage_key("ceiling", {**_data_config(exp), "model": exp.strong_model,
                                 "regime": exp.regime,
                                 "train": exp.train_config.model_dump(),
                                 **_strong_options(exp)})


def student_key(exp: Experiment) -> str:
    return stage_key("student", {"weak": weak_key(exp), "ceiling": ceiling_key(exp),
                                 "method": exp.method, "method_params": exp.method_params},
                     code=stage_code() + method_code(exp.method_class))


def _artifact(result: TrainResult, predictions: dict, regime: str = "") -> dict:
    """A stage's record: predictions, training history and, for LoRA, the adapters (small,
    unlike a whole fine-tuned model) so the trained student can be rebuilt."""
    artifact = {"probs": predictions, "history": result.history,
                "best_step": result.best_step, "seconds": result.seconds,
                "device": result.device}
    if regime == "lora":
        artifact["adapter"] = adapter_state(result.model)
    return artifact


def weak_labels(exp: Experiment, store: ArtifactStore | None = None, force: bool = False,
                progress: bool = True) -> dict:
    """The weak supervisor: a linear probe on the weak model's features, trained on GT."""
    store = store or ArtifactStore()

    def compute():
        splits = experiment_splits(exp)
        if exp.weak_regime == "zero_shot":
            return _zero_shot(exp, splits)
        learner = Learner(exp.weak_model, "linear_probe", splits, exp.probe,
                          train_split="weak_train", progress=progress)
        result = learner.fit(splits["weak_train"].labels, val_targets=splits["val"].labels,
                             seed=exp.seed, progress=progress, desc="weak")
        return _artifact(result, learner.predict(result))

    return store.get_or_compute(weak_key(exp), compute, force)


def ceiling(exp: Experiment, store: ArtifactStore | None = None, force: bool = False,
            progress: bool = True) -> dict:
    """The strong model trained on the pool's ground truth: the top of the gap."""
    store = store or ArtifactStore()

    def compute():
        splits = experiment_splits(exp)
        learner = strong_learner(exp, splits, progress)
        result = learner.fit(splits["pool"].labels, val_targets=splits["val"].labels,
                             seed=exp.seed, progress=progress, desc="ceiling")
        return _artifact(result, learner.predict(result), exp.regime)

    return store.get_or_compute(ceiling_key(exp), compute, force)


def student(exp: Experiment, store: ArtifactStore | None = None, force: bool = False,
            progress: bool = True) -> dict:
    """The strong model trained on weak labels under ``exp.method``; no GT reaches it.

    The method's context is built from label-free splits, the weak model's soft labels on
    ``pool`` and ``val``, and a function for other weak supervisors' soft labels (trained
    on ``weak_train`` ground truth, the weak side's own data): no ground-truth label of
    any split, no ceiling output and no artifact store is reachable from it.
    """
    store = store or ArtifactStore()
    weak = weak_labels(exp, store, force, progress)

    def compute():
        learner = strong_learner(exp, experiment_splits(exp).without_labels(), progress)
        result = fit_student(exp, learner, {s: weak["probs"][s] for s in STUDENT_WEAK_SPLITS},
                             progress, WeakSupervisors(exp, store, progress, STUDENT_WEAK_SPLITS))
        return _artifact(result, learner.predict(result), exp.regime)

    return store.get_or_compute(student_key(exp), compute, force)


STUDENT_WEAK_SPLITS = ("pool", "val")


def fit_student(exp: Experiment, learner: Learner, weak: dict[str, np.ndarray],
                progress: bool = True, weak_supervisor: WeakSupervisors | None = None
                ) -> TrainResult:
    """``exp.method``'s student on ``learner``'s label-free splits and the weak soft labels
    on ``pool`` and ``val``: the one student path, for ``student`` and for the research
    agent (whose splits and weak labels come from the evaluation server)."""
    return exp.method_class().run(StudentContext(
        experiment=exp, splits=learner.splits, weak=weak, learner=learner,
        params=exp.method_config, progress=progress, weak_supervisor=weak_supervisor))


def _zero_shot(exp: Experiment, splits: TaskSplits) -> dict:
    """The weak model's answer-token probabilities, untrained: a label-free supervisor."""
    start = time.perf_counter()
    config = exp.probe
    probs = zero_shot_probs(get_model(exp.weak_model),
                            {s: splits[s].texts for s in PREDICTED_SPLITS}, exp.lm_prompt,
                            device=config.device, dtype=config.dtype,
                            max_length=exp.train_config.max_length)
    return {"probs": probs, "history": [], "best_step": 0,
            "seconds": time.perf_counter() - start}


class WeakSupervisors:
    """Soft labels of another weak model (a probe on ``weak_train`` ground truth) on some
    splits. The store and the splits it needs are reached through the module, not held:
    a method's context holds this object and must reach no ground truth through it."""

    __slots__ = ("_exp", "_root", "_progress", "_splits", "weak_model")

    def __init__(self, exp: Experiment, store: ArtifactStore, progress: bool,
                 splits: tuple[str, ...]):
        self._exp, self._root, self._progress, self._splits = exp, str(store.root), progress, splits
        self.weak_model = exp.weak_model  # the experiment's own weak supervisor

    def __call__(self, model: str) -> dict[str, np.ndarray]:
        probs = weak_labels(self._exp.with_(weak_model=model), ArtifactStore(self._root),
                            progress=self._progress)["probs"]
        return {s: probs[s] for s in self._splits}


