"""What the test suite costs: its wall time, its slowest tests (wall and CPU seconds), and
the peak memory of every process it starts (pytest, notebook kernels, servers, Ray nodes,
Chromium).

    python benchmarks/suite.py --label after             # the whole suite, as `make test`
    python benchmarks/suite.py --label quick -m "not slow"

Runs pytest under this interpreter while reading the resident memory of pytest and every
process below it from /proc twice a second (Linux), then stores the figures under the
label in benchmarks/suite.json and prints them. Loaded into that pytest (``-p suite``),
this module also counts each test's CPU seconds (pytest's and its finished children's):
unlike wall time, they hardly change when other work shares the machine. It also names
the tests that raised their pytest process's peak RSS (``rss_raisers_mb``: by how much,
and the peak after), so a process over budget points at its test. The load average at
start and end is stored too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "suite.json"
SAMPLE_S = 0.5
DURATION = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+)")
SUMMARY = re.compile(r"(\d+ (?:passed|failed|error).*) in ([\d.]+)s")
CPU_FILE_ENV = "W2S_SUITE_CPU_FILE"


def _cpu_seconds() -> float:
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


_cpu_by_test: dict[str, float] = {}
_rss_raised_by_test: dict[str, list[float]] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item):
    """Plugin hook (``-p suite``, in pytest and in each xdist worker): the CPU seconds of
    each test, setup to teardown, and how far it raised its process's peak RSS."""
    start, peak = _cpu_seconds(), _max_rss_mb()
    try:
        return (yield)
    finally:
        _cpu_by_test[item.nodeid] = _cpu_seconds() - start
        if (raised := _max_rss_mb() - peak) >= 1:
            _rss_raised_by_test[item.nodeid] = [round(raised), round(_max_rss_mb())]


def pytest_sessionfinish(session):
    """Each process writes a file of its own (workers and the controller finish apart)."""
    if path := os.environ.get(CPU_FILE_ENV):
        Path(f"{path}.{os.getpid()}").write_text(json.dumps(
            {"cpu": _cpu_by_test, "rss_raised": _rss_raised_by_test}))


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree[parent].append(int(entry.name))
    return tree


def _descendants(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _command(pid: int) -> str:
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(w.decode(errors="replace") for w in words if w)
    return text.replace(str(ROOT) + "/", "")[:120]


class MemorySampler(threading.Thread):
    """The peak resident memory of each process in a tree, and of the tree as a whole."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.done = root, threading.Event()
        self.peaks: dict[int, tuple[float, str]] = {}
        self.tree_peak_mb = 0.0

    def run(self):
        while not self.done.is_set():
            total = 0.0
            for pid in _descendants(self.root):
                rss = _rss_mb(pid)
                if rss is None:
                    continue
                total += rss
                if rss > self.peaks.get(pid, (0.0, ""))[0]:
                    self.peaks[pid] = (rss, _command(pid))
            self.tree_peak_mb = max(self.tree_peak_mb, total)
            self.done.wait(SAMPLE_S)


def measure(pytest_args: list[str]) -> dict:
    cpu_file = ROOT / "benchmarks" / ".suite_cpu.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false", CPU_FILE_ENV: str(cpu_file),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks"),
                                          os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "pytest", "-q", "--durations=0", "--durations-min=0.5",
               "-p", "no:cacheprovider", "-p", "suite", *pytest_args]
    for stale in cpu_file.parent.glob(cpu_file.name + ".*"):
        stale.unlink()  # left by an interrupted run
    load_before = os.getloadavg()
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    sampler = MemorySampler(child.pid)
    sampler.start()
    output = []
    for line in child.stdout:
        sys.stdout.write(line)
        output.append(line)
    child.wait()
    wall = time.perf_counter() - start
    sampler.done.set()
    sampler.join()

    per_test: dict[str, float] = defaultdict(float)
    for line in output:
        if match := DURATION.match(line):
            per_test[match.group(3)] += float(match.group(1))
    summary = next((m.group(1) for line in reversed(output)
                    if (m := SUMMARY.search(line))), "no summary")
    slowest = sorted(per_test.items(), key=lambda item: -item[1])[:10]
    cpu, rss_raised = {}, {}
    for part in cpu_file.parent.glob(cpu_file.name + ".*"):
        found = json.loads(part.read_text())
        cpu.update(found["cpu"])
        rss_raised.update(found["rss_raised"])
        part.unlink()
    cpu_heaviest = sorted(cpu.items(), key=lambda item: -item[1])[:10]
    processes = sorted(sampler.peaks.values(), reverse=True)[:8]
    return {
        "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "pytest_args": pytest_args, "exit_code": child.returncode, "summary": summary,
        "wall_s": round(wall, 1), "load_average_start_end": [round(load_before[0], 2),
                                                             round(os.getloadavg()[0], 2)],
        "slowest_tests_s": {name: round(s, 1) for name, s in slowest},
        "cpu_s": round(sum(cpu.values()), 1),
        "cpu_heaviest_tests_s": {name: round(s, 1) for name, s in cpu_heaviest},
        "peak_process_rss_mb": round(processes[0][0]) if processes else None,
        "rss_raisers_mb": dict(sorted(rss_raised.items(), key=lambda item: -item[1][1])[:10]),
        "largest_processes_mb": [[round(rss), command] for rss, command in processes],
        "peak_tree_rss_mb": round(sampler.tree_peak_mb),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", required=True, help="the key in benchmarks/suite.json")
    args, pytest_args = parser.parse_known_args(argv)
    figures = measure(pytest_args)
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stored[args.label] = figures
    RESULTS.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    return figures["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
