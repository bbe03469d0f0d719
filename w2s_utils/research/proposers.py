"""Proposers by name: ``search`` (the default; offline Optuna TPE, no key, see ``search``),
``anthropic`` and ``openai`` (LLMs, see ``llm``)."""

from __future__ import annotations

from .llm import AnthropicProposer, OpenAICompatibleProposer
from .proposals import Proposer
from .search import SearchProposer


def make_proposer(name: str, **kwargs) -> Proposer:
    """``search`` (default, offline), ``anthropic`` or ``openai`` (any compatible endpoint)."""
    kinds = {"search": SearchProposer, "anthropic": AnthropicProposer,
             "openai": OpenAICompatibleProposer}
    if name not in kinds:
        raise ValueError(f"unknown proposer {name!r}; choose from {sorted(kinds)}")
    return kinds[name](**kwargs)
