"""Proposers: what the agent tries next, chosen from the registered method space.

A proposal is a method name, its ``Params``, optional overrides of the training knobs
(weight_decay; lr and epochs too for minibatch solvers) within bounds around the
experiment's defaults, and a written hypothesis. ``SearchProposer`` (the default; offline,
no key) runs Optuna's TPE over that space and learns from server scores.
``AnthropicProposer`` and ``OpenAICompatibleProposer`` ask an LLM for a JSON proposal,
showing it the space, its own scored results, the leaderboard and the forum's findings;
they speak each API's wire format with httpx.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import httpx
import optuna
from pydantic import BaseModel, ConfigDict, Field

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
class Knob:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class MethodSpace:
    """The registered methods usable in one regime, with their parameter schemas."""

    regime: str
    methods: dict[str, dict]
    train: dict[str, Knob]
    train_defaults: dict[str, float]

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
        train = {"weight_decay": Knob(0.0, max(0.1, 10 * config.weight_decay))}
        if config.solver == "adamw":  # an L-BFGS probe is solved to convergence: no lr, epochs
            train = {"lr": Knob(config.lr / 10, config.lr * 10, log=True),
                     "epochs": Knob(config.epochs / 4, config.epochs * 2), **train}
        return cls(exp.regime, methods, train, {k: getattr(config, k) for k in train})

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
            if not knob.low <= value <= knob.high:
                raise ValueError(f"train.{name}={value} is outside [{knob.low}, {knob.high}]")
        return proposal

    def describe(self) -> dict:
        return {"regime": self.regime, "methods": self.methods,
                "train_knobs": {k: {"low": v.low, "high": v.high, "default":
                                    self.train_defaults[k]} for k, v in self.train.items()}}


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


# --------------------------------------------------------------------------- search


class SearchProposer(Proposer):
    """Optuna TPE over methods, their params and the training knobs; starts from naive."""

    def __init__(self, seed: int = 0, max_draws: int = 50):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=5))
        self.max_draws = max_draws
        self._pending: dict[str, optuna.trial.Trial] = {}
        self._seen: dict[str, float | None] = {}

    def propose(self, observation: Observation) -> Proposal:
        space = observation.space
        if not self.study.trials and "naive" in space.methods:
            defaults = {f"naive.{k}": v["default"] for k, v in
                        space.methods["naive"]["params"].items() if "default" in v}
            self.study.enqueue_trial({"method": "naive", **defaults, **{
                f"train.{k}": v for k, v in space.train_defaults.items()}})
        for _ in range(self.max_draws):
            trial = self.study.ask()
            proposal = self._sample(trial, space, observation)
            key = proposal.idea_name()
            if key in self._seen:  # an already-scored config: answer from memory
                self._finish(trial, self._seen[key])
                continue
            self._pending[key] = trial
            return proposal
        raise ProposalError(f"no untried configuration in {self.max_draws} draws")

    def tell(self, proposal: Proposal, pgr: float | None) -> None:
        key = proposal.idea_name()
        self._seen[key] = pgr
        if (trial := self._pending.pop(key, None)) is not None:
            self._finish(trial, pgr)

    def _finish(self, trial, pgr: float | None) -> None:
        if pgr is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, pgr)

    def _sample(self, trial, space: MethodSpace, observation: Observation) -> Proposal:
        method = trial.suggest_categorical("method", sorted(space.methods))
        params = {}
        for name, schema in space.methods[method]["params"].items():
            value = _suggest(trial, f"{method}.{name}", schema)
            if value is not _DEFAULT:
                params[name] = value
        train = {name: trial.suggest_float(f"train.{name}", knob.low, knob.high, log=knob.log)
                 for name, knob in space.train.items()}
        scores = [a.score["pgr"] for a in observation.history
                  if a.score is not None and a.score["pgr"] is not None]
        best = f"{max(scores):.3f}" if scores else "none yet"
        hypothesis = (f"TPE search, trial {trial.number}: {method} with params {params} and "
                      f"training {_short(train)} should recover more of the weak-to-strong gap "
                      f"than the best feedback PGR so far ({best}).")
        return space.validate(Proposal(method=method, params=params, train=train,
                                       hypothesis=hypothesis))


_DEFAULT = object()


def _suggest(trial, name: str, schema: dict):
    """An Optuna draw for one pydantic-schema field; _DEFAULT where the range is open."""
    if "enum" in schema:
        return trial.suggest_categorical(name, list(schema["enum"]))
    kind = schema.get("type")
    if kind == "boolean":
        return trial.suggest_categorical(name, [False, True])
    if kind not in ("integer", "number"):
        return _DEFAULT
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is None or high is None:
        return _DEFAULT
    log = low > 0 and high / low >= 100
    if kind == "integer":
        low += "exclusiveMinimum" in schema
        high -= "exclusiveMaximum" in schema
        return trial.suggest_int(name, int(low), int(high), log=log)
    tiny = 1e-9 * max(1.0, abs(high - low))
    return trial.suggest_float(name, low + tiny * ("exclusiveMinimum" in schema),
                               high - tiny * ("exclusiveMaximum" in schema), log=log)


def _short(values: dict) -> dict:
    return {k: float(f"{v:.3g}") for k, v in values.items()}


# --------------------------------------------------------------------------- LLMs


SYSTEM_PROMPT = """You are an automated weak-to-strong (W2S) supervision researcher.
A weak model trained on ground truth labels a pool of examples; a stronger model is trained
on those weak labels only. Performance gap recovered, PGR = (student - weak) / (ceiling - weak)
in accuracy, is scored by an evaluation server on a feedback split; each idea also gets one
blind holdout scoring. You choose the next experiment from a fixed method space. Prefer ideas
that should generalise (they are checked on a blind holdout), not ones that chase noise.
Reply with exactly one JSON object:
{"idea": "<short-name>", "hypothesis": "<why this should raise PGR>",
 "method": "<a method name>", "params": {<that method's params>},
 "train": {<optional overrides of the training knobs listed, within their bounds>}}
You may instead write a NEW method: then "method" is your new method's name, "parent" the
idea it builds on (or null), and after the JSON object give the plug-in's source in one
```python fenced block: one subclass of w2s_utils.methods.base.Method (override loss,
targets, weights, subset, relabel or run; ctx.weak["pool"] / ctx.weak["val"] are the weak
P(y=1), ctx.fit(targets, ...) trains the strong student). It runs in a sandbox without
labels or network; it may import only numpy, torch, math, typing, dataclasses, functools,
itertools, collections, pydantic and w2s_utils.methods / losses / train."""


class LLMProposer(Proposer):
    """Shared prompting, parsing and retrying; subclasses speak one API's wire format."""

    provider = "LLM"

    def __init__(self, model: str, base_url: str, api_key: str | None, *,
                 temperature: float = 0.7, max_tokens: int = 1024, timeout: float = 120.0,
                 attempts: int = 3, http_retries: int = 3, backoff: float = 1.0):
        self.model, self.base_url, self.api_key = model, base_url.rstrip("/"), api_key
        self.temperature, self.max_tokens = temperature, max_tokens
        self.attempts, self.http_retries, self.backoff = attempts, http_retries, backoff
        self.http = httpx.Client(timeout=timeout)
        self._usage = Usage(model=model)

    def usage(self) -> Usage:
        return Usage(**vars(self._usage))

    def count(self, input_tokens, output_tokens) -> None:
        """Add one reply's usage as the API reported it (absent: nothing to add)."""
        self._usage.input_tokens += int(input_tokens or 0)
        self._usage.output_tokens += int(output_tokens or 0)

    @abstractmethod
    def complete(self, system: str, messages: list[dict]) -> str:
        """The model's text reply to a system prompt and user/assistant turns."""

    def propose(self, observation: Observation) -> Proposal:
        messages = [{"role": "user", "content": self.prompt(observation)}]
        error = None
        for _ in range(self.attempts):
            text = self.complete(SYSTEM_PROMPT, messages)
            try:
                return observation.space.validate(parse_proposal(text))
            except ValueError as invalid:
                error = invalid
                messages += [{"role": "assistant", "content": text},
                             {"role": "user", "content": f"That reply was not usable: "
                              f"{str(invalid)[:500]}. Reply with the JSON object only."}]
        raise ProposalError(f"{self.provider} gave no valid proposal in {self.attempts} "
                            f"attempts; last problem: {error}")

    def prompt(self, observation: Observation) -> str:
        board = [{k: e.get(k) for k in ("rank", "agent", "idea", "best_feedback_pgr",
                                        "holdout_pgr_low", "holdout_pgr_high", "flags")}
                 for e in observation.leaderboard[:10]]
        findings = [{"agent": f["agent"], "idea": f["idea"], "hypothesis": f["hypothesis"][:300],
                     "config": f["config"], "server_score": f["verified"]}
                    for f in observation.findings[:10]]
        sections = {
            "Task": observation.task,
            "Method space": observation.space.describe(),
            "Your experiments so far (oldest first)":
                [a.summary() for a in observation.history[-20:]],
            "Leaderboard (server-scored, top 10)": board,
            "Recent findings from all agents": findings,
        }
        body = "\n\n".join(f"{title}:\n{json.dumps(value, default=str)}"
                           for title, value in sections.items())
        return body + "\n\nPropose the next experiment as one JSON object."

    def _post(self, url: str, headers: dict, payload: dict) -> dict:
        for attempt in range(self.http_retries + 1):
            try:
                response = self.http.post(url, headers=headers, json=payload)
            except httpx.TransportError as error:
                if attempt == self.http_retries:
                    raise ProposalError(f"{self.provider} API unreachable: {error}") from error
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as error:
                        raise ProposalError(f"{self.provider} API sent non-JSON") from error
                retryable = response.status_code == 429 or response.status_code >= 500
                if not retryable or attempt == self.http_retries:
                    raise ProposalError(f"{self.provider} API returned HTTP "
                                        f"{response.status_code}: {response.text[:300]}")
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")


class AnthropicProposer(LLMProposer):
    """Claude through the Messages API (``POST {base_url}/v1/messages``)."""

    provider = "Anthropic"
    DEFAULT_MODEL = "claude-sonnet-4-5"

    def __init__(self, model: str | None = None, base_url: str | None = None,
                 api_key: str | None = None, **kwargs):
        api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not api_key:
            raise ValueError("AnthropicProposer needs an API key: set ANTHROPIC_API_KEY")
        super().__init__(
            model or os.environ.get("W2S_ANTHROPIC_MODEL") or self.DEFAULT_MODEL,
            base_url or os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
            api_key, **kwargs)

    def complete(self, system: str, messages: list[dict]) -> str:
        reply = self._post(
            f"{self.base_url}/v1/messages",
            {"x-api-key": self.api_key, "anthropic-version": "2023-06-01"},
            {"model": self.model, "max_tokens": self.max_tokens,
             "temperature": self.temperature, "system": system, "messages": messages})
        usage = reply.get("usage") if isinstance(reply, dict) else None
        if isinstance(usage, dict):
            self.count(usage.get("input_tokens"), usage.get("output_tokens"))
        try:
            return "".join(b["text"] for b in reply["content"] if b.get("type") == "text")
        except (KeyError, TypeError) as error:
            raise ProposalError(f"unexpected Anthropic reply: {str(reply)[:300]}") from error


class OpenAICompatibleProposer(LLMProposer):
    """Any chat-completions endpoint (OpenAI, vLLM, llama.cpp, Ollama …)."""

    provider = "OpenAI-compatible"

    def __init__(self, model: str | None = None, base_url: str | None = None,
                 api_key: str | None = None, **kwargs):
        model = model or os.environ.get("W2S_OPENAI_MODEL")
        if not model:
            raise ValueError("OpenAICompatibleProposer needs a model name (or W2S_OPENAI_MODEL)")
        super().__init__(
            model, base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
            api_key or os.environ.get("OPENAI_API_KEY"), **kwargs)

    def complete(self, system: str, messages: list[dict]) -> str:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        reply = self._post(
            f"{self.base_url}/chat/completions", headers,
            {"model": self.model, "temperature": self.temperature,
             "max_tokens": self.max_tokens,
             "messages": [{"role": "system", "content": system}, *messages]})
        usage = reply.get("usage") if isinstance(reply, dict) else None
        if isinstance(usage, dict):
            self.count(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as error:
            raise ProposalError(f"unexpected chat-completions reply: {str(reply)[:300]}") \
                from error


CODE_FENCE = re.compile(r"```(?:python|py)[^\n]*\n(.*?)```", re.DOTALL)


def parse_proposal(text: str) -> Proposal:
    """The first JSON object in a model's reply (code fences and prose around it tolerated),
    with the source of a ```python fenced block as its ``code`` if there is one."""
    code = CODE_FENCE.search(text)
    json_text = CODE_FENCE.sub("", text) if code else text
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", json_text):
        try:
            value, _ = decoder.raw_decode(json_text, match.start())
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            if code:
                value = {**value, "code": code.group(1)}
            return Proposal.model_validate(value)
    raise ValueError("no JSON object in the reply")


def make_proposer(name: str, **kwargs) -> Proposer:
    """``search`` (default, offline), ``anthropic`` or ``openai`` (any compatible endpoint)."""
    kinds = {"search": SearchProposer, "anthropic": AnthropicProposer,
             "openai": OpenAICompatibleProposer}
    if name not in kinds:
        raise ValueError(f"unknown proposer {name!r}; choose from {sorted(kinds)}")
    return kinds[name](**kwargs)
