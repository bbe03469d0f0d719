"""What the sandbox's filesystem shows: read-only mounts of exactly the runtime an idea
needs (the interpreter, the packages this process loaded and what they require, the
package's source), with data sets bundled inside packages masked.

Computed from the running agent process, so an environment with other packages mounts
its own; anything not listed here does not exist inside the jail.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Data sets bundled inside packages the runtime loads: masked with an empty folder.
BUNDLED_DATA = ("sklearn/datasets/data", "sklearn/datasets/descr", "sklearn/datasets/images")

def _top_entry(path: Path, roots: list[Path]) -> Path | None:
    """The top-level package folder (or single module) under a site folder."""
    for root in roots:
        try:
            relative = path.relative_to(root)
        except ValueError:
            continue
        return root / relative.parts[0] if relative.parts else None
    return None


def runtime_mounts() -> tuple[list[str], list[str]]:
    """Read-only mounts for the jail, and the bundled-data folders to mask in them:
    the interpreter (its own site-packages masked), and from this environment's
    site-packages only what this process has loaded, plus metadata and ``.pth`` files."""
    base = Path(sys.base_prefix).resolve()
    sites = sorted({Path(p).resolve() for p in (sysconfig.get_paths()["purelib"],
                                                sysconfig.get_paths()["platlib"])})
    mounts = {base, Path(sys.prefix).resolve() / "pyvenv.cfg",
              Path(sys.prefix).resolve() / "bin"}
    for system in ("/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache"):
        if os.path.exists(system):
            mounts.add(Path(system))
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file or not os.path.isabs(file):
            continue
        path = Path(file).resolve()
        top = _top_entry(path, sites)
        if top is None and not path.is_relative_to(base) and "." not in name \
                and path.name == "__init__.py":  # a package outside them (editable)
            top = path.parent
        if top is not None:
            mounts.add(top)
    for distribution in _dependency_closure(frozenset(n.split(".")[0] for n in sys.modules)):
        mounts.update(_installed_tops(distribution, tuple(sites)))  # torch → sympy (lazy)
    maps = Path("/proc/self/maps")
    if maps.exists():  # native libraries loaded from package folders (e.g. torch's)
        for line in maps.read_text().splitlines():
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith("/"):
                top = _top_entry(Path(parts[5].strip()), sites)
                if top is not None and top.exists():
                    mounts.add(top)
    for site in sites:
        for entry in site.iterdir():
            if entry.suffix in (".pth", ".dist-info", ".egg-info") or entry.name.endswith(
                    ".libs") or entry.name.startswith("__editable__"):
                mounts.add(entry)
    masks = [str(m / d.split("/", 1)[1]) for m in mounts for d in BUNDLED_DATA
             if m.name == d.split("/", 1)[0]]
    # Package folders of the interpreter and the system: not this environment's, masked.
    for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages"):
        for prefix in (base, Path("/usr"), Path("/usr/local")):
            masks += [str(p) for p in prefix.glob(pattern) if p.resolve() not in sites]
    mounts = _outermost(mounts)
    return [str(m) for m in mounts], sorted(masks)


_TOPS: dict[tuple[str, str, tuple[Path, ...]], frozenset[Path]] = {}


def _installed_tops(distribution: metadata.Distribution,
                    sites: tuple[Path, ...]) -> frozenset[Path]:
    """The top-level folders and modules a distribution puts into ``sites``. One path per
    top-level name is resolved, not every file, and once per process: resolving all of
    torch's files took ~7 s per idea."""
    key = (distribution.metadata["Name"], str(distribution.locate_file("")), sites)
    if key in _TOPS:
        return _TOPS[key]
    # A file's first part names its top entry; a path that climbs out ("../bin") is kept.
    firsts = {file.parts[0] if file.parts[0] != ".." else str(file)
              for file in distribution.files or () if file.parts}
    tops = set()
    for first in firsts:
        top = _top_entry(Path(distribution.locate_file(first)).resolve(), list(sites))
        if top is not None and top.exists():
            tops.add(top)
    _TOPS[key] = frozenset(tops)
    return _TOPS[key]


@lru_cache(maxsize=8)
def _dependency_closure(modules: frozenset[str]) -> list[metadata.Distribution]:
    """The distributions providing ``modules`` and everything they require (no extras)."""
    providers = metadata.packages_distributions()
    todo = {d for m in modules for d in providers.get(m, ())}
    seen: dict[str, metadata.Distribution] = {}
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        try:
            seen[name] = distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for line in distribution.requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.add(requirement.name)
    return list(seen.values())


def _outermost(paths: set[Path]) -> list[Path]:
    """``paths`` without those inside another one's folder (prefix lookups, not pairs)."""
    kept, folders = [], set()
    for path in sorted(paths, key=lambda p: len(p.parts)):
        if not any(path.parts[:i] in folders for i in range(1, len(path.parts))):
            kept.append(path)
            if path.is_dir():
                folders.add(path.parts)
    return sorted(kept)
