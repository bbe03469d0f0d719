"""Sweep profiles for GPUs: Hugging Face datasets and language-model ladders.

A sweep profile (``params/gpu.yaml``, top-level key ``sweep``) names tasks, a ladder of
models, methods, seeds and training settings; every weak → strong pair up the ladder is
run through the same pipeline and results table as the offline notebooks.

    python -m w2s_utils.scale run --profile gpu --dry-run   # what would train, and where
    python -m w2s_utils.scale run --profile gpu --smallest  # the first pair, task and seed
    python -m w2s_utils.scale run --profile gpu             # the whole grid

Offline (``HF_HUB_OFFLINE=1``, as the Makefile sets it) a profile that needs the Hub
stops with a message instead of failing halfway.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field

from .experiment import Experiment, WeakRegime
from .learner import Head, Regime
from .lora import LoraParams
from .method_names import MethodName
from .names import ModelName, TaskName
from .paths import project_root
from .splits import SplitSizes
from .sweep import Backend, Plan, grid, sweep
from .train import FINETUNE_DEFAULTS, PROBE_DEFAULTS, TrainConfig


class SweepProfile(BaseModel):
    """A grid over a model ladder: every pair (weak lower, strong higher) × task × method × seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: list[TaskName] = Field(min_length=1)
    ladder: list[ModelName] = Field(min_length=2, description="smallest first")
    methods: list[MethodName] = Field(default_factory=lambda: ["naive"], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    sizes: SplitSizes = SplitSizes()
    regime: Regime = "lora"
    head: Head = "linear"
    weak_regime: WeakRegime = "linear_probe"
    lora: LoraParams = LoraParams()
    train: TrainConfig = FINETUNE_DEFAULTS
    probe: TrainConfig = PROBE_DEFAULTS
    backend: Backend = "local"
    address: str | None = None

    def pairs(self) -> list[tuple[str, str]]:
        return [(weak, strong) for i, weak in enumerate(self.ladder)
                for strong in self.ladder[i + 1:]]

    def runs(self, smallest: bool = False) -> list[dict[str, Any]]:
        """What the sweep trains, one dict per run, read from the profile alone (no data
        loaded, so a dry run works offline); ``smallest``: the first pair on the first
        task with the first method and seed (what a short GPU check runs)."""
        pairs = self.pairs()[:1] if smallest else self.pairs()
        pick = (lambda xs: xs[:1]) if smallest else (lambda xs: xs)
        return [{"task": task, "weak": weak, "strong": strong, "regime": self.regime,
                 "head": self.head, "method": method, "seed": seed}
                for task in pick(self.tasks) for weak, strong in pairs
                for method in pick(self.methods) for seed in pick(self.seeds)]

    def plan(self, smallest: bool = False) -> Plan:
        """The runs as experiments (this loads and checks each task's data)."""
        pairs = self.pairs()[:1] if smallest else self.pairs()
        tasks = self.tasks[:1] if smallest else self.tasks
        train_field = {"lora": "lora_train", "finetune": "finetune"}.get(self.regime, "probe")
        base = Experiment(task=tasks[0], sizes=self.sizes, weak_model=pairs[0][0],
                          strong_model=pairs[0][1], regime=self.regime, head=self.head,
                          weak_regime=self.weak_regime, lora=self.lora, probe=self.probe,
                          **{train_field: self.train})
        plans = [grid(base, tasks=tasks, weak_models=[weak], strong_models=[strong],
                      methods=self.methods[:1] if smallest else self.methods,
                      seeds=self.seeds[:1] if smallest else self.seeds)
                 for weak, strong in pairs]
        return sum(plans[1:], plans[0])


def load_sweep_profile(profile: str) -> SweepProfile:
    path = project_root() / "params" / f"{profile}.yaml"
    if not path.exists():
        raise ValueError(f"no sweep profile {path}")
    data = yaml.safe_load(path.read_text()) or {}
    if "sweep" not in data:
        raise ValueError(f"{path.name} is a notebook profile: run it with "
                         f"`python -m w2s_utils.notebooks run all --profile {profile}`")
    return SweepProfile(**data["sweep"])


def describe_plan(profile: SweepProfile, smallest: bool = False) -> pd.DataFrame:
    """One row per run: what trains, in which regime and head, on which device and dtype."""
    from .device import DeviceError, describe, resolve_device

    try:
        device = describe(resolve_device(profile.train.device))
    except DeviceError as error:
        device = f"unavailable ({error})"
    return pd.DataFrame([{**run, "device": device, "dtype": profile.train.dtype}
                         for run in profile.runs(smallest)])


def missing_offline(profile: SweepProfile) -> list[str]:
    """Hub models and datasets the profile needs that this offline machine cannot load."""
    if os.environ.get("HF_HUB_OFFLINE", "0") in ("0", "", "false"):
        return []
    from huggingface_hub import try_to_load_from_cache

    from .models import get_model
    from .sources.huggingface import HF_TASKS

    missing = []
    for name in profile.ladder:
        path = get_model(name).hf_path
        if path and not os.path.isdir(path) and not isinstance(
                try_to_load_from_cache(path, "config.json"), str):
            missing.append(f"model {path}")
    missing += [f"dataset {HF_TASKS[t].path}" for t in profile.tasks
                if t in HF_TASKS and not os.path.isdir(HF_TASKS[t].path)
                and not _dataset_cached(HF_TASKS[t].path)]
    return missing


def _dataset_cached(repo: str) -> bool:
    from huggingface_hub import scan_cache_dir

    try:
        return any(r.repo_id == repo for r in scan_cache_dir().repos)
    except Exception:  # no cache folder at all
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m w2s_utils.scale",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_cmd = sub.add_parser("run", help="run a sweep profile")
    run_cmd.add_argument("--profile", default="gpu")
    run_cmd.add_argument("--dry-run", action="store_true",
                         help="list what would train, and on which device; train nothing")
    run_cmd.add_argument("--smallest", action="store_true",
                         help="only the first pair, task, method and seed")
    args = parser.parse_args(argv)
    try:
        profile = load_sweep_profile(args.profile)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = describe_plan(profile, args.smallest)
    ceilings = table[["task", "strong", "seed"]].drop_duplicates()
    print(f"[w2s] profile {args.profile}: {len(table)} runs, {len(ceilings)} ceilings, "
          f"{len(profile.pairs())} pairs on the ladder {' < '.join(profile.ladder)}")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60,
                           "display.max_rows", 20):
        print(table.to_string(index=False, max_rows=20))
    missing = missing_offline(profile)
    if missing:
        print(f"[w2s] offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache: "
              f"{', '.join(missing)}. Skipping: run with network access "
              "(HF_HUB_OFFLINE=0) to download them.", flush=True)
        return 0
    if args.dry_run:
        return 0
    rows = sweep(profile.plan(smallest=args.smallest), backend=profile.backend,
                 address=profile.address)
    from .pipeline import pgr_table

    columns: list[Any] = ["student_acc", "weak_acc", "ceiling_acc", "pgr", "device"]
    print(rows[["task", "weak_model", "strong_model", "method", "seed", *columns]]
          .to_string(index=False))
    print(pgr_table(rows)[["pgr", "pgr_low", "pgr_high", "pgr_note"]].to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
