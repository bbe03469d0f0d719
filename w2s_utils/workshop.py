"""The workshop kit: one archive of the caches a profile's notebooks need, so that a room
of laptops runs every notebook without embedding a text or training a model.

    python -m w2s_utils.workshop pack                       # make workshop-cache
    python -m w2s_utils.workshop unpack dist/w2s-workshop-cache.tar.gz
    python -m w2s_utils.workshop check                      # runs the profile: computes nothing?

``pack`` executes the profile's notebooks into a fresh cache folder, so the archive holds
exactly what they read (the embedding cache and the pipeline's artifacts), with a
manifest of every file's sha256 and a ``.sha256`` file beside the archive. ``unpack``
verifies both before it touches the cache, then only adds: an artifact already there is
kept, embedding rows are merged. ``check`` counts what a run adds to the cache.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import closing
from pathlib import Path
from unittest.mock import patch

from .code_keys import stage_code
from .config import NOTEBOOKS, ParameterError
from .paths import cache_dir, project_root
from .weights import sha256_file

PROFILE = "workshop"
ARCHIVE = Path("dist") / "w2s-workshop-cache.tar.gz"
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.sqlite"
ARTIFACTS = "artifacts"


class KitError(Exception):
    """A bad archive or a bad request: the message says what and what to do."""


def inventory(folder: Path) -> dict:
    """What a cache folder holds that costs compute: artifact keys, embedding rows per model."""
    folder = Path(folder)
    artifacts = sorted(p.stem for p in (folder / ARTIFACTS).glob("*.pkl"))
    rows: dict[str, int] = {}
    if (folder / EMBEDDINGS).exists():
        with closing(sqlite3.connect(folder / EMBEDDINGS)) as db:
            rows = dict(db.execute("SELECT model, COUNT(*) FROM vectors GROUP BY model"))
    return {"artifacts": artifacts, "embeddings": rows}


def computed(before: dict, after: dict) -> dict:
    """What appeared between two inventories: new artifacts, and new embedding rows."""
    new_rows = {m: n - before["embeddings"].get(m, 0) for m, n in after["embeddings"].items()}
    return {"artifacts": sorted(set(after["artifacts"]) - set(before["artifacts"])),
            "embeddings": {m: n for m, n in new_rows.items() if n > 0}}


def run_profile(profile: str, names: list[str], cache: Path) -> float:
    """Execute ``names`` on ``profile`` with ``cache`` as the cache folder, into a
    throw-away runs folder (so an up-to-date copy never skips one); returns seconds."""
    from . import notebooks

    with (tempfile.TemporaryDirectory(prefix="w2s-workshop-runs-") as runs,
          patch.dict(os.environ, {"W2S_CACHE_DIR": str(cache), "W2S_RUNS_DIR": runs})):
        start = time.perf_counter()
        notebooks.run(names, profile, {}, force=True)
        return time.perf_counter() - start


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_root(), text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def pack(archive: Path, profile: str = PROFILE, names: list[str] | None = None) -> dict:
    """Run ``names`` (default: every notebook) on ``profile`` into a fresh cache and pack
    that cache into ``archive`` plus ``archive.sha256``; returns the manifest."""
    names = names or list(NOTEBOOKS)
    archive = Path(archive).resolve()
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="w2s-workshop-cache-", dir=archive.parent) as tmp:
        seconds = run_profile(profile, names, Path(tmp))
        return write_archive(Path(tmp), archive, {"profile": profile, "notebooks": names,
                                                  "build_seconds": round(seconds)})


def write_archive(cache: Path, archive: Path, about: dict) -> dict:
    """Pack a cache folder's embeddings and artifacts, with a manifest (``about`` plus
    the code version and every file's sha256), into ``archive`` and ``archive.sha256``."""
    files = [cache / EMBEDDINGS] if (cache / EMBEDDINGS).exists() else []
    files += sorted((cache / ARTIFACTS).glob("*.pkl"))
    manifest = {
        **about, "created": time.strftime("%Y-%m-%d %H:%M"), "git_commit": _git_commit(),
        "code_version": stage_code(), "embeddings": inventory(cache)["embeddings"],
        "files": {str(f.relative_to(cache)): {"sha256": sha256_file(f),
                                              "bytes": f.stat().st_size} for f in files},
    }
    partial = archive.with_name(f".{archive.name}.partial")
    with tarfile.open(partial, "w:gz") as tar:
        info = tarfile.TarInfo(MANIFEST)
        data = (json.dumps(manifest, indent=1) + "\n").encode()
        info.size, info.mtime = len(data), int(time.time())
        tar.addfile(info, io.BytesIO(data))
        for name in manifest["files"]:
            tar.add(cache / name, arcname=name)
    os.replace(partial, archive)
    Path(f"{archive}.sha256").write_text(f"{sha256_file(archive)}  {archive.name}\n")
    return manifest


def _expected_sha256(archive: Path, sha256: str | None) -> str:
    if sha256:
        return sha256.strip().lower()
    sidecar = Path(f"{archive}.sha256")
    if not sidecar.exists():
        raise KitError(f"no {sidecar.name} beside the archive to verify it against: copy it "
                       "along, or pass --sha256 with the value the host published")
    return sidecar.read_text().split()[0].lower()


def _members(tar: tarfile.TarFile, manifest: dict) -> list[tarfile.TarInfo]:
    """The archive's files, each a plain file named in the manifest (no links, no paths
    that leave the folder)."""
    members = [m for m in tar.getmembers() if m.name != MANIFEST]
    names = {m.name for m in members}
    if names != set(manifest["files"]):
        raise KitError(f"the archive's files differ from its manifest (extra: "
                       f"{sorted(names - set(manifest['files']))[:3]}, missing: "
                       f"{sorted(set(manifest['files']) - names)[:3]})")
    for member in members:
        if not member.isfile() or member.name.startswith("/") or ".." in Path(member.name).parts:
            raise KitError(f"refusing {member.name!r}: not a plain file inside the cache")
    return members


def unpack(archive: Path, into: Path | None = None, sha256: str | None = None) -> dict:
    """Verify ``archive`` and add its caches to ``into`` (default: this checkout's cache);
    returns what was added. Nothing is overwritten: an artifact that is there stays."""
    archive = Path(archive)
    if not archive.is_file():
        raise KitError(f"{archive}: no such file")
    expected, actual = _expected_sha256(archive, sha256), sha256_file(archive)
    if actual != expected:
        raise KitError(f"{archive.name}: sha256 {actual[:16]}… is not the published "
                       f"{expected[:16]}…: the copy is damaged or not the host's; fetch it again")
    target = Path(into) if into is not None else cache_dir()
    (target / ARTIFACTS).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".w2s-unpack-", dir=target) as tmp, \
            tarfile.open(archive, "r:gz") as tar:
        manifest = json.load(tar.extractfile(MANIFEST))
        for member in _members(tar, manifest):
            path = Path(tmp) / member.name
            path.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as source, open(path, "wb") as dest:
                shutil.copyfileobj(source, dest)
            if sha256_file(path) != manifest["files"][member.name]["sha256"]:
                raise KitError(f"{member.name} does not match the manifest's sha256")
        before = inventory(target)
        for name in manifest["files"]:
            source, dest = Path(tmp) / name, target / name
            if name == EMBEDDINGS:
                _merge_embeddings(source, dest)
            elif not dest.exists():
                os.replace(source, dest)
        added = computed(before, inventory(target))
    if manifest["code_version"] != stage_code():
        print(f"note: the archive's artifacts were built by other code (version "
              f"{manifest['code_version']}, this checkout {stage_code()}, commit "
              f"{manifest['git_commit'][:10]}): embeddings still apply, and each linear "
              "probe is recomputed on them (about a second each)", file=sys.stderr)
    return {"manifest": manifest, "added": added, "into": str(target)}


def _merge_embeddings(source: Path, dest: Path) -> None:
    if not dest.exists():
        shutil.move(source, dest)
        return
    with closing(sqlite3.connect(dest, timeout=60)) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, text_hash TEXT, "
                   "dim INTEGER, vector BLOB, PRIMARY KEY (model, text_hash))")
        db.execute("ATTACH DATABASE ? AS kit", (str(source),))
        db.execute("INSERT OR IGNORE INTO vectors SELECT * FROM kit.vectors")


def check(profile: str = PROFILE, names: list[str] | None = None,
          into: Path | None = None) -> dict:
    """Run ``names`` on ``profile`` against the cache and say what they computed."""
    names = names or list(NOTEBOOKS)
    cache = Path(into) if into is not None else cache_dir()
    before = inventory(cache)
    seconds = run_profile(profile, names, cache)
    return {"seconds": seconds, "computed": computed(before, inventory(cache))}


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m w2s_utils.workshop",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pack_cmd = sub.add_parser("pack", help="run the profile into a fresh cache; archive it")
    pack_cmd.add_argument("--out", type=Path, default=ARCHIVE)
    unpack_cmd = sub.add_parser("unpack", help="verify an archive, add it to the cache")
    unpack_cmd.add_argument("archive", type=Path)
    unpack_cmd.add_argument("--sha256", help="the published digest (default: ARCHIVE.sha256)")
    check_cmd = sub.add_parser("check", help="run the profile; fail if it computed anything")
    for cmd in (pack_cmd, check_cmd):
        cmd.add_argument("--profile", default=PROFILE)
        cmd.add_argument("notebooks", nargs="*", help="default: every notebook")
    for cmd in (unpack_cmd, check_cmd):
        cmd.add_argument("--into", type=Path, help="cache folder (default: this checkout's)")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            manifest = pack(args.out, args.profile, args.notebooks)
            total = sum(f["bytes"] for f in manifest["files"].values())
            artifacts = sum(name != EMBEDDINGS for name in manifest["files"])
            print(f"[w2s] {args.out} ({_size(args.out.stat().st_size)}; {_size(total)} "
                  f"unpacked): {artifacts} artifacts, embeddings "
                  f"{manifest['embeddings']}; built in {manifest['build_seconds']} s; "
                  f"sha256 in {args.out}.sha256")
        elif args.command == "unpack":
            result = unpack(args.archive, args.into, args.sha256)
            added = result["added"]
            print(f"[w2s] verified {args.archive.name}; added to {result['into']}: "
                  f"{len(added['artifacts'])} artifacts, embedding rows {added['embeddings']}")
        else:
            result = check(args.profile, args.notebooks, args.into)
            new = result["computed"]
            print(f"[w2s] {args.profile}: ran in {result['seconds']:.0f} s; computed "
                  f"{len(new['artifacts'])} artifacts, embedded {new['embeddings'] or 'nothing'}")
            if new["artifacts"] or new["embeddings"]:
                print("\n".join(f"  new: {a}" for a in new["artifacts"][:20]), file=sys.stderr)
                return 1
    except (KitError, ParameterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
