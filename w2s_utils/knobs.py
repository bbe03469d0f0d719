"""One tunable number with its bounds, shared by the workshop explorer's slider and the
research proposers' search space (torch-free, so either can import it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    """A number to tune: its name, default and bounds; ``log`` when the search should
    draw it on a log scale, ``integer`` when only whole values mean anything, and
    ``step`` the resolution a slider offers (None: continuous)."""

    name: str
    default: float
    low: float
    high: float
    log: bool = False
    integer: bool = False
    step: float | None = None

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high
