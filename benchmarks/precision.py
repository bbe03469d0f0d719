"""Accuracy parity of a speed-up against its reference:
`python benchmarks/precision.py --variant bf16` (or fp16, fused-adamw, embed-bf16).

Training variants: a small but real fine-tuning run (tweets, static64 weak probe →
MiniLM-L6 fine-tuned, 1 epoch on a 500-text pool) per seed, with the reference settings
and with the variant's, paired by seed: the same splits, initial weights and data order,
so the per-seed difference in test accuracy is the variant's effect plus its own noise.
Frozen-embedding variants: the default profile's linear-probe experiment (static64 →
MiniLM-L6 probes, its sizes and fixed 5,000-text test set) with the strong model's
features computed each way. Student (weak labels) and ceiling (ground truth) both,
scored on test. Appends to ``benchmarks/precision.json``; ``markdown`` gives the tables
for ``RESULTS.md``.
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
from w2s_utils.metrics import mean_ci, paired_test, pgr
from w2s_utils.models import get_model
from w2s_utils.stages import ceiling, experiment_splits, student, weak_labels
from w2s_utils.train import PROBE_DEFAULTS, TrainConfig, train

HERE = Path(__file__).resolve().parent
SIZES = {"weak_train": 500, "pool": 500, "val": 100, "test": 1000, "holdout": 2}
CONFIG = TrainConfig(epochs=1, batch_size=32, lr=5e-5, max_length=64, selection="final",
                     device="cpu")
# variant: (what it is, the reference's settings, the variant's settings)
VARIANTS = {
    "bf16": ("bf16 autocast", {"dtype": "fp32"}, {"dtype": "bf16"}),
    "fp16": ("fp16 autocast", {"dtype": "fp32"}, {"dtype": "fp16"}),
    "fused-adamw": ("fused AdamW (fp32)", {"fused_adamw": False}, {"fused_adamw": True}),
}
# variant: (what it is, the reference's probe settings, the variant's)
PROBE_VARIANTS = {
    "embed-bf16": ("bf16 frozen MiniLM-L6 features, linear probes", {"embed_dtype": "fp32"},
                   {"embed_dtype": "bf16"}),
}
PROBE_SIZES = {"weak_train": 1000, "pool": 1000, "val": 300, "test": 5000, "holdout": 1000}


def accuracy(labels, probs) -> float:
    return float(((np.asarray(probs) > 0.5) == labels).mean())


def study(seeds: int, variant: str, path: Path) -> dict:
    """Per seed: ceiling (pool ground truth) and naive student (weak soft labels), each
    with the reference's and the variant's settings from the same initial weights; only
    the test split is scored. The record is rewritten after every seed, so a cut-short
    run keeps what it finished."""
    spec = get_model("minilm-l6")
    tokenizer = load_tokenizer(spec)
    what, reference, changed = VARIANTS[variant]
    record = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "variant": variant, "what": what,
              "sizes": SIZES, "config": CONFIG.model_dump(), "reference": reference,
              "changed": changed, "runs": []}
    history = json.loads(path.read_text()) if path.exists() else []
    for seed in range(seeds):
        exp = Experiment(regime="finetune", sizes=SIZES, finetune=CONFIG).replicate(seed)
        splits = experiment_splits(exp)
        weak = weak_labels(exp, progress=False)["probs"]
        pool = TextInputs(splits["pool"].texts, tokenizer, CONFIG.max_length)
        test = TextInputs(splits["test"].texts, tokenizer, CONFIG.max_length)
        labels = splits["test"].labels
        for arm, settings in (("reference", reference), ("variant", changed)):
            config = CONFIG.model_copy(update=settings)
            row = {"seed": seed, "arm": arm, "seconds": 0.0}
            for who, targets in (("ceiling", splits["pool"].labels), ("student", weak["pool"])):
                model = Classifier(without_dropout(load_backbone(spec)))
                result = train(model, pool, targets, config, seed=seed, progress=False)
                row["seconds"] += result.seconds
                row[f"{who}_acc"] = accuracy(labels, result.predict(test))
            record["runs"].append(row)
            print(row, flush=True)
        record.update(summary(record["runs"]))
        path.write_text(json.dumps([*history, record], indent=1) + "\n")
    return record


def probe_study(seeds: int, variant: str, path: Path) -> dict:
    """Per seed: the weak probe, then ceiling and naive student probes on the strong
    model's features computed with the reference's and the variant's settings (the weak
    model's features are the same in both arms); only test is scored."""
    what, reference, changed = PROBE_VARIANTS[variant]
    record = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "variant": variant, "what": what,
              "sizes": PROBE_SIZES, "config": PROBE_DEFAULTS.model_dump(),
              "reference": reference, "changed": changed, "runs": []}
    history = json.loads(path.read_text()) if path.exists() else []
    for seed in range(seeds):
        for arm, settings in (("reference", reference), ("variant", changed)):
            exp = Experiment(regime="linear_probe", sizes=PROBE_SIZES, balanced=True,
                             probe=PROBE_DEFAULTS.model_copy(update=settings)).replicate(seed)
            labels = experiment_splits(exp)["test"].labels
            start = time.perf_counter()  # the ceiling computes the strong features
            ceiling_probs = ceiling(exp, progress=False)["probs"]["test"]
            row = {"seed": seed, "arm": arm, "seconds": time.perf_counter() - start,
                   "weak_acc": accuracy(labels, weak_labels(exp, progress=False)["probs"]["test"]),
                   "ceiling_acc": accuracy(labels, ceiling_probs),
                   "student_acc": accuracy(labels, student(exp, progress=False)["probs"]["test"])}
            row["pgr"] = pgr(row["student_acc"], row["weak_acc"], row["ceiling_acc"])
            record["runs"].append(row)
            print(row, flush=True)
        record.update(summary(record["runs"], ("student_acc", "ceiling_acc", "pgr")))
        path.write_text(json.dumps([*history, record], indent=1) + "\n")
    return record


def summary(rows: list[dict], keys=("student_acc", "ceiling_acc")) -> dict:
    by = {(r["seed"], r["arm"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows if (r["seed"], "variant") in by})
    out = {}
    for key in keys:
        base = [by[s, "reference"][key] for s in seeds]
        other = [by[s, "variant"][key] for s in seeds]
        diff = np.subtract(other, base)
        mean, half, n = mean_ci(diff)
        out[key] = {"reference": mean_ci(base)[:2], "variant": mean_ci(other)[:2],
                    "diff_mean": mean, "diff_ci95": half, "seeds": n, **paired_test(diff)}
    out["time_ratio"] = float(np.median([by[s, "variant"]["seconds"]
                                         / by[s, "reference"]["seconds"] for s in seeds]))
    return out


def markdown(path: Path = HERE / "precision.json") -> list[str]:
    """The newest study of each variant, as lines for ``RESULTS.md``."""
    if not path.exists():
        return []
    newest = {r["variant"]: r for r in json.loads(path.read_text())}
    lines = ["", "## Accuracy parity of speed-ups (`benchmarks/precision.py`)", "",
             "The reference settings vs the variant's, paired by seed: fine-tuned MiniLM-L6 "
             "(static64 weak, tweets, 1 epoch) for training variants, the default profile's "
             "static64 → MiniLM-L6 linear probes for frozen-embedding ones. Wall-time ratios "
             "come from a shared machine: speed is `run.py`'s to measure.", "",
             "| variant (vs reference) | model | reference acc | variant acc | "
             "variant − reference (95% CI) | seeds | p (t) | p (sign-flip) | time ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in newest.values():
        label = (f"{r['what']} vs {_settings(r['reference'])}, pool {r['sizes']['pool']}, "
                 f"test {r['sizes']['test']}, {r['date'][:10]}")
        for key, name in (("student_acc", "student"), ("ceiling_acc", "ceiling"),
                          ("pgr", "PGR")):
            if key not in r:
                continue
            s = r[key]
            lines.append(f"| {label} | {name} | {s['reference'][0]:.4f} | "
                         f"{s['variant'][0]:.4f} | {s['diff_mean']:+.4f} ± {s['diff_ci95']:.4f} "
                         f"| {s['seeds']} | {s['p_t']:.2f} | {s['p_signflip']:.2f} | "
                         f"{r['time_ratio']:.2f}× |")
            label = ""
    return lines


def _settings(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--variant", default="bf16", choices=sorted({**VARIANTS,
                                                                       **PROBE_VARIANTS}))
    args = parser.parse_args(argv)
    run = probe_study if args.variant in PROBE_VARIANTS else study
    run(args.seeds, args.variant, HERE / "precision.json")
    print("\n".join(markdown()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
