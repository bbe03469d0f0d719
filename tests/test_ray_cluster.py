"""A sweep against a running two-node Ray cluster on loopback (``ray start --head`` plus a
second ``ray start --address``), artifacts at an fsspec URL, one results table."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_sweep import BASE

from w2s_utils.results import load_results
from w2s_utils.sweep import grid, sweep

pytestmark = pytest.mark.slow
PLAN = grid(BASE, strong_models=["static64", "minilm-l3"], methods=["naive", "logconf"],
            seeds=[0, 1])  # 8 runs in 4 jobs (a job = runs sharing weak and ceiling stages)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_node(args: list[str], log: Path) -> subprocess.Popen:
    """One Ray node in a session of its own (``--block``): stopped by its process group,
    so the test never touches Ray processes it did not start."""
    ray = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    return subprocess.Popen(
        [str(ray), "start", "--block", "--num-cpus=1", "--node-ip-address=127.0.0.1",
         "--disable-usage-stats", *args],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_until_started(node: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    """``ray start --block`` logs "Ray runtime started" once the node is up (a driver that
    connects earlier can block inside Ray's client for minutes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        if node.poll() is not None:
            raise RuntimeError(f"ray start exited: {log.read_text()[-2000:]}")
        time.sleep(1)
    raise TimeoutError(f"Ray node did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def two_node_cluster(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="pip install 'w2s-notebooks[ray]'")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # a loopback test cluster, no tokens
    port = _free_port()
    address = f"127.0.0.1:{port}"
    temp = Path(f"/tmp/w2s-ray-{port}")  # short: Ray's unix sockets must fit 107 bytes
    logs = [tmp_path / "head.log", tmp_path / "worker.log"]
    nodes = [_start_node(["--head", f"--port={port}", "--include-dashboard=false",
                          f"--temp-dir={temp}"], logs[0])]
    try:
        _wait_until_started(nodes[0], logs[0])
        nodes.append(_start_node([f"--address={address}"], logs[1]))
        _wait_until_started(nodes[1], logs[1])
        ray.init(address=address, log_to_driver=False)
        alive = [n for n in ray.nodes() if n["Alive"]]
        ray.shutdown()
        yield address, alive
    finally:
        for node in reversed(nodes):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)


def test_sweep_on_a_two_node_cluster_writes_one_table(two_node_cluster, fresh_cache, tmp_path):
    address, alive = two_node_cluster
    assert len(alive) == 2 and all(n["Resources"].get("CPU") == 1 for n in alive)
    shared = f"file://{tmp_path / 'shared_artifacts'}"
    rows = sweep(PLAN, backend="ray", address=address, storage=shared, progress=False)
    assert rows["run_id"].tolist() == PLAN.keys()
    assert len(list((tmp_path / "shared_artifacts").glob("student-*.pkl"))) == len(PLAN.runs)

    again = sweep(PLAN, backend="ray", address=address, storage=shared, progress=False)
    pd.testing.assert_frame_equal(again.drop(columns=[c for c in again if "seconds" in c]),
                                  rows.drop(columns=[c for c in rows if "seconds" in c]))
    table = load_results()
    assert len(table) == len(PLAN.runs) and table["run_id"].is_unique

    with pd.option_context("display.width", 160):
        print("\n" + table[["strong_model", "method", "seed", "weak_acc", "ceiling_acc",
                            "student_acc", "pgr"]].to_string(index=False))
