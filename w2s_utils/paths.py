"""Where the project keeps its caches, figures and executed notebooks.

Everything resolves from one root so that a notebook run from ``notebooks/`` and a
script run from the repository write to the same places. Environment variables
override each location (tests point them at temporary folders).
"""

from __future__ import annotations

import os
from pathlib import Path

BATCH_ENV = "W2S_BATCH"  # set by the notebook runner: no person drives the kernel


def project_root() -> Path:
    """The repository root: ``$W2S_HOME``, else the checkout this package runs from (so the
    runner works from any folder), else the nearest folder above the current one holding
    ``params/`` and ``w2s_utils/``, else the current folder."""
    if env := os.environ.get("W2S_HOME"):
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (Path(__file__).resolve().parent.parent, here, *here.parents):
        if (folder / "params").is_dir() and (folder / "w2s_utils").is_dir():
            return folder
    return here


def cache_dir() -> Path:
    return _ensure(os.environ.get("W2S_CACHE_DIR"), project_root() / ".w2s_cache")


def figures_dir() -> Path:
    return _ensure(os.environ.get("W2S_FIGURES_DIR"), project_root() / "figures")


def runs_dir() -> Path:
    return _ensure(os.environ.get("W2S_RUNS_DIR"), project_root() / "runs")


def _ensure(override: str | None, default: Path) -> Path:
    path = Path(override) if override else default
    path.mkdir(parents=True, exist_ok=True)
    return path
