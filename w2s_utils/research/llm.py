"""LLM proposers: ask a model for a JSON proposal, showing it the method space, its own
scored results, the leaderboard and the forum's findings. ``AnthropicProposer`` speaks
the Messages API and ``OpenAICompatibleProposer`` any chat-completions endpoint, both
with httpx; a reply that does not validate is sent back with the problem, a few times.
"""

from __future__ import annotations

import json
import os
import re
import time
from abc import abstractmethod

import httpx

from .proposals import Observation, Proposal, ProposalError, Proposer, Usage

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
