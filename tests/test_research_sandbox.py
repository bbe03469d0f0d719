"""Ideas as code: each way an idea's source can fail gives its own error kind, and an
adaptive attacker inside the sandbox (static checks and audit hook switched off) finds no
ground truth, no network, no keys and no other process."""

import json
import os
import signal
import time
from pathlib import Path

import pytest

from w2s_utils.experiment import Experiment
from w2s_utils.learner import Learner
from w2s_utils.research.sandbox import (
    CodeError,
    SandboxLimits,
    check_source,
    namespaces_available,
    run_code,
)
from w2s_utils.splits import SplitSizes
from w2s_utils.stages import experiment_splits, weak_labels

pytestmark = pytest.mark.skipif(not namespaces_available(),
                                reason="needs Linux user namespaces (unshare)")

GOOD = Path(__file__).parents[1].joinpath("w2s_utils/methods/logconf.py").read_text() \
    .replace('name = "logconf"', 'name = "logconf_sandboxed"')
FAST = SandboxLimits(cpu_seconds=60, memory_mb=1024, wall_seconds=120)


@pytest.fixture(scope="module")
def inputs():
    """A tiny linear-probe task as an agent holds it: no labels, features, weak labels."""
    exp = Experiment(task="synthetic-sentiment",
                     sizes=SplitSizes(weak_train=200, pool=300, val=100, test=200, holdout=200),
                     weak_model="tfidf-logreg", strong_model="static64")
    labelled = experiment_splits(exp)
    splits = labelled.without_labels()
    learner = Learner(exp.strong_model, exp.regime, splits, exp.train_config, progress=False)
    features = {s: learner.inputs[s].x.numpy() for s in learner.inputs}
    return {"experiment": exp, "splits": splits, "features": features,
            "weak": weak_labels(exp)["probs"], "labels": labelled["test"].labels}


def run(inputs, source, params=None, **options):
    options.setdefault("limits", FAST)
    return run_code(source, params or {}, inputs["experiment"], inputs["splits"],
                    inputs["features"], inputs["weak"], **options)


def kind_of(inputs, source, **options) -> CodeError:
    with pytest.raises(CodeError) as caught:
        run(inputs, source, **options)
    return caught.value


def method_source(body: str, imports: str = "") -> str:
    """A plug-in whose ``targets`` runs ``body`` (indented into the method)."""
    lines = "\n".join("        " + line for line in body.strip().splitlines())
    return f"""{imports}
from w2s_utils.methods.base import Method

class Idea(Method):
    name = "idea_under_test"

    def targets(self, ctx):
{lines}
        return ctx.weak["pool"]
"""


def test_good_code_trains_and_predicts(inputs):
    result = run(inputs, GOOD, {"max_coef": 0.3})
    assert result.isolation == "namespaces" and result.cpu_seconds > 0
    test = result.predictions["test"]
    assert test.shape == (200,) and ((test >= 0) & (test <= 1)).all()
    assert ((test > 0.5) == inputs["labels"]).mean() > 0.6  # it really learned


def test_syntax_error(inputs):
    assert kind_of(inputs, "def broken(:\n").kind == "syntax"


def test_forbidden_import(inputs):
    error = kind_of(inputs, method_source("pass", imports="import socket"))
    assert error.kind == "forbidden_import" and "socket" in error.message


def test_forbidden_code(inputs):
    error = kind_of(inputs, method_source("open('/etc/passwd')"))
    assert error.kind == "forbidden_code" and "open" in error.message
    assert check_source(GOOD) is None


def test_crash(inputs):
    error = kind_of(inputs, method_source("raise ValueError('the idea is wrong')"))
    assert error.kind == "crash" and "the idea is wrong" in error.message
    assert "ValueError" in error.detail


def test_contract_violation(inputs):
    assert kind_of(inputs, "x = 1\n").kind == "contract"


def test_infinite_loop_hits_the_cpu_limit(inputs):
    limits = SandboxLimits(cpu_seconds=3, memory_mb=512, wall_seconds=120)
    error = kind_of(inputs, method_source("while True:\n    pass"), limits=limits)
    assert error.kind == "cpu_limit"


def test_infinite_loop_hits_the_wall_clock(inputs):
    limits = SandboxLimits(cpu_seconds=3600, memory_mb=512, wall_seconds=5)
    error = kind_of(inputs, method_source("while True:\n    pass"), limits=limits)
    assert error.kind == "timeout" and "5 s" in error.message


def test_memory_limit(inputs):
    error = kind_of(inputs, method_source("import numpy as np\nx = np.ones(10**11)"))
    assert error.kind == "memory_limit"


def test_label_read_attempt_is_named(inputs, tmp_path):
    secret = tmp_path / "labels.json"
    secret.write_text(json.dumps(inputs["labels"].tolist()))
    source = method_source(f"import numpy as np\nnp.load({str(secret)!r})")
    error = kind_of(inputs, source)  # passes the static checks: numpy reads files too
    assert error.kind == "forbidden_access" and str(secret) in error.message, error


def test_network_attempt_is_named(inputs):
    source = method_source("import socket\ns = socket.socket()\n"
                           "s.connect(('127.0.0.1', 8000))")
    error = kind_of(inputs, source, check=False)
    assert error.kind == "forbidden_access" and "network" in error.message


def test_bad_output(inputs):
    source = """
import numpy as np
from w2s_utils.methods.base import Method

class Fake:
    def predict(self, inputs):
        return np.full(len(inputs), np.nan)

class Idea(Method):
    name = "nan_idea"

    def run(self, ctx):
        return Fake()
"""
    assert kind_of(inputs, source).kind == "bad_output"


ATTACK = r'''
import glob, json, os, socket
from w2s_utils.methods.base import Method

def attack(needles, paths):
    found = {"files": [], "readable": [], "network": None, "env": sorted(os.environ),
             "processes": sorted(p for p in os.listdir("/proc") if p.isdigit())}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                handle.read(1)
            found["readable"].append(path)
        except OSError:
            pass
    for root, dirs, files in os.walk("/"):
        if root.startswith(("/proc", "/sys", "/dev")):
            dirs[:] = []
            continue
        for name in files:
            full = os.path.join(root, name)
            try:
                if os.path.getsize(full) > 5_000_000 or full.endswith((".so", ".pyc")):
                    continue
                with open(full, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if any(n in data for n in needles):
                found["files"].append(full)
    try:
        socket.create_connection(("127.0.0.1", 8000), timeout=2)
        found["network"] = "connected"
    except OSError as error:
        found["network"] = type(error).__name__
    for pid in found["processes"]:
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                found["env"] += [e.split(b"=")[0].decode() for e in handle.read().split(b"\0") if e]
        except OSError:
            pass
    summary = {"files": found["files"][:3], "readable": found["readable"][:3],
               "network": found["network"], "key": "W2S_API_KEY" in found["env"],
               "processes": len(found["processes"])}
    raise RuntimeError("ATTACK" + json.dumps(summary))

class Idea(Method):
    name = "attacker"

    def targets(self, ctx):
        attack(NEEDLES, PATHS)
'''


def test_adaptive_attacker_finds_no_ground_truth(inputs, monkeypatch, tmp_path):
    """Static checks and audit hook off: only the namespaces stand between the code and
    the truth. Needles: the server-side label file's marker and test texts that only the
    artifact cache and the job's own inputs hold (the latter is excluded)."""
    monkeypatch.setenv("W2S_API_KEY", "w2s_secret_key_of_the_agent")
    marker = tmp_path / "ground_truth.json"
    marker.write_text(json.dumps({"MARKER-GT-7f3a": inputs["labels"].tolist()}))
    cache = os.environ["W2S_CACHE_DIR"]
    paths = [str(marker), cache, str(Path(cache) / "research-v2.sqlite"), "/etc/shadow",
             "/proc/1/environ", f"/proc/{os.getpid()}/mem", f"/proc/{os.getppid()}/environ"]
    # Split so that the idea's own source does not contain the needle it looks for.
    source = ATTACK.replace("NEEDLES", "[b'MARKER-GT-' + b'7f3a']").replace("PATHS",
                                                                          repr(paths))
    error = kind_of(inputs, source, check=False, guard=False,
                    limits=SandboxLimits(cpu_seconds=300, memory_mb=1024, wall_seconds=300))
    assert error.kind == "crash" and "ATTACK" in error.message, error.message
    found = json.loads(error.message.split("ATTACK", 1)[1].rsplit("}", 1)[0] + "}")
    assert found["files"] == [] and found["readable"] == []
    assert found["network"] != "connected"
    assert not found["key"]
    assert found["processes"] <= 3  # only the jail's own (supervisor, worker)


def test_the_loop_survives_bad_code(inputs):
    """Bad ideas one after another, then a good one: every failure is its own error."""
    kinds = [kind_of(inputs, src).kind for src in (
        "def broken(:\n", method_source("pass", imports="import subprocess"),
        method_source("raise KeyError('boom')"))]
    assert kinds == ["syntax", "forbidden_import", "crash"]
    assert run(inputs, GOOD).predictions["holdout"].shape == (200,)


def _descendants(root: int) -> set[int]:
    """Every live process below ``root`` (read from /proc's parent links)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit():
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        children = {p for p, parent in parents.items() if parent == pid}
        todo.extend(children - found)
        found |= children
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_killed_agent_leaves_no_idea_running(inputs):
    """SIGKILL the process that runs an idea (a team member, Ctrl-C'd or OOM-killed): the
    idea's whole process tree goes with it, instead of spinning until its wall clock."""
    limits = SandboxLimits(cpu_seconds=3600, memory_mb=512, wall_seconds=600)
    agent = os.fork()
    if agent == 0:  # the agent: runs an endless idea
        try:
            run(inputs, method_source("while True:\n    pass"), limits=limits)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 60
    while len(idea := _descendants(agent)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert idea, "the idea never started"
    os.kill(agent, signal.SIGKILL)
    os.waitpid(agent, 0)
    deadline = time.monotonic() + 20
    while (left := [p for p in idea if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} process(es) of the idea outlived the agent"
