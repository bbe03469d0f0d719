"""The experiment schema: everything that determines one weak-to-strong run, validated
before any compute (data sizes, the method and its parameters, the regime and head)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from .learner import Head, Regime
from .lm_head import LMPrompt, default_prompt
from .lora import LoraParams
from .methods import Method, get_method, method_regime
from .models import get_model
from .names import ModelName, TaskName
from .splits import AUTO, SplitSizes, check_sizes, resolve_sizes
from .tasks import SPLITS
from .train import FINETUNE_DEFAULTS, LORA_DEFAULTS, PROBE_DEFAULTS, TrainConfig

WeakRegime = Literal["linear_probe", "zero_shot"]


def setup_problem(method: type[Method], strong_model: str, regime: str) -> str | None:
    """Why ``method`` cannot train ``strong_model`` in ``regime`` (None if it can): the one
    check that experiments and sweeps share."""
    if regime != "linear_probe" and not get_model(strong_model).finetunable:
        return f"strong model {strong_model!r} cannot be fine-tuned; use regime='linear_probe'"
    if method_regime(regime) not in method.regimes:
        return f"method {method.name!r} supports only {', '.join(method.regimes)}, not {regime!r}"
    return None


class Experiment(BaseModel):
    """Everything that determines one weak-to-strong run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskName = "tweets-sentiment"
    sizes: SplitSizes = SplitSizes()
    balanced: bool = True
    split_seed: int = Field(0, ge=0, description="draws weak_train, pool and val")
    seed: int = Field(0, ge=0, description="training: initialisation and data order")
    weak_model: ModelName = "static64"
    strong_model: ModelName = "minilm-l6"
    regime: Regime = "linear_probe"
    method: str = "naive"
    method_params: dict[str, Any] = Field(default_factory=dict)
    probe: TrainConfig = PROBE_DEFAULTS
    finetune: TrainConfig = FINETUNE_DEFAULTS
    lora_train: TrainConfig = LORA_DEFAULTS
    lora: LoraParams = LoraParams()
    head: Head = Field("linear", description="strong model's head: a zero-initialised linear "
                       "head, or (causal LMs) the LM head's logits of the answer tokens")
    weak_regime: WeakRegime = Field("linear_probe", description="zero_shot: the weak model's "
                                    "answer-token logits, untrained (causal LMs)")
    prompt: LMPrompt | None = Field(None, description="template and answers for the LM head; "
                                    "None: the task's own")

    _method: type[Method] = PrivateAttr()
    _method_config: BaseModel = PrivateAttr()

    @model_validator(mode="wrap")
    @classmethod
    def _resolve_method(cls, data, handler):
        """Look the method up and build its parameters once per experiment; every
        parameter is stored, so ``{}`` and ``{"hard": False}`` share one cache key."""
        if not isinstance(data, dict):
            return handler(data)
        method = get_method(data.get("method", "naive"))
        config = method.Params(**(data.get("method_params") or {}))  # bad params fail here
        exp = handler({**data, "method_params": config.model_dump(mode="json")})
        if problem := setup_problem(method, exp.strong_model, exp.regime):
            raise ValueError(problem)
        exp._method, exp._method_config = method, config
        return exp

    @model_validator(mode="before")
    @classmethod
    def _auto_sizes(cls, data):
        """``sizes="auto"``, or ``"auto"`` for some splits: sizes chosen from the task's data."""
        if isinstance(data, dict):
            sizes = data.get("sizes")
            if sizes == AUTO:
                sizes = dict.fromkeys(SPLITS, AUTO)
            if isinstance(sizes, dict) and AUTO in sizes.values():
                defaults = SplitSizes().model_dump()
                sizes = resolve_sizes(data.get("task", cls.model_fields["task"].default),
                                      {**defaults, **sizes},
                                      data.get("balanced", cls.model_fields["balanced"].default))
                data = {**data, "sizes": sizes}
        return data

    @model_validator(mode="after")
    def _check_data(self) -> Experiment:
        """The data source, its classes and every split size, all problems in one error."""
        check_sizes(self.task, self.sizes.model_dump(), self.balanced)
        return self

    @model_validator(mode="after")
    def _check_chunks(self) -> Experiment:
        if self.finetune.max_chunks > 1:
            raise ValueError("max_chunks pools frozen features (linear_probe); fine-tuning "
                             "reads the first max_length tokens, so set finetune.max_chunks=1")
        return self

    @model_validator(mode="after")
    def _check_head(self) -> Experiment:
        if self.head == "lm" and self.regime == "linear_probe":
            raise ValueError("head='lm' trains the LM itself: use regime='finetune' or 'lora'")
        return self

    @property
    def method_class(self) -> type[Method]:
        return self._method

    @property
    def method_config(self) -> BaseModel:
        """The method's typed parameters (``method_params`` as its ``Params``)."""
        return self._method_config

    @property
    def train_config(self) -> TrainConfig:
        return {"linear_probe": self.probe, "finetune": self.finetune,
                "lora": self.lora_train}[self.regime]

    @property
    def lm_prompt(self) -> LMPrompt:
        return self.prompt or default_prompt(self.task)

    def with_(self, **changes) -> Experiment:
        """A validated copy with some fields changed; a new method starts from its own
        default parameters unless ``method_params`` is given too."""
        data = self.model_dump()
        if changes.get("method", self.method) != self.method:
            data["method_params"] = {}
        return Experiment(**{**data, **changes})

    def replicate(self, seed: int) -> Experiment:
        """Replicate ``seed``: a new draw of weak_train/pool/val and a new training seed
        (test and holdout are fixed per task, so replicates are scored on one test set)."""
        return self.with_(split_seed=seed, seed=seed)
