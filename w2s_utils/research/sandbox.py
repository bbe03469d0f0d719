"""Ideas as code: run a ``Method`` plug-in's source in a sandbox that holds no labels.

**What is guaranteed** (``isolation="namespaces"``, Linux with user namespaces, the
default where available): the code runs in a separate process tree (``jail``) in new
user, mount, PID, network, IPC and UTS namespaces. Its filesystem is a fresh root of
read-only bind mounts of exactly: the interpreter and its standard library, the
packages this (agent) process has loaded (with package-bundled data sets masked), the
``w2s_utils`` source, and one job folder holding the label-free inputs: features, texts
and ids of every split, the weak soft labels on ``pool``/``val``, and the idea's source.
The old root is detached, so the evaluation server's database, the artifact cache (which
holds the splits' labels), data packages and home folders do not exist for it; the
server's and the agent's memory are in other PID namespaces; the only network device is
a loopback that is down; the environment is replaced (no API keys). The worker gives up
its capabilities over those mounts (a nested user namespace, ``no_new_privs``) and runs
under ``RLIMIT_CPU``, ``RLIMIT_AS``, ``RLIMIT_FSIZE`` and a wall-clock timeout after
which its whole PID namespace is killed.

**What is not**: this is not a VM. A kernel exploit escapes it; a fork bomb is bounded
only by the wall clock (``RLIMIT_NPROC`` does not bind root-mapped users), and memory by
address space, not cgroups. The import allowlist and the audit hook (``jail.Guard``)
are *not* boundaries: Python code can get around them. They exist to turn honest
mistakes and crude attempts into distinct, clear errors; ground truth is protected by
its absence. ``isolation="process"`` (no namespaces: other systems, or user namespaces
disabled) keeps the limits, the clean environment and the checks but protects nothing
the user can read: the agent refuses it unless told ``allow_unisolated=True``.

Every way an idea can fail costs one attempt and raises ``CodeError`` with its own
``kind``: ``syntax``, ``forbidden_import``, ``forbidden_code``, ``contract``, ``crash``,
``timeout``, ``cpu_limit``, ``memory_limit``, ``forbidden_access``, ``bad_output``.
"""

from __future__ import annotations

import ast
import ctypes
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .mounts import runtime_mounts

ERROR_KINDS = ("syntax", "forbidden_import", "forbidden_code", "contract", "crash", "timeout",
               "cpu_limit", "memory_limit", "forbidden_access", "bad_output")
# What an idea may import: numerics and the method contract. Everything else (files,
# processes, network, introspection of the interpreter) it has no use for.
ALLOWED_IMPORTS = ("__future__", "math", "typing", "dataclasses", "functools", "itertools",
                   "collections", "numpy", "torch", "pydantic", "w2s_utils.methods",
                   "w2s_utils.losses", "w2s_utils.train", "w2s_utils.classifier")
FORBIDDEN_NAMES = {"__import__", "eval", "exec", "compile", "open", "breakpoint", "input",
                   "globals", "locals", "vars", "getattr", "setattr", "delattr",
                   "__builtins__", "__loader__", "__spec__"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__doc__", "__len__", "__call__", "__repr__"}
PACKAGE = "w2s_utils.methods"  # the idea is loaded as a module of this package
MAX_SOURCE_BYTES = 15_000  # it travels in a finding config (20 kB)


class CodeError(RuntimeError):
    """An idea's code failed in one of ``ERROR_KINDS`` ways; the agent loop goes on."""

    def __init__(self, kind: str, message: str, cpu_seconds: float = 0.0, detail: str = ""):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.cpu_seconds = kind, message, cpu_seconds
        self.detail = detail  # e.g. the traceback's end


class SandboxLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cpu_seconds: int = Field(300, ge=1, le=86_400)
    memory_mb: int = Field(2048, ge=64, le=1_000_000)  # beyond what the runtime maps
    wall_seconds: float = Field(600.0, gt=0, le=86_400)
    output_mb: int = Field(64, ge=1, le=4096)
    threads: int = Field(1, ge=1, le=64)


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _resolve(node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = PACKAGE.split(".")
    base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
    if node.level - 1 >= len(parts):
        return "." * node.level + (node.module or "")
    return ".".join(base + ([node.module] if node.module else []))


def _allowed(module: str) -> bool:
    return any(module == a or module.startswith(a + ".") for a in ALLOWED_IMPORTS)


def check_source(source: str) -> None:
    """Static checks before anything runs (CodeError: syntax, forbidden_import/_code)."""
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise CodeError("syntax", f"source is over {MAX_SOURCE_BYTES} bytes")
    try:
        tree = ast.parse(source, "<idea>")
    except (SyntaxError, ValueError) as error:
        raise CodeError("syntax", f"{type(error).__name__}: {error}") from error
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _allowed(alias.name):
                    raise CodeError("forbidden_import", _import_message(alias.name, node))
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node)
            names = [f"{module}.{a.name}" for a in node.names]
            if not _allowed(module) and not all(_allowed(n) for n in names):
                raise CodeError("forbidden_import", _import_message(module, node))
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            raise CodeError("forbidden_code", f"line {node.lineno}: {node.id!r} is not "
                            "available to ideas")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") \
                and node.attr not in ALLOWED_DUNDERS:
            raise CodeError("forbidden_code", f"line {node.lineno}: attribute "
                            f"{node.attr!r} is not available to ideas")


def _import_message(module: str, node: ast.AST) -> str:
    return (f"line {node.lineno}: import of {module!r}; ideas may import only "
            f"{', '.join(ALLOWED_IMPORTS)}")


def namespaces_available() -> bool:
    """Whether this machine can build the jail (user namespaces and ``unshare``)."""
    return _namespaces_available()


@lru_cache(maxsize=1)
def _namespaces_available() -> bool:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return False
    try:
        done = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


UNSHARE = ("unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork",
           "--kill-child", "--net", "--ipc", "--uts", "--")


@dataclass
class SandboxRun:
    """What a sandboxed idea produced, and what it cost."""

    predictions: dict[str, np.ndarray]
    cpu_seconds: float
    wall_seconds: float
    isolation: str


def write_inputs(folder: Path, splits, features: dict[str, np.ndarray],
                 weak: dict[str, np.ndarray]) -> None:
    """The job's label-free inputs: features, texts and ids per split; weak pool/val."""
    arrays = {f"x_{s}": np.asarray(x, np.float32) for s, x in features.items()}
    arrays.update(weak_pool=np.asarray(weak["pool"], np.float32),
                  weak_val=np.asarray(weak["val"], np.float32))
    np.savez(folder / "inputs.npz", **arrays)
    texts = {s: {"ids": [str(i) for i in splits[s].ids], "texts": list(splits[s].texts)}
             for s in features}
    (folder / "texts.json").write_text(json.dumps(texts))


def run_code(source: str, params: dict, experiment, splits, features: dict[str, np.ndarray],
             weak: dict[str, np.ndarray], limits: SandboxLimits | None = None,
             isolation: str | None = None, check: bool = True,
             guard: bool = True) -> SandboxRun:
    """Train the idea in ``source`` on the label-free inputs; its ``test`` and ``holdout``
    predictions, or CodeError. ``check=False`` and ``guard=False`` skip the static checks
    and the audit hook (tests use them to show that the namespaces hold on their own)."""
    limits = limits or SandboxLimits()
    isolation = isolation or ("namespaces" if namespaces_available() else "process")
    if check:
        check_source(source)
    with tempfile.TemporaryDirectory(prefix="w2s-idea-") as tmp:
        job_dir = Path(tmp, "job")
        out = job_dir / "out"
        out.mkdir(parents=True)
        (job_dir / "idea.py").write_text(source)
        write_inputs(job_dir, splits, features, weak)
        mounts, masks = runtime_mounts()
        # /proc is the jail's own (its PID namespace shows only the idea's processes).
        job = {"isolation": isolation, "experiment": experiment.model_dump_json(),
               "params": params, "limits": limits.model_dump(), "out": str(out),
               "root": str(Path(tmp, "root")), "mounts": mounts + [str(job_dir)],
               "writable": [str(out)], "masks": masks, "guard": guard,
               "readable": mounts + [str(job_dir), "/proc", "/sys", "/dev"]}
        (job_dir / "job.json").write_text(json.dumps(job))
        command = [sys.executable, "-m", "w2s_utils.research.jail", str(job_dir)]
        if isolation == "namespaces":
            command = [*UNSHARE, *command]
        env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
               "OMP_NUM_THREADS": str(limits.threads), "MKL_NUM_THREADS": str(limits.threads),
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}
        before = _children_cpu()
        start = time.monotonic()
        process = subprocess.Popen(command, cwd=tmp, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_die_with(os.getpid()))
        try:
            log, _ = process.communicate(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            _kill(process)
            process.communicate()
            raise CodeError("timeout", f"the idea ran past its {limits.wall_seconds:g} s "
                            "wall-clock limit", _children_cpu() - before) from None
        cpu = _children_cpu() - before
        wall = time.monotonic() - start
        status = _read_status(out, process.returncode, log, cpu)
        if status["kind"] != "ok":
            raise CodeError(status["kind"], str(status.get("message", ""))[:1000], cpu,
                            str(status.get("traceback", ""))[-1500:])
        predictions = {s: _read_predictions(out / f"{s}.npy", len(features[s]), cpu)
                       for s in ("test", "holdout")}
    return SandboxRun(predictions, cpu, wall, isolation)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _die_with(parent: int):
    """A child's first step: die when ``parent`` does. The sandbox runs in a session of its
    own (a terminal's Ctrl-C does not reach it), so without this a killed agent or team
    would leave its idea running until the wall clock; ``unshare --kill-child`` then takes
    the jail down with it."""
    if sys.platform != "linux":
        return None

    def first_step() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)
    return first_step


def _kill(process: subprocess.Popen) -> None:
    """The whole session: ``unshare`` takes its PID namespace down with it."""
    try:
        os.killpg(process.pid, 9)
    except ProcessLookupError:
        pass


def _read_status(out: Path, returncode: int, log: bytes, cpu: float) -> dict:
    try:
        status = json.loads((out / "status.json").read_text())
        if isinstance(status, dict) and status.get("kind") in ("ok", *ERROR_KINDS):
            return status
    except (OSError, ValueError):
        pass
    tail = log.decode(errors="replace")[-500:]
    return {"kind": "crash", "message": f"the sandbox exited with code {returncode} and no "
                                        f"valid status; output: {tail}"}


def _read_predictions(path: Path, n: int, cpu: float) -> np.ndarray:
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise CodeError("bad_output", f"{path.name}: {error}", cpu) from error
    if values.shape != (n,) or not np.issubdtype(values.dtype, np.number):
        raise CodeError("bad_output", f"{path.name}: expected {n} numbers, got shape "
                        f"{values.shape} of {values.dtype}", cpu)
    values = values.astype(np.float64)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise CodeError("bad_output", f"{path.name}: predictions must be probabilities "
                        "in [0, 1]", cpu)
    return values
