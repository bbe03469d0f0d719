"""Measurements behind the experiment protocol's defaults: `python benchmarks/protocol.py`.

- ``probe``: naive linear-probe PGR (static64 → MiniLM-L6, tweets, default-profile sizes)
  under the old protocol (AdamW, lowest weak-labelled val loss kept) and the new one
  (full-batch L-BFGS to convergence, final model), with its variance split into training
  seed, test sampling and split draw.
- ``finetune``: the naive fine-tuned student, fp32 vs bf16 autocast and final vs
  selected-on-weak-val checkpoints, paired by replicate on the fixed test set.

Appends to ``benchmarks/protocol.json``; prints a markdown summary.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import stats

from w2s_utils.backbone import load_backbone, load_tokenizer
from w2s_utils.cache import ArtifactStore
from w2s_utils.classifier import Classifier, TextInputs, predict_proba, without_dropout
from w2s_utils.experiment import Experiment
from w2s_utils.learner import Learner
from w2s_utils.metrics import pgr
from w2s_utils.models import get_model
from w2s_utils.stages import experiment_splits, weak_labels
from w2s_utils.train import FINETUNE_DEFAULTS, TrainConfig, train

HERE = Path(__file__).resolve().parent
SIZES = {"weak_train": 1000, "pool": 1000, "val": 300, "test": 5000, "holdout": 1000}
OLD_PROBE = TrainConfig(epochs=40, batch_size=64, lr=1e-2, weight_decay=1e-2, warmup_frac=0.05)
PROTOCOLS = {
    "adamw, best weak-val step (old)": OLD_PROBE,
    "adamw, final step": OLD_PROBE.model_copy(update={"selection": "final"}),
    "lbfgs to convergence, final (new)": None,  # PROBE_DEFAULTS
}


def accuracy(labels, probs) -> float:
    return float(((np.asarray(probs) > 0.5) == labels).mean())


def bootstrap_pgr_var(labels, weak, top, stud, draws=1000, seed=0) -> float:
    """Variance of PGR from resampling test examples with the three models held fixed."""
    rng = np.random.default_rng(seed)
    correct = [((np.asarray(p) > 0.5) == labels).astype(np.float32) for p in (weak, top, stud)]
    idx = rng.integers(0, len(labels), size=(draws, len(labels)))
    w, c, s = (x[idx].mean(1) for x in correct)
    return float(np.var((s - w) / (c - w), ddof=1))


def probe_study(replicates: int, train_seeds: int) -> dict:
    base = Experiment(task="tweets-sentiment", sizes=SIZES, weak_model="static64",
                      strong_model="minilm-l6", regime="linear_probe")
    store = ArtifactStore()
    out = {}
    for name, config in PROTOCOLS.items():
        per_split, test_var = [], []
        for split in range(replicates):
            exp = base.with_(split_seed=split, seed=split)
            splits = experiment_splits(exp)
            labels = splits["test"].labels
            weak = weak_labels(exp, store, progress=False)["probs"]
            cfg = config or exp.probe
            learner = Learner(exp.strong_model, "linear_probe", splits, cfg, progress=False)
            top = learner.predict(learner.fit(splits["pool"].labels, seed=split,
                                              val_targets=splits["val"].labels,
                                              progress=False), ("test",))["test"]
            values = []
            for t in range(train_seeds if config is not None else 2):
                res = learner.fit(weak["pool"], val_targets=weak["val"], seed=100 + t,
                                  progress=False)
                stud = learner.predict(res, ("test",))["test"]
                values.append(pgr(accuracy(labels, stud), accuracy(labels, weak["test"]),
                                  accuracy(labels, top)))
                if t == 0:
                    test_var.append(bootstrap_pgr_var(labels, weak["test"], top, stud))
            per_split.append(values)
        arr = np.array(per_split)
        within = float(np.mean(arr.var(axis=1, ddof=1)))
        means = arr.mean(1)
        out[name] = {
            "pgr_mean": float(means.mean()),
            "pgr_ci95": float(stats.t.ppf(0.975, len(means) - 1) * means.std(ddof=1)
                              / np.sqrt(len(means))),
            "var_training_seed": within,
            "var_test_sampling": float(np.mean(test_var)),
            "var_split": float(max(0.0, means.var(ddof=1) - within / arr.shape[1])),
            "per_split_pgr": [[round(v, 4) for v in row] for row in per_split],
        }
        print(f"{name}: {out[name]['pgr_mean']:.3f} ± {out[name]['pgr_ci95']:.3f}", flush=True)
    return out


class KeepFinal(Classifier):
    """Records test predictions of the final state before selection swaps it out."""

    test_inputs = None
    dtype = "fp32"
    final_probs = None

    def load_state_dict(self, state, *args, **kwargs):
        self.final_probs = predict_proba(self, self.test_inputs, dtype=self.dtype)
        return super().load_state_dict(state, *args, **kwargs)


def finetune_study(replicates: int, precisions: tuple[bool, ...], max_length: int = 48) -> dict:
    base = Experiment(task="tweets-sentiment", sizes=SIZES, weak_model="static64",
                      strong_model="minilm-l6", regime="finetune")
    spec = get_model(base.strong_model)
    tokenizer = load_tokenizer(spec)
    rows = []
    for rep in range(replicates):
        exp = base.replicate(rep)
        splits = experiment_splits(exp)
        labels = splits["test"].labels
        weak = weak_labels(exp, progress=False)["probs"]
        inputs = {s: TextInputs(splits[s].texts, tokenizer, max_length)
                  for s in ("pool", "val", "test")}
        for bf16 in precisions:
            config = FINETUNE_DEFAULTS.model_copy(update={
                "max_length": max_length, "device": "cpu", "dtype": "bf16" if bf16 else "fp32"})
            model = KeepFinal(without_dropout(load_backbone(spec)))
            model.test_inputs, model.dtype = inputs["test"], config.dtype
            result = train(model, inputs["pool"], weak["pool"], config, seed=rep,
                           val_inputs=inputs["val"], val_targets=weak["val"], progress=False)
            selected = result.predict(inputs["test"])
            final = model.final_probs if model.final_probs is not None else selected
            rows.append({"replicate": rep, "bf16": bf16, "seconds": result.seconds,
                         "best_step": result.best_step,
                         "total_steps": result.history[-1]["step"],
                         "acc_final": accuracy(labels, final),
                         "acc_selected": accuracy(labels, selected),
                         "weak_acc": accuracy(labels, weak["test"])})
            print(rows[-1], flush=True)
    return {"runs": rows, **(finetune_summary(rows) if len(precisions) == 2 else
                             selection_summary(rows))}


def paired(d) -> dict:
    d = np.asarray(d)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return {"mean": float(d.mean()), "ci95": float(half),
            "p_t": float(stats.ttest_1samp(d, 0).pvalue)}


def selection_summary(rows) -> dict:
    return {"selected_minus_final_acc": paired([r["acc_selected"] - r["acc_final"]
                                                for r in rows]),
            "selected_at_final_step": sum(r["best_step"] == r["total_steps"] for r in rows)}


def finetune_summary(rows) -> dict:
    by = {(r["replicate"], r["bf16"]): r for r in rows}
    reps = sorted({r["replicate"] for r in rows})
    fp32 = [by[r, False] for r in reps]
    bf16 = [by[r, True] for r in reps]
    return {
        "bf16_minus_fp32_acc_final": paired([b["acc_final"] - f["acc_final"]
                                             for b, f in zip(bf16, fp32)]),
        "bf16_minus_fp32_acc_selected": paired([b["acc_selected"] - f["acc_selected"]
                                                for b, f in zip(bf16, fp32)]),
        "selected_minus_final_acc_fp32": paired([f["acc_selected"] - f["acc_final"]
                                                 for f in fp32]),
        "selected_minus_final_acc_bf16": paired([b["acc_selected"] - b["acc_final"]
                                                 for b in bf16]),
        "fp32_over_bf16_seconds": float(np.mean([f["seconds"] for f in fp32])
                                        / np.mean([b["seconds"] for b in bf16])),
    }


def markdown(path: Path = HERE / "protocol.json") -> list[str]:
    """The newest record of each study, as lines for ``RESULTS.md``."""
    if not path.exists():
        return []
    records = json.loads(path.read_text())
    latest = {key: (r["date"], r[key]) for r in records for key in
              ("probe", "finetune", "bf16_autocast") if key in r}
    lines = ["", "## Experiment protocol (`benchmarks/protocol.py`)", ""]
    if "probe" in latest:
        date, probe = latest["probe"]
        lines += [f"Naive linear-probe PGR, static64 → MiniLM-L6, tweets, 10 split draws on the "
                  f"fixed 5,000-example test ({date}). Variance components of a single run's PGR:",
                  "", "| protocol | PGR (mean ± 95% CI over splits) | training seed | "
                  "test sampling | split draw |", "|---|---|---|---|---|"]
        for name, r in probe.items():
            lines.append(f"| {name} | {r['pgr_mean']:.3f} ± {r['pgr_ci95']:.3f} | "
                         f"{r['var_training_seed']:.4f} | {r['var_test_sampling']:.4f} | "
                         f"{r['var_split']:.4f} |")
    if "finetune" in latest:
        date, ft = latest["finetune"]
        runs = ft["runs"]
        at_final = sum(r["best_step"] == r["total_steps"] for r in runs)
        lines += ["", f"Fine-tuned naive student ({date}, {len(runs)} replicates): the "
                  f"lowest weak-val loss fell on the final step in {at_final} of {len(runs)} runs, "
                  "so `selection=\"final\"` is the fine-tuning default too."]
    if "bf16_autocast" in latest:
        date, bf = latest["bf16_autocast"]
        fp32, bf16 = bf["runs"]
        ratio = bf16["seconds"] / fp32["seconds"]
        lines += ["", f"bf16 autocast for fine-tuning ({date}): {ratio:.1f}× "
                  f"the fp32 time (accuracy {bf16['acc_final']:.4f} vs {fp32['acc_final']:.4f}); "
                  "not adopted."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["probe", "finetune"])
    parser.add_argument("--replicates", type=int, default=10)
    parser.add_argument("--train-seeds", type=int, default=4)
    parser.add_argument("--finetune-replicates", type=int, default=5)
    parser.add_argument("--precision", choices=["both", "fp32"], default="both",
                        help="fp32 alone measures only final vs selected checkpoints")
    args = parser.parse_args()
    record = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "sizes": SIZES}
    if args.only in (None, "probe"):
        record["probe"] = probe_study(args.replicates, args.train_seeds)
    if args.only in (None, "finetune"):
        precisions = (False, True) if args.precision == "both" else (False,)
        record["finetune"] = finetune_study(args.finetune_replicates, precisions)
    path = HERE / "protocol.json"
    history = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps([*history, record], indent=1) + "\n")
    print("\n".join(markdown()))


if __name__ == "__main__":
    main()
