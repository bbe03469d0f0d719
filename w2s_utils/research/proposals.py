"""What the agent tries next, as data: a ``Proposal`` (a registered method with params
and training-knob overrides, or a new method's source), the ``MethodSpace`` it is chosen
from, the ``Observation`` a proposer sees, and the ``Proposer`` interface.

The space holds only methods that need no ground truth beyond the server's, and
training knobs within bounds around the experiment's defaults (weight_decay; lr and
epochs too for minibatch solvers).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..knobs import Knob
from ..methods import METHODS, get_method
from .sandbox import MAX_SOURCE_BYTES, CodeError, check_source, source_hash
from .schemas import NAME_PATTERN


class ProposalError(RuntimeError):
    """A proposer could not produce a valid proposal."""


class Proposal(BaseModel):
    """A registered method with params, or (``code`` set) a new ``Method`` plug-in's source
    that runs in the sandbox; ``parent`` names the idea it was derived from (lineage)."""

    model_config = ConfigDict(extra="forbid")
    method: str
    params: dict[str, Any] = Field(default_factory=dict)
    train: dict[str, float] = Field(default_factory=dict)
    hypothesis: str = Field(min_length=1, max_length=2_000)
    idea: str | None = Field(None, pattern=NAME_PATTERN)
    code: str | None = Field(None, max_length=MAX_SOURCE_BYTES)
    parent: str | None = Field(None, max_length=80)

    def config(self) -> dict:
        config = {"method": self.method, "params": self.params, "train": self.train}
        if self.code is not None:
            config.update(code_sha256=source_hash(self.code), parent=self.parent)
        return config

    def idea_name(self) -> str:
        """The proposal's own name, else one derived from its config (same config, same idea)."""
        if self.idea:
            return self.idea
        digest = hashlib.sha1(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()
        return f"{self.method[:60]}-{digest[:8]}"


@dataclass(frozen=True)
class MethodSpace:
    """The registered methods usable in one regime, with their parameter schemas."""

    regime: str
    methods: dict[str, dict]
    train: dict[str, Knob]  # training knobs around the experiment's defaults

    @classmethod
    def for_experiment(cls, exp) -> MethodSpace:
        """Methods that need ``weak_train`` ground truth (only the server has it) are left out."""
        methods = {}
        for name in METHODS:
            method = get_method(name)
            if exp.regime in method.regimes and not method.changes_supervisor():
                schema = method.Params.model_json_schema()
                methods[name] = {"description": method.description,
                                 "params": schema.get("properties", {})}
        config = exp.train_config
        knobs = [Knob("weight_decay", config.weight_decay, 0.0,
                      max(0.1, 10 * config.weight_decay))]
        if config.solver == "adamw":  # an L-BFGS probe is solved to convergence: no lr, epochs
            knobs = [Knob("lr", config.lr, config.lr / 10, config.lr * 10, log=True),
                     Knob("epochs", config.epochs, config.epochs / 4, config.epochs * 2),
                     *knobs]
        return cls(exp.regime, methods, {k.name: k for k in knobs})

    @property
    def train_defaults(self) -> dict[str, float]:
        return {name: knob.default for name, knob in self.train.items()}

    def validate(self, proposal: Proposal) -> Proposal:
        """The proposal if it names a known method, valid params and in-range knobs (a
        code proposal's source is checked statically; its params inside the sandbox)."""
        if proposal.code is not None:
            try:
                check_source(proposal.code)
            except CodeError as error:
                raise ValueError(str(error)) from error
        elif proposal.method not in self.methods:
            raise ValueError(f"unknown method {proposal.method!r}; choose one of "
                             f"{sorted(self.methods)}")
        else:
            get_method(proposal.method).Params(**proposal.params)
        for name, value in proposal.train.items():
            knob = self.train.get(name)
            if knob is None:
                raise ValueError(f"unknown training knob {name!r}; "
                                 f"choose from {sorted(self.train)}")
            if not knob.contains(value):
                raise ValueError(f"train.{name}={value} is outside [{knob.low}, {knob.high}]")
        return proposal

    def describe(self) -> dict:
        return {"regime": self.regime, "methods": self.methods,
                "train_knobs": {k: {"low": v.low, "high": v.high, "default": v.default}
                                for k, v in self.train.items()}}


@dataclass
class Attempt:
    """One iteration: what was proposed and what the server said (or what went wrong)."""

    proposal: Proposal | None
    score: dict | None = None
    error: str | None = None
    finding_id: int | None = None
    seconds: float = 0.0

    def summary(self) -> dict:
        out: dict[str, Any] = {}
        if self.proposal is not None:
            out.update(idea=self.proposal.idea_name(), config=self.proposal.config(),
                       hypothesis=self.proposal.hypothesis[:300])
        if self.score is not None:
            # Under the server's ladder only a new best is this attempt's own score; any
            # other submission was only "not better than the best by one step".
            own = self.score.get("new_best", True)
            out.update(feedback_pgr=self.score["pgr"] if own else None,
                       accuracy=self.score["accuracy"] if own else None,
                       new_best=own, flags=self.score["flags"])
        if self.error:
            out["error"] = self.error[:300]
        return out


@dataclass
class Usage:
    """LLM tokens a proposer has spent (the API's own count; offline proposers: none)."""

    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Observation:
    space: MethodSpace
    history: list[Attempt] = field(default_factory=list)
    leaderboard: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    task: dict = field(default_factory=dict)


class Proposer(ABC):
    @abstractmethod
    def propose(self, observation: Observation) -> Proposal: ...

    def tell(self, proposal: Proposal, pgr: float | None) -> None:
        """The server's feedback PGR for ``proposal`` (None: it failed or had no gap).

        Stateless proposers (the LLM ones) read results from the observation instead.
        """
        return None

    def usage(self) -> Usage:
        """Tokens spent so far, for the server's cost ledger."""
        return Usage()
