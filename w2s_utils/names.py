"""Pydantic field types for registry names: a typo fails validation, naming the closest
valid name. One definition serves notebook parameters, experiments and method params."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _known_model(name: str) -> str:
    from .models import get_model  # here, so that notebook parameters validate without torch

    get_model(name)
    return name


def _known_task(name: str) -> str:
    """The task's canonical name: a relative ``jsonl:``/``csv:`` path becomes absolute,
    resolved against the caller's current folder."""
    from .tasks import get_task

    return get_task(name).name


def _known_method(name: str) -> str:
    from .methods import get_method

    get_method(name)
    return name


ModelName = Annotated[str, AfterValidator(_known_model)]
TaskName = Annotated[str, AfterValidator(_known_task)]
MethodName = Annotated[str, AfterValidator(_known_method)]
