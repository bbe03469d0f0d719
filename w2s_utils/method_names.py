"""``MethodName``: a pydantic field type for registered method names (a typo fails naming
the closest). The registry is imported when a name is checked, not when this module is:
it imports every method and torch, and notebook parameters and the runner's command
line should stay quick to load."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _known_method(name: str) -> str:
    from .methods import get_method  # here: loading the registry loads torch

    get_method(name)
    return name


MethodName = Annotated[str, AfterValidator(_known_method)]
