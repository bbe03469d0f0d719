"""Content-addressed artifact store for pipeline stages.

An artifact's key is a hash of its stage name, its complete config and the version of
the code that computes it (``code_keys``), so changing anything that determines a
result gives a new key. Writes are
atomic (temp file + rename) and every file carries a sha256 of its payload: a
partial or corrupt artifact is detected on read, removed and rebuilt — never returned.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .code_keys import stage_code
from .paths import cache_dir

log = logging.getLogger(__name__)
_MAGIC = b"W2SART1 "
def stage_key(stage: str, config: dict, code: str | None = None) -> str:
    blob = json.dumps({"stage": stage, "config": config, "code": code or stage_code()},
                      sort_keys=True, default=str)
    return f"{stage}-{hashlib.sha256(blob.encode()).hexdigest()[:32]}"


class CorruptArtifact(Exception):
    pass


class ArtifactStore:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else cache_dir() / "artifacts"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pkl"

    def write(self, key: str, payload: Any) -> None:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        header = _MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n"
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(header + data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> Any:
        """The payload; raises FileNotFoundError or CorruptArtifact."""
        raw = self.path(key).read_bytes()
        header, _, data = raw.partition(b"\n")
        if not header.startswith(_MAGIC) or len(header) != len(_MAGIC) + 64:
            raise CorruptArtifact(f"{key}: bad header")
        if hashlib.sha256(data).hexdigest().encode() != header[len(_MAGIC):]:
            raise CorruptArtifact(f"{key}: checksum mismatch (partial or corrupt write)")
        return pickle.loads(data)

    def exists(self, key: str) -> bool:
        try:
            self.read(key)
            return True
        except (FileNotFoundError, CorruptArtifact):
            return False

    def get_or_compute(self, key: str, compute: Callable[[], Any], force: bool = False):
        """Return the cached payload, or compute, store and return it."""
        if not force:
            try:
                return self.read(key)
            except FileNotFoundError:
                pass
            except (CorruptArtifact, pickle.UnpicklingError, EOFError) as error:
                log.warning("rebuilding corrupt artifact %s (%s)", key, error)
                self.path(key).unlink(missing_ok=True)
        payload = compute()
        self.write(key, payload)
        return payload
