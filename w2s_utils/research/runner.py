"""The evaluation server on a background thread, for notebooks, tests and benchmarks."""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from .db import create_key
from .evaldata import EvalData
from .evaluation import ServerSettings
from .schemas import Baselines
from .server import create_app


@dataclass
class RunningServer:
    """A server on a background thread; ``stop()`` (or leaving ``with``) shuts it down."""

    base_url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    def create_key(self, agent: str, **budgets) -> str:
        """A new API key in this server's database (see ``db.create_key`` for budgets)."""
        return create_key(self.app.state.engine, agent, **budgets)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.app.state.engine.dispose()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def settle_heap() -> None:
    """Take everything alive at startup (torch, the data, the app) out of the cyclic
    collector's view. Otherwise a full collection rescans that heap under traffic: a
    ~200 ms pause that every request in flight waits for (in the benchmark, 8 clients
    stalled at once: exactly the slowest 1%)."""
    gc.collect()
    gc.freeze()


def start_server_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                           timeout: float = 15.0) -> RunningServer:
    """Serve ``app`` with uvicorn on a background thread (port 0: a free one)."""
    settle_heap()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, daemon=True, name="w2s-eval-server")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the evaluation server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    return RunningServer(f"http://{bound[0]}:{bound[1]}", app, server, thread)


def serve_experiment(exp, train_seeds=(0,), database_url: str | None = None,
                     settings: ServerSettings | None = None, baselines: Baselines | None = None,
                     progress: bool = False) -> RunningServer:
    """Build the server for ``exp`` (cached pipeline stages) and run it in the background."""
    data = EvalData.from_experiment(exp, train_seeds, baselines=baselines, progress=progress)
    return start_server_in_thread(create_app(data, database_url, settings))
