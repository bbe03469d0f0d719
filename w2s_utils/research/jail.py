"""The inside of the sandbox (see ``sandbox``): runs one idea's code and writes predictions.

Started by ``sandbox.run_code`` as ``python -m w2s_utils.research.jail <job>``, under
``unshare`` with new user, mount, PID, network, IPC and UTS namespaces. As PID 1 of that
namespace this *supervisor* builds a new root from read-only bind mounts of exactly the
paths the job lists (the interpreter, the loaded packages, the job's label-free inputs),
pivots into it and detaches the old root, so nothing else of the host's filesystem
exists for the code. It then forks the *worker*, which gives up its capabilities (a
nested user namespace: it can no longer change mounts), sets resource limits, installs
an audit hook that names forbidden acts, and only then runs the idea's source. The
supervisor reports how the worker ended in ``out/status.json``.

Nothing here trusts the worker: the parent re-validates every output.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import resource
import signal
import sys
import traceback
from pathlib import Path

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}
# statvfs flags that a user namespace may not clear on a bind mount: kept on remount.
ST_LOCKED = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC}
SANDBOX_MODULE = "w2s_utils.methods._sandboxed_idea"

_libc = ctypes.CDLL(None, use_errno=True)


class Violation(BaseException):
    """A forbidden act (BaseException: ``except Exception`` in the idea does not hide it)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags),
                       enc(data)), f"mount {source} on {target}")


def _bind(source: str, target: str, writable: bool) -> None:
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        Path(target).touch()
    _mount(source, target, None, MS_BIND)  # not recursive: no submount comes along
    locked = sum(flag for bit, flag in ST_LOCKED.items() if os.statvfs(source).f_flag & bit)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | locked
    if writable:
        flags &= ~MS_RDONLY
    else:
        flags |= MS_RDONLY
    _mount(None, target, None, flags)


def build_root(job: dict, root: str) -> None:
    """A fresh tmpfs root holding only the job's mounts, then pivot into it."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.makedirs(root, exist_ok=True)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755")
    os.makedirs(f"{root}/tmp", exist_ok=True)  # first: job folders may lie under /tmp
    _mount("tmpfs", f"{root}/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    for path in job["mounts"]:
        _bind(path, root + path, writable=False)
    for path in job["writable"]:
        _bind(path, root + path, writable=True)
    for path in job["masks"]:  # e.g. a package's bundled data sets: an empty folder
        if os.path.isdir(root + path):
            _mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV,
                   "size=4k,mode=0555")
    for device in ("null", "zero", "urandom", "random"):
        _bind(f"/dev/{device}", f"{root}/dev/{device}", writable=True)
    os.makedirs(f"{root}/proc", exist_ok=True)
    _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chdir(root)
    os.makedirs(".old", exist_ok=True)
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(f"pivot_root: unsupported machine {platform.machine()}")
    _check(_libc.syscall(number, b".", b".old"), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def drop_privileges() -> None:
    """A nested user namespace: full capabilities there, none over our mounts."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER), "unshare user namespace")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"65534 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"65534 {gid} 1")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def set_limits(limits: dict) -> None:
    cpu = int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
    # Address space: what the loaded runtime already maps plus the idea's allowance.
    mapped = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    memory = mapped + int(limits["memory_mb"]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    size = int(limits["output_mb"]) * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class Guard:
    """An audit hook that refuses, while the idea runs, what an idea has no use for:
    opening files outside its view, and, by its own code, network, new processes and
    native code.
    Not the boundary (the namespaces are): it turns attempts into clear errors."""

    EVENTS = {"socket.connect": "network", "socket.bind": "network",
              "socket.getaddrinfo": "network", "subprocess.Popen": "a subprocess",
              "os.system": "a shell command", "os.exec": "exec", "os.posix_spawn": "a process",
              "os.fork": "fork", "os.forkpty": "fork", "pty.spawn": "a process",
              "ctypes.dlopen": "native code (ctypes)", "ctypes.dlsym": "native code (ctypes)",
              "ctypes.cdata": "raw memory (ctypes)", "os.kill": "signalling processes"}

    def __init__(self, readable: list[str]):
        self.readable = tuple(p.rstrip("/") + "/" for p in readable)
        self.active = False
        self.violations: list[str] = []

    STDLIB = os.path.dirname(os.__file__) + "/"

    @classmethod
    def by_the_idea(cls) -> bool:
        """Whether the idea's own code (directly, or through the standard library) did it:
        libraries the idea calls load native code and open files as they need to."""
        frame = sys._getframe(2)
        while frame is not None and frame.f_code.co_filename.startswith(cls.STDLIB):
            frame = frame.f_back
        return frame is not None and frame.f_code.co_filename == "<idea>"

    def allowed_path(self, path, listing: bool = False) -> bool:
        """Inside a readable path; for listings also its ancestors (the import system
        lists the folders on the way to a package)."""
        if isinstance(path, int):
            return True
        try:
            full = os.path.realpath(os.fsdecode(path)).rstrip("/") + "/"
        except (TypeError, ValueError):
            return False
        return full.startswith(self.readable) or listing and any(
            r.startswith(full) for r in self.readable)

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        what = None
        if event == "open" and args and not self.allowed_path(args[0]):
            what = f"reading {os.fsdecode(args[0])!r}, outside the idea's data view"
        elif event in ("os.listdir", "os.scandir") and args and args[0] is not None \
                and not self.allowed_path(args[0], listing=True):
            what = f"listing {os.fsdecode(args[0])!r}, outside the idea's data view"
        elif event in self.EVENTS and self.by_the_idea():
            what = f"{self.EVENTS[event]} ({event})"
        if what:
            self.violations.append(what)
            raise Violation(what)


def _write_status(out: Path, status: dict) -> None:
    tmp = out / "status.json.tmp"
    tmp.write_text(json.dumps(status))
    os.replace(tmp, out / "status.json")


def worker(job: dict, job_dir: Path, out: Path, sandboxed: bool) -> None:
    """Load the idea, train it on the label-free inputs, save test/holdout predictions."""
    import numpy as np
    import torch

    from w2s_utils import experiment
    from w2s_utils.classifier import FeatureInputs
    from w2s_utils.experiment import Experiment
    from w2s_utils.learner import Learner
    from w2s_utils.methods import Method, StudentContext
    from w2s_utils.models import get_model
    from w2s_utils.tasks import Split, TaskSplits

    torch.set_num_threads(int(job["limits"]["threads"]))
    arrays = np.load(job_dir / "inputs.npz", allow_pickle=False)
    # The experiment was checked where it was built; its data set is masked here, so the
    # size check (which loads it) could only fail, on every task whose data is a package.
    experiment.check_sizes = lambda *args, **kwargs: None
    exp = Experiment.model_validate_json(job["experiment"])
    texts = json.loads((job_dir / "texts.json").read_text())
    splits = {}
    for name in ("weak_train", "pool", "val", "test", "holdout"):
        features = arrays[f"x_{name}"]
        n = len(features)
        splits[name] = Split(ids=np.asarray(texts[name]["ids"], dtype=object),
                             texts=list(texts[name]["texts"]),
                             labels=np.full(n, -1, dtype=np.int64), features=features)
    task_splits = TaskSplits(exp.task, exp.seed, exp.balanced, splits, float("nan"))
    learner = Learner.__new__(Learner)  # the agent's embedded inputs, no encoder needed
    learner.spec, learner.regime = get_model(exp.strong_model), "linear_probe"
    learner.splits = task_splits
    learner.config, learner.train_split = exp.train_config, "pool"
    learner.inputs = {s: FeatureInputs(arrays[f"x_{s}"]) for s in splits}
    weak = {"pool": arrays["weak_pool"], "val": arrays["weak_val"]}
    if sandboxed:
        drop_privileges()
    set_limits(job["limits"])
    guard = Guard(job["readable"])
    if job["guard"]:
        sys.addaudithook(guard)
    source = (job_dir / "idea.py").read_text()
    status: dict = {"kind": "ok"}
    try:
        guard.active = True
        module = type(sys)(SANDBOX_MODULE)
        module.__package__ = "w2s_utils.methods"
        module.__file__ = "<idea>"
        sys.modules[SANDBOX_MODULE] = module
        exec(compile(source, "<idea>", "exec"), module.__dict__)
        found = [v for v in vars(module).values() if isinstance(v, type)
                 and issubclass(v, Method) and v.__module__ == SANDBOX_MODULE]
        if len(found) != 1:
            raise _Contract(f"the source must define exactly one Method subclass, found "
                            f"{len(found)}")
        method = found[0]()
        if "linear_probe" not in method.regimes:
            raise _Contract("the method does not support the linear_probe regime")
        params = method.Params(**job["params"])
        context = StudentContext(experiment=exp, splits=task_splits, weak=weak,
                                 learner=learner, params=params, progress=False)
        result = method.run(context)
        predictions = learner.predict(result, ("test", "holdout"))
        guard.active = False
        for split, values in predictions.items():
            np.save(out / f"{split}.npy", np.asarray(values, dtype=np.float64))
    except Violation as error:
        status = {"kind": "forbidden_access", "message": str(error)}
    except _Contract as error:
        status = {"kind": "contract", "message": str(error)}
    except MemoryError:
        status = {"kind": "memory_limit", "message": "the idea ran out of its memory "
                                                     f"allowance ({job['limits']['memory_mb']} MB)"}
    except BaseException as error:  # the idea's own failure: reported, never raised on
        status = {"kind": "crash", "message": f"{type(error).__name__}: {error}"[:500],
                  "traceback": traceback.format_exc()[-2000:]}
    guard.active = False
    if guard.violations:  # caught and hidden by the idea: still a violation
        status = {"kind": "forbidden_access", "message": guard.violations[0]}
    _write_status(out, status)


class _Contract(Exception):
    pass


def _preload() -> None:
    """Import the runtime while the whole filesystem is still visible (trusted code):
    the idea then finds it in memory, and lazily loaded parts in the mounts."""
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import w2s_utils.methods  # noqa: F401
    import w2s_utils.pipeline  # noqa: F401


def supervise(job_dir: Path) -> int:
    job = json.loads((job_dir / "job.json").read_text())
    _preload()
    sandboxed = job["isolation"] == "namespaces"
    out = Path(job["out"])
    if sandboxed:
        build_root(job, job["root"])
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            worker(job, job_dir, out, sandboxed)
        except BaseException:
            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    _, wait_status = os.waitpid(pid, 0)
    if sandboxed:  # PID 1: anything the idea left behind dies with us anyway
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if os.WIFSIGNALED(wait_status):
        number = os.WTERMSIG(wait_status)
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = cpu.ru_utime + cpu.ru_stime
        if number == signal.SIGXCPU or used >= job["limits"]["cpu_seconds"]:
            status = {"kind": "cpu_limit", "message": f"the idea used its "
                      f"{job['limits']['cpu_seconds']} CPU seconds"}
        else:
            status = {"kind": "crash", "message": f"the idea's process died of signal "
                      f"{signal.Signals(number).name}"}
        _write_status(out, status)
    elif not (out / "status.json").exists():
        _write_status(out, {"kind": "crash", "message": "the idea's process exited "
                            f"with code {os.WEXITSTATUS(wait_status)} and no result"})
    return 0


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1])))
