"""One results table for every finished run, queried as a pandas DataFrame.

Rows live in SQLite (safe for parallel sweep workers). A run's row is keyed by its
artifact key, so rerunning a cached run replaces its row instead of duplicating it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pandas as pd

from .paths import cache_dir, figures_dir

COLUMNS = ["task", "regime", "weak_model", "strong_model", "method", "seed",
           "weak_acc", "student_acc", "ceiling_acc", "pgr"]


def _db_path(path: Path | None) -> Path:
    return Path(path) if path is not None else cache_dir() / "results.sqlite"


def _connect(path: Path | None) -> sqlite3.Connection:
    db = sqlite3.connect(_db_path(path), timeout=60)
    db.execute("CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, recorded REAL, "
               "row TEXT)")
    return db


def record(run_id: str, row: dict, path: Path | None = None) -> None:
    with closing(_connect(path)) as db, db:
        db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?, ?)",
                   (run_id, time.time(), json.dumps(row, default=str)))


def load_results(path: Path | None = None, **filters) -> pd.DataFrame:
    """Every recorded run as a DataFrame; keyword filters select by column value."""
    with closing(_connect(path)) as db:
        rows = db.execute("SELECT run_id, recorded, row FROM runs ORDER BY recorded").fetchall()
    frame = pd.DataFrame([{"run_id": r, "recorded": t, **json.loads(row)}
                          for r, t, row in rows])
    if frame.empty:
        return pd.DataFrame(columns=["run_id", "recorded", *COLUMNS])
    for column, value in filters.items():
        if column not in frame:
            raise KeyError(f"no column {column!r}; columns: {sorted(frame.columns)}")
        frame = frame[frame[column].isin(value if isinstance(value, list) else [value])]
    return frame.reset_index(drop=True)


VOLATILE = ("run_id", "recorded", "code_version", "git_commit", "weak_seconds",
            "ceiling_seconds", "student_seconds", "device")
KEYS = ["task", "regime", "weak_model", "strong_model", "method", "method_params", "seed"]


def export(frame: pd.DataFrame, notebook: str) -> Path:
    """Write the per-seed rows behind a notebook's figures to ``<figures>/<notebook>_results.csv``.

    Sorted, rounded and without timings or ids, so the same runs give the same bytes; the
    per-example ``*_test_correct`` columns let a reader recompute every interval.
    """
    table = frame.drop(columns=[c for c in VOLATILE if c in frame])
    keys = [c for c in KEYS if c in table] + sorted(
        c for c in table.columns if c not in KEYS and table[c].dtype == object)
    table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    table = table[[*keys, *sorted(c for c in table.columns if c not in keys)]]
    path = figures_dir() / f"{notebook}_results.csv"
    table.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
    return path
