"""The evaluation server's request and response bodies (also its OpenAPI schema).

Requests forbid unknown fields, so a client cannot slip a self-reported score into a
submission; responses carry aggregate scores only, never labels or per-example results.
"""

from __future__ import annotations

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
MAX_ID = 2**62  # database integers are 64-bit


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from error
    return value


Text = Annotated[str, AfterValidator(_encodable)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictionsIn(Request):
    """Predictions for every example of one split, as parallel lists (duplicates detectable)."""

    idea: Name
    ids: list[StrictStr] = Field(max_length=MAX_EXAMPLES)
    predictions: list[Prediction] = Field(
        max_length=MAX_EXAMPLES, description="P(y=1) in [0, 1], or hard labels 0/1"
    )
    config: dict[str, Any] = Field(default_factory=dict, description="what produced them")


class SubmissionIn(PredictionsIn):
    client_token: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="idempotency key: a retried request with the same token is stored once",
    )


class FindingIn(Request):
    idea: Name | None = None
    hypothesis: Text = Field(min_length=1, max_length=2_000)
    config: dict[str, Any] = Field(default_factory=dict)
    body: Text = Field("", max_length=10_000, description="what was tried and what it showed")
    submission_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="one of your submissions; its server score is attached"
    )


class Score(BaseModel):
    submission_id: int
    agent: str
    idea: str
    split: str
    n: int
    accuracy: float
    pgr: float | None = Field(description="null when the ceiling does not beat the weak model")
    flags: list[str]
    created: float
    submissions_left: int


class HoldoutScore(BaseModel):
    agent: str
    idea: str
    n: int
    accuracy: float
    pgr: float | None
    feedback_pgr: float | None = Field(description="the idea's best feedback PGR")
    flags: list[str]
    created: float


class LeaderboardEntry(BaseModel):
    rank: int
    agent: str
    idea: str
    submissions: int
    best_feedback_pgr: float | None
    best_feedback_accuracy: float
    latest_feedback_pgr: float | None
    holdout_pgr: float | None
    holdout_accuracy: float | None
    flags: list[str]
    last_submission: float


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
