"""Accuracy parity of a training precision against fp32: `python benchmarks/precision.py`.

A small but real fine-tuning run (tweets, static64 weak probe → MiniLM-L6 fine-tuned,
1 epoch on a 500-text pool) per seed, in fp32 and in ``--dtype`` (bf16 autocast by
default), paired by seed: the same splits, initial weights and data order, so the
per-seed difference in test accuracy is the precision's effect plus its own noise.
Student (weak labels) and ceiling (ground truth) both, scored on test. Appends to
``benchmarks/precision.json``; ``markdown`` gives the table for ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from w2s_utils.backbone import load_backbone, load_tokenizer
from w2s_utils.classifier import Classifier, TextInputs, without_dropout
from w2s_utils.experiment import Experiment
from w2s_utils.metrics import mean_ci, paired_test
from w2s_utils.models import get_model
from w2s_utils.stages import experiment_splits, weak_labels
from w2s_utils.train import TrainConfig, train

HERE = Path(__file__).resolve().parent
SIZES = {"weak_train": 500, "pool": 500, "val": 100, "test": 1000, "holdout": 2}
CONFIG = TrainConfig(epochs=1, batch_size=32, lr=5e-5, max_length=64, selection="final",
                     device="cpu")


def accuracy(labels, probs) -> float:
    return float(((np.asarray(probs) > 0.5) == labels).mean())


def study(seeds: int, dtype: str, path: Path) -> dict:
    """Per seed: ceiling (pool ground truth) and naive student (weak soft labels), each in
    fp32 and in ``dtype`` from the same initial weights; only the test split is scored.
    The record is rewritten after every seed, so a cut-short run keeps what it finished."""
    spec = get_model("minilm-l6")
    tokenizer = load_tokenizer(spec)
    record = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "dtype": dtype, "sizes": SIZES,
              "config": CONFIG.model_dump(), "runs": []}
    history = json.loads(path.read_text()) if path.exists() else []
    for seed in range(seeds):
        exp = Experiment(regime="finetune", sizes=SIZES, finetune=CONFIG).replicate(seed)
        splits = experiment_splits(exp)
        weak = weak_labels(exp, progress=False)["probs"]
        pool = TextInputs(splits["pool"].texts, tokenizer, CONFIG.max_length)
        test = TextInputs(splits["test"].texts, tokenizer, CONFIG.max_length)
        labels = splits["test"].labels
        for precision in ("fp32", dtype):
            config = CONFIG.model_copy(update={"dtype": precision})
            row = {"seed": seed, "dtype": precision, "seconds": 0.0}
            for who, targets in (("ceiling", splits["pool"].labels), ("student", weak["pool"])):
                model = Classifier(without_dropout(load_backbone(spec)))
                result = train(model, pool, targets, config, seed=seed, progress=False)
                row["seconds"] += result.seconds
                row[f"{who}_acc"] = accuracy(labels, result.predict(test))
            record["runs"].append(row)
            print(row, flush=True)
        record.update(summary(record["runs"], dtype))
        path.write_text(json.dumps([*history, record], indent=1) + "\n")
    return record


def summary(rows: list[dict], dtype: str) -> dict:
    by = {(r["seed"], r["dtype"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows if (r["seed"], dtype) in by})
    out = {}
    for key in ("student_acc", "ceiling_acc"):
        base = [by[s, "fp32"][key] for s in seeds]
        other = [by[s, dtype][key] for s in seeds]
        diff = np.subtract(other, base)
        mean, half, n = mean_ci(diff)
        out[key] = {"fp32": mean_ci(base)[:2], dtype: mean_ci(other)[:2],
                    "diff_mean": mean, "diff_ci95": half, "seeds": n, **paired_test(diff)}
    out["time_ratio"] = float(np.median([by[s, dtype]["seconds"] / by[s, "fp32"]["seconds"]
                                         for s in seeds]))
    return out


def markdown(path: Path = HERE / "precision.json") -> list[str]:
    """The newest study, as lines for ``RESULTS.md``."""
    if not path.exists():
        return []
    r = json.loads(path.read_text())[-1]
    dtype = r["dtype"]
    lines = ["", f"## Precision parity (`benchmarks/precision.py`, {r['date']})", "",
             f"Fine-tuned MiniLM-L6 (static64 weak, tweets, pool {r['sizes']['pool']}, "
             f"test {r['sizes']['test']}, 1 epoch), fp32 vs {dtype} autocast, paired by seed; "
             f"{dtype} took {r['time_ratio']:.2f}× the fp32 wall time (median of per-seed ratios, "
             "on a loaded shared machine: speed is `run.py`'s to measure).",
             "", f"| model | fp32 acc | {dtype} acc | {dtype} − fp32 (95% CI) | seeds | "
             "p (t) | p (sign-flip) |", "|---|---|---|---|---|---|---|"]
    for key, name in (("student_acc", "student"), ("ceiling_acc", "ceiling")):
        s = r[key]
        lines.append(f"| {name} | {s['fp32'][0]:.4f} | {s[dtype][0]:.4f} | "
                     f"{s['diff_mean']:+.4f} ± {s['diff_ci95']:.4f} | {s['seeds']} | "
                     f"{s['p_t']:.2f} | {s['p_signflip']:.2f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "fp16"])
    args = parser.parse_args(argv)
    study(args.seeds, args.dtype, HERE / "precision.json")
    print("\n".join(markdown()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
