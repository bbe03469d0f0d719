"""Per-text embedding cache: (model, sha1 of text) → float32 vector, in one SQLite file.

Per-text keys mean a new split that shares texts with an old one reuses them, and a
repeat call embeds nothing. SQLite makes concurrent writers (sweeps) and interrupted
writes safe; a row of the wrong size is treated as missing and recomputed.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing

import numpy as np

from .paths import cache_dir


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


def _connect() -> sqlite3.Connection:
    db = sqlite3.connect(cache_dir() / "embeddings.sqlite", timeout=60)
    db.execute(
        "CREATE TABLE IF NOT EXISTS vectors (model TEXT, text_hash TEXT, dim INTEGER, "
        "vector BLOB, PRIMARY KEY (model, text_hash))"
    )
    return db


def cached(
    model_key: str, texts: list[str], compute: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """Vectors for ``texts``; only texts missing from the cache go to ``compute``."""
    hashes = [text_hash(t) for t in texts]
    found: dict[str, np.ndarray] = {}
    with closing(_connect()) as db:
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 900):  # SQLite's bound-parameter limit
            chunk = unique[start:start + 900]
            rows = db.execute(
                f"SELECT text_hash, dim, vector FROM vectors WHERE model = ? AND text_hash IN "
                f"({','.join('?' * len(chunk))})",
                [model_key, *chunk],
            )
            for h, dim, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.size == dim:
                    found[h] = vector
        todo = {h: t for h, t in zip(hashes, texts) if h not in found}
        if todo:
            vectors = np.asarray(compute(list(todo.values())), dtype=np.float32)
            with db:
                db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                    [(model_key, h, v.size, v.tobytes()) for h, v in zip(todo, vectors)],
                )
            found.update(zip(todo, vectors))
    return np.stack([found[h] for h in hashes]) if texts else np.zeros((0, 0), np.float32)
