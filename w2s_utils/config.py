"""Typed notebook parameters and papermill profiles.

Each notebook has one ``parameters`` cell and one schema here. Profiles in
``params/<profile>.yaml`` are keyed by notebook name. Parameters are validated before
any compute: an unknown name fails with a "did you mean", a wrong type or an
out-of-range value fails naming the field and what it accepts.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .method_names import MethodName
from .names import ModelName, TaskName
from .paths import project_root
from .sources.files import DataError
from .splits import FITTING, MIN_SIZE, SplitSizes, resolve_sizes, size_problems, sizes_header
from .tasks import SPLITS

PROFILES = ("smoke", "default", "full", "workshop")


class ParameterError(ValueError):
    """Bad notebook parameters; the message says which and what is valid."""


class NotebookParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Size = Annotated[int, Field(ge=MIN_SIZE)] | Literal["auto"]  # "auto": chosen from the data


def _size(split: str):
    """A split-size parameter with ``SplitSizes``'s default and description."""
    info = SplitSizes.model_fields[split]
    return Field(info.default, description=info.description)


class DataParams(NotebookParams):
    """Split sizes, balance and seed of one task."""

    task: TaskName = "tweets-sentiment"
    n_weak_train: Size = _size("weak_train")
    n_pool: Size = _size("pool")
    n_val: Size = _size("val")
    n_test: Size = _size("test")
    n_holdout: Size = _size("holdout")
    balanced: bool = True

    @property
    def sizes(self) -> dict[str, int]:
        return {s: getattr(self, f"n_{s}") for s in SPLITS}

    def size_requests(self) -> list[dict[str, str | int]]:
        """Each set of splits the notebook draws: split → the parameter holding its size
        (or a fixed size). ``check_data`` resolves ``auto`` and checks each fits."""
        return [{s: f"n_{s}" for s in SPLITS}]


class PairParams(DataParams):
    """A weak → strong pair, its replicates, and how frozen features read the texts."""

    seeds: list[int] = Field(default_factory=lambda: list(range(10)), min_length=1,
                             description="replicates: split draw and training seed")
    weak_model: ModelName = "static64"
    strong_model: ModelName = "minilm-l6"
    probe_max_length: int = Field(128, ge=8, le=512, description="frozen features (weak "
                                  "models, linear-probe students): tokens read per window")
    max_chunks: int = Field(1, ge=1, description="frozen features: windows averaged per "
                            "text (1 cuts at probe_max_length)")

    def seeds_for(self, regime: str) -> list[int]:
        """Replicate seeds of a regime (``finetune_seeds`` where a notebook has them)."""
        return getattr(self, "finetune_seeds", self.seeds) if regime == "finetune" else self.seeds

    def finetune_config(self):
        from .train import FINETUNE_DEFAULTS

        return FINETUNE_DEFAULTS

    def experiment(self, regime: str = "linear_probe", **changes):
        """The pipeline ``Experiment`` these parameters describe (replicate = first seed)."""
        from .experiment import Experiment
        from .train import PROBE_DEFAULTS

        probe = PROBE_DEFAULTS.model_copy(
            update={"max_length": self.probe_max_length, "max_chunks": self.max_chunks})
        first = self.seeds_for(regime)[0]
        return Experiment(task=self.task, sizes=self.sizes, balanced=self.balanced,
                          split_seed=first, seed=first, weak_model=self.weak_model,
                          strong_model=self.strong_model, regime=regime,
                          finetune=self.finetune_config(), probe=probe, **changes)


class ExperimentParams(PairParams):
    """A pair plus the fine-tuning budget, shared by the experiment notebooks."""

    finetune_epochs: float = Field(2.0, gt=0, le=20)
    max_length: int = Field(64, ge=8, le=512, description="fine-tuning: tokens read per text")
    progress: bool = True

    def finetune_config(self):
        return super().finetune_config().model_copy(
            update={"epochs": self.finetune_epochs, "max_length": self.max_length})


class FinetuneSeedsParams(ExperimentParams):
    """Fine-tuning costs minutes a run, probes seconds: fewer replicates for fine-tuning."""

    finetune_seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)


class DataNotebookParams(PairParams):
    """Notebook 01: the data, the ladder and a diagnosis of the planned weak → strong pair
    (``seeds``: the replicates it is planned with)."""

    split_seed: int = Field(0, ge=0, description="draws weak_train, pool and val")
    ladder: list[ModelName] = Field(default_factory=lambda: [
        "tfidf-logreg", "static64", "minilm-l3", "minilm-l6", "mpnet-base"])
    probe_train: Annotated[int, Field(ge=10)] | Literal["auto"] = Field(
        1000, description="GT examples for the ladder probes")
    probe_test: Annotated[int, Field(ge=10)] | Literal["auto"] = Field(
        3000, description="test examples for the ladder probes")

    def size_requests(self) -> list[dict[str, str | int]]:
        ladder = {"weak_train": "probe_train", "pool": 2, "val": 2, "test": "probe_test",
                  "holdout": 2}
        return [*super().size_requests(), ladder]

    @property
    def probe_sizes(self) -> dict[str, int]:
        """The ladder probes' splits: ``probe_train`` GT examples, ``probe_test`` test."""
        return {s: getattr(self, v) if isinstance(v, str) else v
                for s, v in self.size_requests()[-1].items()}


class QuickstartParams(FinetuneSeedsParams):
    regime: Literal["linear_probe", "finetune"] = "finetune"


class WeakSupervisorParams(ExperimentParams):
    weak_models: list[ModelName] = Field(
        default_factory=lambda: ["tfidf-logreg", "static64", "minilm-l3"], min_length=1)


class StrongStudentParams(FinetuneSeedsParams):
    regimes: list[Literal["linear_probe", "finetune"]] = Field(
        default_factory=lambda: ["linear_probe", "finetune"], min_length=1)


class MethodsParams(FinetuneSeedsParams):
    probe_methods: list[MethodName] = Field(default_factory=lambda: ["naive"], min_length=1)
    finetune_methods: list[MethodName] = Field(default_factory=lambda: ["naive", "logconf"])


class AnalysisParams(FinetuneSeedsParams):
    """Notebook 05: a sweep over the ladder (linear probe) plus fine-tuned pairs.

    ``weak_model``/``strong_model`` are the explorer's first choice.
    """

    ladder: list[ModelName] = Field(default_factory=lambda: [
        "static64", "minilm-l3", "minilm-l6", "mpnet-base"], min_length=2)
    probe_methods: list[MethodName] = Field(
        default_factory=lambda: ["naive", "logconf", "confident_filter"], min_length=1)
    finetune_pairs: list[list[ModelName]] = Field(
        default_factory=lambda: [["static64", "minilm-l6"]],
        description="[weak, strong] pairs to fine-tune; [] for none")
    finetune_methods: list[MethodName] = Field(default_factory=lambda: ["naive"])
    backend: Literal["local", "ray"] = "local"
    workers: int = Field(1, ge=1)

    @field_validator("finetune_pairs")
    @classmethod
    def _pairs(cls, value: list[list[str]]) -> list[list[str]]:
        for pair in value:
            if len(pair) != 2:
                raise ValueError(f"each pair is [weak, strong], got {pair}")
        return value

    @field_validator("probe_methods", "finetune_methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        if value and "naive" not in value:
            raise ValueError("must include 'naive', the baseline every figure compares to")
        return value


class ResearcherParams(ExperimentParams):
    """The automated researcher: evaluation server on ``seeds`` (ceiling averaged over them),
    one agent searching for ``iterations`` or ``agent_minutes``, whichever ends first."""

    regime: Literal["linear_probe", "finetune"] = "linear_probe"
    proposer: Literal["search", "anthropic", "openai"] = "search"
    proposer_seed: int = Field(0, ge=0)
    iterations: int = Field(25, ge=1, le=1000)
    agent_minutes: float = Field(4.0, gt=0, le=24 * 60)
    holdout_ideas: int = Field(3, ge=1, le=50, description="best ideas scored on the blind "
                                                           "holdout, one scoring each")


class TeamParams(ExperimentParams):
    """A team of code-writing agents on ``task`` (linear probes: code ideas train there),
    the seed gate, and the re-run of the best ideas on ``heldout_task``, which no agent
    sees. ``seeds``: the ceiling's seeds and the re-runs' training seeds."""

    heldout_task: TaskName = "synthetic-sentiment"
    directions: list[str] = Field(default_factory=lambda: [
        "filter the weak labels to the confident ones", "reweight examples by confidence",
        "change the training targets or the loss"], min_length=1)
    agents: int = Field(3, ge=1, le=16)
    iterations: int = Field(8, ge=1, le=1000, description="per agent")
    agent_minutes: float = Field(6.0, gt=0, le=24 * 60, description="per agent")
    cpu_budget_seconds: float = Field(1800.0, gt=0, description="per agent, reported")
    holdout_ideas: int = Field(2, ge=1, le=50, description="per agent: confirmed on "
                                                           "min_seeds seeds, then blind")
    min_seeds: int = Field(3, ge=1, le=20, description="seeds before an idea ranks")
    transfer_ideas: int = Field(3, ge=1, le=20, description="best ideas re-run on both tasks")
    team_seed: int = Field(0, ge=0)

    @field_validator("seeds")
    @classmethod
    def _enough_seeds(cls, value: list[int]) -> list[int]:
        if len(value) < 2:
            raise ValueError("the re-runs need at least 2 seeds for an interval")
        return value


NOTEBOOKS: dict[str, type[NotebookParams]] = {
    "00_quickstart": QuickstartParams,
    "01_data": DataNotebookParams,
    "02_weak_supervisor": WeakSupervisorParams,
    "03_strong_student": StrongStudentParams,
    "04_methods": MethodsParams,
    "05_analysis": AnalysisParams,
    "06_automated_researcher": ResearcherParams,
    "07_research_team": TeamParams,
}


def schema(notebook: str) -> type[NotebookParams]:
    if notebook not in NOTEBOOKS:
        close = difflib.get_close_matches(notebook, list(NOTEBOOKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ParameterError(f"Unknown notebook {notebook!r}.{hint} "
                             f"Notebooks: {', '.join(NOTEBOOKS)}.")
    return NOTEBOOKS[notebook]


def validate(notebook: str, values: dict[str, Any],
             origin: dict[str, str] | None = None) -> NotebookParams:
    """Check names first (with a suggestion), then types and ranges, then that the task's
    data holds every split (``origin``: where each value came from, for the message)."""
    model = schema(notebook)
    fields = list(model.model_fields)
    for name in values:
        if name not in model.model_fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ParameterError(f"{notebook}: unknown parameter {name!r}.{hint} "
                                 f"Valid parameters: {', '.join(fields)}.")
    try:
        params = model(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in error.errors())
        raise ParameterError(f"{notebook}: {problems}") from None
    except KeyError as error:  # unknown task or model names raise registry errors
        raise ParameterError(f"{notebook}: {error}") from None
    except DataError as error:  # a user's data file that is missing or unreadable
        raise ParameterError(f"{notebook}: {error}") from None
    return check_data(notebook, params, origin)


def check_data(notebook: str, params: NotebookParams,
               origin: dict[str, str] | None = None) -> NotebookParams:
    """Resolve ``auto`` sizes and check that every split the notebook draws fits the task's
    data: all problems in one error, naming the parameters (and, from ``origin``, where
    each value came from) with values that would fit."""
    if not isinstance(params, DataParams):
        return params
    updates, problems = {}, []
    try:
        for request in params.size_requests():
            sizes = {s: getattr(params, v) if isinstance(v, str) else v
                     for s, v in request.items()}
            resolved = resolve_sizes(params.task, sizes, params.balanced)
            updates.update({v: resolved[s] for s, v in request.items() if isinstance(v, str)})
            names = {s: v for s, v in request.items() if isinstance(v, str)}
            problems += size_problems(params.task, resolved, params.balanced, names)
    except DataError as error:
        raise ParameterError(f"{notebook}: {error}") from None
    if problems:
        named = [name for name in (origin or {}) if any(
            f"{name}=" in p and not p.startswith(FITTING) for p in problems)]
        by_origin: dict[str, list[str]] = {}
        for name in named:
            by_origin.setdefault(origin[name], []).append(name)
        sources = "".join(f"\n  from {where}: {', '.join(names)}"
                          for where, names in by_origin.items())
        raise ParameterError(f"{notebook}: {sizes_header(params.task, params.balanced)}:\n  - "
                             + "\n  - ".join(problems) + sources
                             + "\n  (--sizes auto, or -p NAME=auto, sizes them from the data)")
    return params.model_copy(update=updates)


def size_auto(notebook: str) -> dict[str, str]:
    """``"auto"`` for every split-size parameter of a notebook (``--sizes auto``)."""
    model = schema(notebook)
    return {name: "auto" for name, field in model.model_fields.items()
            if "auto" in str(field.annotation)}


def notebook_params(notebook: str, namespace: dict[str, Any]) -> NotebookParams:
    """Validate a notebook's parameter variables from its namespace (``globals()``)."""
    model = schema(notebook)
    return validate(notebook, {k: namespace[k] for k in model.model_fields if k in namespace})


def load_profile(profile: str, notebook: str, root: Path | None = None) -> dict[str, Any]:
    path = (root or project_root()) / "params" / f"{profile}.yaml"
    if not path.exists():
        available = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ParameterError(f"Unknown profile {profile!r}. Profiles: {', '.join(available)}.")
    data = yaml.safe_load(path.read_text()) or {}
    if "sweep" in data:
        raise ParameterError(f"{path.name} is a sweep profile, not a notebook profile: run "
                             f"`python -m w2s_utils.scale run --profile {profile}`")
    if notebook not in data:
        raise ParameterError(f"profile {path.name} has no section for {notebook!r}")
    return dict(data[notebook] or {})
