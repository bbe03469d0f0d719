"""The evaluation server's request and response bodies (also its OpenAPI schema).

Requests forbid unknown fields, so a client cannot slip a self-reported score into a
submission; responses carry aggregate scores only, never labels or per-example results.
Free-form ``config`` objects are limited in depth and size here, before anything is
stored, and every error the server answers has one shape: ``Error``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,79}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, description="1-80 of A-Z a-z 0-9 _ . : + -")]
# Strict: JSON true/false or "0.5" are rejected rather than silently coerced.
Prediction = StrictFloat | StrictInt
MAX_EXAMPLES = 200_000
MAX_CONFIG_BYTES = 20_000
MAX_ID = 2**53 - 1  # exact in a double too: JSON Schema validators compare as floats
MAX_CONFIG_DEPTH = 8  # nesting levels of a config object (a flat dict is depth 1)


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from error
    return value


Text = Annotated[str, AfterValidator(_encodable)]


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of JSON-like ``value``, without recursion (stops past ``limit``)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def config_json(config: dict[str, Any]) -> str:
    """The config as stored: finite numbers and valid Unicode only (ValueError if not)."""
    try:
        text = json.dumps(config, sort_keys=True, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError, TypeError) as error:
        raise ValueError("config must be JSON with finite numbers and valid Unicode "
                         "text") from error
    return text


def _bounded_config(config: dict[str, Any]) -> dict[str, Any]:
    """Depth first (a deep object must not reach the encoder), then content and size."""
    if _depth(config, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH:
        raise ValueError(f"config is nested deeper than {MAX_CONFIG_DEPTH} levels")
    text = config_json(config)
    if len(text) > MAX_CONFIG_BYTES:
        raise ValueError(f"config is {len(text)} bytes as JSON; the limit is "
                         f"{MAX_CONFIG_BYTES}")
    return config


Config = Annotated[dict[str, Any], AfterValidator(_bounded_config),
                   Field(description=f"what produced them: JSON, at most {MAX_CONFIG_DEPTH} "
                                     f"levels deep and {MAX_CONFIG_BYTES} bytes")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictionsIn(Request):
    """Predictions for every example of one split, as parallel lists (duplicates detectable)."""

    idea: Name
    ids: list[StrictStr] = Field(min_length=1, max_length=MAX_EXAMPLES)
    predictions: list[Prediction] = Field(
        min_length=1, max_length=MAX_EXAMPLES, description="P(y=1) in [0, 1], or hard labels 0/1"
    )
    config: Config = Field(default_factory=dict)


class SubmissionIn(PredictionsIn):
    client_token: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="idempotency key: a retried request with the same token is stored once",
    )


class FindingIn(Request):
    idea: Name | None = None
    hypothesis: Text = Field(min_length=1, max_length=2_000)
    config: Config = Field(default_factory=dict)
    body: Text = Field("", max_length=10_000, description="what was tried and what it showed")
    submission_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="one of your submissions; its server score is attached"
    )


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str


class Error(BaseModel):
    """Every error response: a message, or the list of what failed validation."""

    detail: str | list[ErrorItem]


class Score(BaseModel):
    """A feedback score as the Ladder releases it (see the server's README section)."""

    submission_id: int
    agent: str
    idea: str
    split: str
    n: int
    accuracy: float = Field(description="your best released feedback accuracy, on the ladder")
    pgr: float | None = Field(description="PGR of that accuracy against the served baselines; "
                                          "null when the ceiling does not beat the weak model")
    new_best: bool = Field(description="this submission beat your best by more than one step "
                                       "(else the previous best is repeated)")
    step: float = Field(description="the ladder's step in accuracy (1/sqrt(n))")
    flags: list[str]
    created: float
    submissions_left: int


class HoldoutScore(BaseModel):
    """One blind scoring, shown only to the agent that spent it: a coarse value (rounded to
    a 1/sqrt(n) grid) with its binomial 95% interval."""

    agent: str
    idea: str
    n: int
    accuracy: float = Field(description="coarse holdout accuracy")
    pgr: float | None = Field(description="coarse holdout PGR")
    pgr_low: float | None = Field(description="95% interval of the holdout PGR")
    pgr_high: float | None
    feedback_pgr: float | None = Field(description="the idea's best released feedback PGR")
    flags: list[str]
    created: float


class LeaderboardEntry(BaseModel):
    """Ideas past the seed gate (``counted``) first; within each part, clean entries
    before flagged ones, then by coarse holdout PGR, then feedback PGR."""

    rank: int
    agent: str
    idea: str
    submissions: int
    best_feedback_pgr: float | None = Field(
        description="the highest ladder value this idea set (null if it never climbed)")
    best_feedback_accuracy: float | None
    holdout_pgr_low: float | None = Field(description="95% interval of the blind holdout PGR")
    holdout_pgr_high: float | None
    flags: list[str]
    last_submission: float
    seeds: int = Field(0, description="distinct training seeds the idea was submitted with")
    counted: bool = Field(False, description="enough seeds to rank (the seed gate)")
    cpu_seconds: float = Field(0.0, description="training CPU-seconds the agent reported")
    server_cpu_seconds: float = Field(0.0, description="CPU-seconds of the organizer's "
                                                       "re-runs, measured")
    eval_calls: int = Field(0, description="scored submissions and holdout requests")
    tokens: int = Field(0, description="LLM tokens the agent reported")
    dollars: float = Field(0.0, description="their price at the model's rate")
    pgr_per_cpu_hour: float | None = None
    pgr_per_dollar: float | None = None


class CostIn(Request):
    """What one idea's training cost the agent: its word (see ``ledger``)."""

    idea: Name | None = None
    cpu_seconds: float = Field(0.0, ge=0, le=1e9, allow_inf_nan=False, strict=True)
    model: str | None = Field(None, max_length=80, description="LLM that proposed it")
    input_tokens: int = Field(0, ge=0, le=2**31 - 1, strict=True)
    output_tokens: int = Field(0, ge=0, le=2**31 - 1, strict=True)


class CostTotals(BaseModel):
    """An agent's spending so far and its budgets (None: unlimited)."""

    agent: str
    cpu_seconds: float
    tokens: int
    dollars: float
    eval_calls: int
    max_submissions: int | None
    max_cpu_seconds: float | None
    max_dollars: float | None


class Finding(BaseModel):
    id: int
    agent: str
    idea: str | None
    hypothesis: str
    config: dict[str, Any]
    body: str
    submission_id: int | None
    verified: dict[str, Any] | None = Field(
        description="the server's score of the linked submission (accuracy, pgr, flags)"
    )
    created: float


class DataView(BaseModel):
    """One split as an agent may see it: no ground truth."""

    split: str
    ids: list[str]
    texts: list[str]
    features: list[list[float]] | None = None
    weak: list[float] | None = Field(None, description="weak model's P(y=1) (pool, val only)")


class Baselines(BaseModel):
    """Fixed accuracies PGR is measured against, per scored split."""

    weak: dict[str, float]
    ceiling: dict[str, float]
    ceiling_seeds: list[int] = Field(description="training seeds the ceiling is averaged over")


class TaskInfo(BaseModel):
    experiment: dict[str, Any]
    split_sizes: dict[str, int]
    feedback_split: str
    holdout_split: str
    baselines: Baselines
