"""Every agent's earlier prediction sets, packed, for the probing detector."""

from __future__ import annotations

import logging
import secrets
import threading
import time

import numpy as np

from . import detectors
from .queries import HISTORY_NEWER, HISTORY_TOP, INSERT_PACKED


class PredictionHistory:
    """Every agent's earlier packed predictions per split, for the probing detector.

    They live in the secret file (``db.PackedPredictions``), not in the main database.
    This process's own rows are kept in memory at once and written in batches by a
    background thread (every ``flush_s``: a second file in every submission's commit
    cost a third of its time); a crash loses at most that much history, never a score.
    Rows of other processes are read from the file, only those with a higher id than
    any seen: SQLite assigns ids under its write lock, in commit order, so the cache
    stays exact (a database that commits out of id order could hide a row that raced
    another commit). A flush reads the other processes' new rows inside its own write
    transaction and then moves past every id written so far, its own included, so
    the next read does not walk this process's rows again.
    """

    def __init__(self, engine, flush_s: float = 0.25):
        self.engine, self.flush_s = engine, flush_s
        self.writer = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], tuple[int, np.ndarray]] = {}  # newest id, rows
        self._pending: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, daemon=True,
                                        name="w2s-prediction-history")
        self._thread.start()

    def rows(self, agent: str, split: str, width: int) -> np.ndarray:
        """All of the agent's packed rows of ``split`` (``width`` bytes each)."""
        with self._lock:
            newest, _ = self._rows.get((agent, split), (0, None))
        with self.engine.connect() as connection:
            fetched = self._newer(connection, agent, split, newest)
        return self._merge(agent, split, width, fetched)

    def _newer(self, connection, agent: str, split: str, newest: int) -> list:
        return connection.execute(HISTORY_NEWER, {"agent": agent, "split": split,
                                                  "newest": newest,
                                                  "writer": self.writer}).all()

    def _merge(self, agent: str, split: str, width: int, fetched: list,
               top: int = 0) -> np.ndarray:
        """Add the other processes' ``fetched`` rows; the cache then starts past ``top``."""
        with self._lock:
            newest, rows = self._rows.get((agent, split), (0, np.zeros((0, width), np.uint8)))
            fresh = [hard for i, hard in fetched if i > newest and len(hard) == width]
            if fresh:
                rows = np.concatenate([rows, np.frombuffer(b"".join(fresh), np.uint8)
                                       .reshape(len(fresh), width)])
            if fetched:
                newest = max(newest, fetched[-1][0])
            self._rows[(agent, split)] = (max(newest, top), rows)
        return rows

    def add(self, agent: str, split: str, hard: np.ndarray) -> None:
        """Remember ``hard`` now; it reaches the secret file with the next batch."""
        packed = detectors.pack(hard)
        with self._lock:
            newest, rows = self._rows.get((agent, split),
                                          (0, np.zeros((0, len(packed)), np.uint8)))
            if rows.shape[1] == len(packed):
                rows = np.concatenate([rows, np.frombuffer(packed, np.uint8)[None]])
            self._rows[(agent, split)] = (newest, rows)
            self._pending.append({"agent": agent, "split": split, "created": time.time(),
                                  "hard": packed, "writer": self.writer})

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        with self._lock:
            start = {(row["agent"], row["split"]): self._rows[(row["agent"], row["split"])]
                     for row in batch}
        with self.engine.begin() as connection:
            connection.execute(INSERT_PACKED, batch)
            # Under the write lock every lower id is committed: take the others' rows of
            # these agents now, and once ours are committed start past all of them.
            top = connection.execute(HISTORY_TOP).scalar() or 0
            others = {key: self._newer(connection, *key, newest)
                      for key, (newest, _) in start.items()}
        for (agent, split), fetched in others.items():
            self._merge(agent, split, start[(agent, split)][1].shape[1], fetched, top)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:  # a busy file: the rows wait for the next round
                logging.getLogger(__name__).exception("prediction history not written")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
