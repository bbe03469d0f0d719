"""Stage artifacts kept at an fsspec URL (``s3://bucket/w2s``, ``gs://…``, ``file:///…``).

Sweep workers on other machines cannot share a folder unless one is mounted. With a
URL, each worker keeps a local cache, copies in the artifacts its runs need before it
starts (so cached stages cost nothing) and copies out what it computed afterwards. An
artifact carries its own checksum (``cache.ArtifactStore``), so a copy is verified when
it is read, and a copy lands under a temporary name and is then renamed: a reader never
sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .cache import ArtifactStore

ENV_VAR = "W2S_SHARED_STORAGE"  # set on sweep workers whose artifacts live at a URL


def is_url(location: str) -> bool:
    return "://" in location


class SharedStore:
    """A folder of artifacts behind any fsspec filesystem."""

    def __init__(self, url: str):
        try:
            import fsspec
        except ImportError:
            raise ImportError("an artifact URL needs fsspec: pip install fsspec (plus s3fs or "
                              "gcsfs for cloud storage)") from None
        self.url = url
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        self.fs.makedirs(self.root, exist_ok=True)

    def _remote(self, key: str) -> str:
        return f"{self.root}/{key}.pkl"

    def local_cache(self) -> Path:
        """This machine's cache folder for the URL (shared by its workers)."""
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"w2s-cache-{digest}"

    def pull(self, keys: Iterable[str], store: ArtifactStore) -> int:
        """Copy the artifacts among ``keys`` that the URL has and ``store`` lacks; returns
        how many were copied."""
        copied = 0
        for key in dict.fromkeys(keys):
            if store.path(key).exists() or not self.fs.exists(self._remote(key)):
                continue
            partial = store.path(key).with_name(f".{key}.{os.getpid()}.pull")
            self.fs.get_file(self._remote(key), str(partial))
            os.replace(partial, store.path(key))
            copied += 1
        return copied

    def push(self, store: ArtifactStore) -> int:
        """Copy every artifact of ``store`` that the URL lacks; returns how many."""
        copied = 0
        for path in sorted(store.root.glob("*.pkl")):
            remote = self._remote(path.stem)
            if self.fs.exists(remote):
                continue
            partial = f"{remote}.{os.getpid()}.partial"
            self.fs.put_file(str(path), partial)
            self.fs.mv(partial, remote)
            copied += 1
        return copied
