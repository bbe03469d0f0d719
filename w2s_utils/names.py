"""Pydantic field types for model and task names: a typo fails validation, naming the
closest valid name. One definition serves notebook parameters, experiments and method
params; the model table is torch-free, so validating a name loads no framework.
(``method_names.MethodName`` does the same for methods.)"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from .models import get_model
from .tasks import get_task


def _known_model(name: str) -> str:
    get_model(name)
    return name


def _known_task(name: str) -> str:
    """The task's canonical name: a relative ``jsonl:``/``csv:`` path becomes absolute,
    resolved against the caller's current folder."""
    return get_task(name).name


ModelName = Annotated[str, AfterValidator(_known_model)]
TaskName = Annotated[str, AfterValidator(_known_task)]
