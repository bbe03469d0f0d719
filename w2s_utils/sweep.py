"""Grids of weak-to-strong runs: local worker processes by default, Ray on request.

``grid`` expands tasks × weak models × strong models × methods × regimes × seeds into
``Experiment``s and sets aside invalid combinations with a reason. ``sweep`` runs them
and returns one row per run. Every stage is cached atomically by the pipeline, so a
sweep that was interrupted resumes where it stopped when it is called again, and runs
the cache already holds cost no training.

    plan = grid(Experiment(task="tweets-sentiment"), weak_models=LADDER,
                strong_models=LADDER, methods=["naive", "logconf"], seeds=[0, 1, 2])
    rows = sweep(plan, workers=2)            # or backend="ray", address="auto"
    runs = load_results(run_id=plan.keys())  # exactly this grid, from the results table

Workers are fresh processes: a method must be registered in an importable module (not
only in a notebook cell) for them to find it. On a Ray cluster (``address="ray-head:6379"``)
the package travels to the workers in the job's runtime environment, and ``storage`` says
where workers keep stage artifacts: a folder every machine mounts, or an fsspec URL
(``s3://bucket/w2s``), copied to and from each worker's local cache. Rows come back to
this process, which records them in its one results table (keyed by run id: a rerun
replaces its row, never duplicates it).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from . import results
from .cache import ArtifactStore
from .experiment import Experiment, setup_problem
from .methods import get_method
from .models import LADDER, get_model
from .paths import cache_dir, project_root
from .pipeline import run
from .progress import progress_bar
from .shared_store import ENV_VAR as SHARED_ENV
from .shared_store import SharedStore, is_url
from .stages import ceiling_key, student_key, weak_key

Backend = Literal["local", "ray"]
MethodChoice = str | tuple[str, dict[str, Any]]
RAY_LOCAL_CPUS = 2  # CPUs of a Ray instance the sweep starts itself (this machine's cores)


@dataclass
class Plan:
    """The valid runs of a grid, and the combinations left out with the reason why."""

    runs: list[Experiment]
    skipped: pd.DataFrame

    def __add__(self, other: Plan) -> Plan:
        return Plan(self.runs + other.runs,
                    pd.concat([self.skipped, other.skipped], ignore_index=True))

    def keys(self) -> list[str]:
        """The runs' ids in the results table (they change when the code does)."""
        return [student_key(exp) for exp in self.runs]


def invalid_reason(weak_model: str, strong_model: str, regime: str, method: str) -> str | None:
    """Why a weak → strong pair cannot run under this regime and method (None if it can)."""
    if weak_model == strong_model:
        return "weak and strong are the same model"
    if weak_model in LADDER and strong_model in LADDER and (
            LADDER.index(weak_model) > LADDER.index(strong_model)):
        return "weak model is above the strong model on the ladder"
    return setup_problem(get_method(method), strong_model, regime)


def grid(base: Experiment, *, tasks: list[str] | None = None,
         weak_models: list[str] | None = None, strong_models: list[str] | None = None,
         methods: list[MethodChoice] | None = None, regimes: list[str] | None = None,
         seeds: list[int] | None = None) -> Plan:
    """Every combination of the given values; an omitted axis keeps ``base``'s value.

    A method is a name (its default hyperparameters) or ``(name, params)``. Everything
    not on an axis (split sizes, balance, training configs) comes from ``base``.
    """
    axes = {
        "task": tasks if tasks is not None else [base.task],
        "weak_model": weak_models if weak_models is not None else [base.weak_model],
        "strong_model": strong_models if strong_models is not None else [base.strong_model],
        "method": [(m, {}) if isinstance(m, str) else (m[0], dict(m[1]))
                   for m in (methods if methods is not None
                             else [(base.method, base.method_params)])],
        "regime": regimes if regimes is not None else [base.regime],
        "seed": seeds if seeds is not None else [base.seed],
    }
    runs, skipped, seen = [], [], set()
    for task, weak, strong, (method, params), regime, seed in itertools.product(*axes.values()):
        reason = invalid_reason(weak, strong, regime, method)
        if reason:
            skipped.append({"weak_model": weak, "strong_model": strong, "regime": regime,
                            "method": method, "reason": reason})
            continue
        exp = base.with_(task=task, weak_model=weak, strong_model=strong, method=method,
                         method_params=params, regime=regime).replicate(seed)
        if (identity := exp.model_dump_json()) not in seen:
            seen.add(identity)
            runs.append(exp)
    columns = ["weak_model", "strong_model", "regime", "method", "reason"]
    return Plan(runs, pd.DataFrame(skipped, columns=columns).drop_duplicates(ignore_index=True))


def sweep(runs: Plan | Iterable[Experiment], *, backend: Backend = "local",
          workers: int | None = None, address: str | None = None,
          storage: str | None = None, runtime_env: dict | None = None,
          gpus_per_job: float = 0, progress: bool = True) -> pd.DataFrame:
    """Run every experiment (cache hits first, in this process) and return their rows.

    ``backend="local"``: ``workers`` processes (default 1, which runs in this process).
    ``backend="ray"``: ``address=None`` starts a local Ray instance with ``workers`` CPUs
    (default 2) and shuts it down afterwards; an address (``"auto"``, ``"host:6379"``,
    ``"ray://…"``) connects to a running cluster and ships ``w2s_utils`` to its workers
    (``runtime_env`` adds to that: ``{"pip": [...]}``, say). ``storage`` (Ray only):
    where workers keep artifacts, a shared folder or an fsspec URL; default this
    process's cache folder. ``gpus_per_job`` reserves GPUs for each job on Ray.
    Runs that differ only in their method share the weak and ceiling stages, so they go
    to one worker, one after another. Rows come back in grid order with a ``run_id``
    column (the run's key in the results table).
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"unknown backend {backend!r}; use 'local' or 'ray'")
    if backend == "local" and (storage or runtime_env or gpus_per_job):
        raise ValueError("storage, runtime_env and gpus_per_job apply to backend='ray'")
    runs = runs.runs if isinstance(runs, Plan) else list(runs)
    store, done, todo = ArtifactStore(), {}, []
    if storage and is_url(storage):  # runs finished elsewhere are cache hits here too
        SharedStore(storage).pull((k for exp in runs for k in _stage_keys(exp)), store)
    with progress_bar(total=len(runs), desc="sweep", unit="run", disable=not progress) as bar:
        for i, exp in enumerate(runs):
            if store.path(student_key(exp)).exists():
                done[i] = _run_one(exp)
                bar.update()
            else:
                todo.append(i)
        bar.set_postfix(cached=len(done))
        jobs = _jobs(runs, todo)
        if not jobs:
            finished = ()
        elif backend == "local":
            finished = _local(runs, jobs, min(workers or 1, len(jobs)))
        else:
            finished = _ray(runs, jobs, workers or RAY_LOCAL_CPUS, address,
                            storage=storage, runtime_env=runtime_env, gpus=gpus_per_job)
        for job, rows in finished:
            done.update(zip(job, rows))
            bar.update(len(job))
    return pd.DataFrame([done[i] for i in range(len(runs))])


def _jobs(runs: list[Experiment], todo: list[int]) -> list[list[int]]:
    """Indices grouped by shared weak and ceiling stages, in first-seen order."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i in todo:
        groups.setdefault((weak_key(runs[i]), ceiling_key(runs[i])), []).append(i)
    return list(groups.values())


def _stage_keys(exp: Experiment) -> tuple[str, str, str]:
    return weak_key(exp), ceiling_key(exp), student_key(exp)


def _worker_env(storage: str | None = None) -> dict[str, str]:
    """What a worker needs to use the sweep's artifacts, data and offline settings."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("W2S_", "HF_"))}
    env = {**env, "W2S_CACHE_DIR": str(cache_dir()), "W2S_HOME": str(project_root())}
    if storage and is_url(storage):
        env[SHARED_ENV] = storage
    elif storage:
        env["W2S_CACHE_DIR"] = storage
    return env


def _run_one(exp: Experiment) -> dict:
    return {"run_id": student_key(exp), **run(exp, progress=False)}


def _run_job(runs: list[Experiment], env: dict[str, str] | None = None,
             threads: int | None = None) -> list[dict]:
    """A worker's unit of work: runs that share stages, one after another. With artifacts
    at a URL, the worker copies in what its runs need and copies out what it computed."""
    if env:
        os.environ.update(env)
    if threads:
        import torch

        torch.set_num_threads(threads)
    shared = SharedStore(os.environ[SHARED_ENV]) if os.environ.get(SHARED_ENV) else None
    if shared is not None:
        os.environ["W2S_CACHE_DIR"] = str(shared.local_cache())
        shared.pull((k for exp in runs for k in _stage_keys(exp)), ArtifactStore())
    rows = [_run_one(exp) for exp in runs]
    if shared is not None:
        shared.push(ArtifactStore())
    return rows


def _local(runs, jobs, workers) -> Iterator[tuple[list[int], list[dict]]]:
    if workers == 1:
        for job in jobs:
            yield job, _run_job([runs[i] for i in job])
        return
    threads = max(1, (os.cpu_count() or 1) // workers)  # no oversubscribed cores
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(_run_job, [runs[i] for i in job], _worker_env(), threads): job
                   for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:  # on an error or interrupt, queued jobs are dropped, running ones finish
        pool.shutdown(wait=True, cancel_futures=True)


def _ray(runs, jobs, cpus, address, *, storage=None, runtime_env=None,
         gpus=0) -> Iterator[tuple[list[int], list[dict]]]:
    try:
        import ray
    except ImportError:
        raise ImportError("backend='ray' needs Ray: pip install 'w2s-notebooks[ray]'") from None
    started = not ray.is_initialized()
    if started and address:  # a running cluster: its workers get the package from here
        ray.init(address=address, runtime_env=_runtime_env(runtime_env), log_to_driver=False)
    elif started:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env=runtime_env)
    remote = ray.remote(num_cpus=1, num_gpus=gpus)(_run_job)
    env = _worker_env(storage)
    pending = {remote.remote([runs[i] for i in job], env): job for job in jobs}
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job, rows = pending.pop(ready[0]), ray.get(ready[0])
            for row in rows:  # workers on other machines wrote to their own results table
                results.record(row["run_id"], {k: v for k, v in row.items() if k != "run_id"})
            yield job, rows
    finally:
        for ref in pending:
            ray.cancel(ref)
        if started:
            ray.shutdown()


def _runtime_env(extra: dict | None) -> dict:
    """Ship this copy of ``w2s_utils`` to the cluster's workers (plus ``extra``)."""
    from pathlib import Path

    package = str(Path(__file__).resolve().parent)
    extra = dict(extra or {})
    return {**extra, "py_modules": [package, *extra.get("py_modules", [])]}


# --------------------------------------------------------------------------- reading a sweep


def annotate(frame: pd.DataFrame) -> pd.DataFrame:
    """Add each run's ``pair`` label and the weak and strong models' sizes (M params)."""
    return frame.assign(
        pair=frame["weak_model"] + " → " + frame["strong_model"],
        weak_params_m=frame["weak_model"].map(lambda m: get_model(m).params_m),
        strong_params_m=frame["strong_model"].map(lambda m: get_model(m).params_m),
    )


def size_trend(frame: pd.DataFrame, metric: str, by: str = "weak_model") -> pd.DataFrame:
    """Per group, the least-squares slope of ``metric`` per 10× strong-model parameters
    over every run (seed), with its 95% CI; 'rises'/'falls' only when the CI excludes 0."""
    rows = []
    for key, part in annotate(frame).dropna(subset=[metric]).groupby(by, sort=False):
        if part["strong_model"].nunique() < 2 or len(part) < 3:
            continue
        fit = stats.linregress(np.log10(part["strong_params_m"]), part[metric])
        half = stats.t.ppf(0.975, len(part) - 2) * fit.stderr
        trend = ("rises" if fit.slope - half > 0 else
                 "falls" if fit.slope + half < 0 else "no clear trend")
        rows.append({by: key, "slope_per_10x": fit.slope, "ci95": half, "runs": len(part),
                     "strong_models": part["strong_model"].nunique(), "trend": trend})
    return pd.DataFrame(rows)
