"""Can this setup say anything? A check of an experiment's data and ladder before training.

``diagnose(experiment)`` is the researcher's own setup check, so it uses ground truth
freely (no method ever sees it): the majority-class baseline on ``test``; what each rung
of the ladder knows (a logistic probe on its cached frozen features, trained on
``weak_train``), with intervals; whether the weak → strong gap is resolved with the
planned replicates on this test set (the project's paired bootstrap,
``metrics.pgr_interval``, on frozen-feature probes: the weak one on ``weak_train``, the
strong one on ``pool`` like the ceiling); how many texts are cut at ``max_length``; and
near-duplicates shared across splits. Every problem found is a sentence in
``warnings``.

    >>> from w2s_utils.experiment import Experiment
    >>> print(diagnose(Experiment(task="tweets-sentiment"), seeds=range(5)))  # doctest: +SKIP
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from .backbone import load_tokenizer
from .experiment import Experiment
from .learner import split_features
from .metrics import pgr_interval
from .models import get_model
from .stages import experiment_splits
from .tables import frozen_probe
from .tasks import leak_check
from .token_batches import token_counts

TRUNCATION_WARNING = 0.01  # share of texts cut above which a warning is raised
REFERENCE = "tfidf-logreg"  # the classical baseline every ladder is checked against


@dataclass(frozen=True, repr=False)
class Diagnosis:
    """What ``diagnose`` found; ``print`` it, or show it in a notebook."""

    experiment: Experiment
    seeds: list[int]
    n_test: int
    majority_acc: float
    majority_class: int
    ladder: pd.DataFrame  # per model: acc with a 95% interval, its lead over the strong model
    gap: dict[str, float]  # metrics.pgr_interval's gap fields over the planned replicates
    weak_acc: float
    strong_acc: float
    truncation: pd.DataFrame  # per model: token counts and the share of texts cut
    lengths: dict[str, np.ndarray]  # tokens per text of each split (the strong tokenizer)
    length_unit: str
    near_duplicates: int
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        exp = self.experiment
        lines = [
            f"Diagnosis of {exp.task}: {exp.weak_model} → {exp.strong_model} ({exp.regime}), "
            f"{len(self.seeds)} planned replicate(s), {self.n_test:,} test examples",
            f"  majority-class baseline on test: {self.majority_acc:.3f} "
            f"(always predicting class {self.majority_class})",
            "  frozen-feature accuracy on test (logistic probe on weak_train ground truth, "
            f"replicate {self.seeds[0]}; 95% Wilson interval):",
        ]
        for model, row in self.ladder.iterrows():
            lead = (f"   vs strong {row.vs_strong:+.3f} [{row.vs_strong_low:+.3f}, "
                    f"{row.vs_strong_high:+.3f}]" if row.role != "strong" else "")
            lines.append(f"    {model:<14} {row.role:<9} {row.acc:.3f} "
                         f"[{row.acc_low:.3f}, {row.acc_high:.3f}]{lead}")
        g = self.gap
        verdict = ("resolved" if g["resolved"] and g["gap"] > 0 else
                   "weak model ahead" if g["resolved"] else "NOT resolved")
        lines += [
            f"  weak → strong gap over {len(self.seeds)} replicate(s) (weak probe on "
            "weak_train, strong probe on pool; paired bootstrap over replicates and test "
            "examples):",
            f"    weak {self.weak_acc:.3f}, strong {self.strong_acc:.3f}: ceiling − weak = "
            f"{g['gap']:+.3f} [{g['gap_low']:+.3f}, {g['gap_high']:+.3f}]: {verdict}",
        ]
        if exp.regime == "finetune":
            lines.append("    (the experiment fine-tunes: its ceiling may sit above these "
                         "frozen features)")
        lines.append("  truncation:")
        for model, row in self.truncation.iterrows():
            lines.append(f"    {model:<14} reads {int(row['reads']):>5} tokens: "
                         f"{row['share_cut']:.1%} of texts cut (median {row['median']:.0f} "
                         f"tokens, 99th percentile {row['p99']:.0f}, longest "
                         f"{int(row['longest'])})")
        if self.truncation.empty:
            lines.append("    no model in this pair reads a limited number of tokens")
        lines.append(f"  near-duplicate texts shared across splits: {self.near_duplicates}")
        lines.append(f"  warnings: {len(self.warnings) or 'none'}")
        lines += [f"    - {w}" for w in self.warnings]
        return "\n".join(lines)

    __repr__ = __str__  # a notebook's plain-text output is the readable report too

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"

    def plot_lengths(self, ax=None):
        """Tokens per text of each split on a log axis, the cut marked."""
        from .plotting import length_histogram

        cut = int(self.truncation["reads"].iloc[0]) if len(self.truncation) else None
        return length_histogram(self.lengths, unit=self.length_unit, cut=cut, ax=ax)


def diagnose(experiment: Experiment, seeds=None, ladder: list[str] | None = None,
             progress: bool = False) -> Diagnosis:
    """Check ``experiment``'s data and ladder before any training (see the module doc).

    ``seeds``: the replicates the experiment is planned with (default: its own split
    seed only); ``ladder``: models to probe (default: TF-IDF, the weak and the strong
    model). Embeddings are cached, so the runs that follow reuse them.
    """
    exp = experiment
    seeds = [int(s) for s in (seeds if seeds is not None else [exp.split_seed])]
    if not seeds:
        raise ValueError("seeds: plan at least one replicate")
    ladder = list(dict.fromkeys(ladder or [REFERENCE, exp.weak_model, exp.strong_model]))
    for model in (exp.weak_model, exp.strong_model):
        if model not in ladder:
            ladder.append(model)
    first = experiment_splits(exp.replicate(seeds[0]))
    labels = first["test"].labels
    majority_class = int(labels.mean() >= 0.5)
    majority_acc = float((labels == majority_class).mean())

    correct = {m: _probe_correct(m, first, "weak_train", exp, progress) for m in ladder}
    ladder_table = _ladder_table(correct, exp, majority_acc)

    weak_c, strong_c = [], []
    for seed in seeds:
        splits = experiment_splits(exp.replicate(seed))
        weak_c.append(_probe_correct(exp.weak_model, splits, "weak_train", exp, progress))
        strong_c.append(_probe_correct(exp.strong_model, splits, "pool", exp, progress))
    weak_m, strong_m = np.stack(weak_c), np.stack(strong_c)
    gap = pgr_interval(weak_m, strong_m, strong_m)
    gap = {k: gap[k] for k in ("gap", "gap_low", "gap_high", "resolved")}

    truncation, lengths, unit = _truncation(exp, first)
    leaks = leak_check(first, near=True).to_numpy()
    near_duplicates = int(np.triu(leaks, 1).sum())
    found = Diagnosis(
        experiment=exp, seeds=seeds, n_test=len(labels), majority_acc=majority_acc,
        majority_class=majority_class, ladder=ladder_table, gap=gap,
        weak_acc=float(weak_m.mean()), strong_acc=float(strong_m.mean()),
        truncation=truncation, lengths=lengths, length_unit=unit,
        near_duplicates=near_duplicates)
    return replace(found, warnings=_warnings(found))


def _probe_correct(model: str, splits, train_split: str, exp: Experiment,
                   progress: bool) -> np.ndarray:
    """Per-example correctness on test of a probe on ``model``'s frozen features."""
    features = split_features(model, splits, exp.probe, progress=progress)
    head = frozen_probe(features[train_split], splits[train_split].labels)
    hard = head.predict_proba(features["test"])[:, 1] > 0.5
    return hard == splits["test"].labels.astype(bool)


def _ladder_table(correct: dict[str, np.ndarray], exp: Experiment, majority: float
                  ) -> pd.DataFrame:
    strong = correct[exp.strong_model]
    rows = []
    for model, c in correct.items():
        ci = stats.binomtest(int(c.sum()), len(c)).proportion_ci(0.95, method="wilson")
        role = ("weak" if model == exp.weak_model else
                "strong" if model == exp.strong_model else "reference")
        lead = (pgr_interval(strong[None], c[None], c[None]) if role != "strong" else
                dict.fromkeys(("gap", "gap_low", "gap_high"), float("nan")))
        rows.append({"model": model, "role": role, "params_m": get_model(model).params_m,
                     "acc": float(c.mean()), "acc_low": float(ci.low),
                     "acc_high": float(ci.high), "above_majority": bool(ci.low > majority),
                     "vs_strong": lead["gap"], "vs_strong_low": lead["gap_low"],
                     "vs_strong_high": lead["gap_high"]})
    return pd.DataFrame(rows).set_index("model")


def _reads_tokens(model: str) -> bool:
    return get_model(model).kind in ("static", "onnx", "hf")


def _truncation(exp: Experiment, splits) -> tuple[pd.DataFrame, dict[str, np.ndarray], str]:
    """Token counts of every text of the first replicate, per model of the pair that reads
    a limited number of tokens; the strong model's (else the weak's) per split."""
    reads = exp.probe.max_length * exp.probe.max_chunks
    rows, per_split, unit = [], {}, "words"
    models = [m for m in dict.fromkeys((exp.strong_model, exp.weak_model)) if _reads_tokens(m)]
    for model in models:
        limit = reads
        if model == exp.strong_model and exp.regime == "finetune":
            limit = exp.finetune.max_length
        count = _token_counter(model)
        split_counts = {name: count(splits[name].texts) for name in splits.splits}
        everything = np.concatenate(list(split_counts.values()))
        rows.append({"model": model, "reads": int(limit),
                     "share_cut": float((everything > limit).mean()),
                     "median": float(np.median(everything)),
                     "p99": float(np.percentile(everything, 99)),
                     "longest": int(everything.max())})
        if not per_split:
            per_split, unit = split_counts, f"tokens ({model})"
    if not per_split:
        per_split = {name: np.array([len(t.split()) for t in splits[name].texts])
                     for name in splits.splits}
    table = pd.DataFrame(rows, columns=["model", "reads", "share_cut", "median", "p99",
                                        "longest"]).set_index("model")
    return table, per_split, unit


def _token_counter(model: str):
    spec = get_model(model)
    if spec.kind == "static":  # static_model reads its own tokenizer.json
        from tokenizers import Tokenizer

        path = next(f.verified_path() for f in spec.files if f.path.endswith("tokenizer.json"))
        tokenizer = Tokenizer.from_file(str(path))
        return lambda texts: np.array([len(e.ids) for e in tokenizer.encode_batch(list(texts))])
    tokenizer = load_tokenizer(spec)
    return lambda texts: token_counts(tokenizer, texts)


def _warnings(d: Diagnosis) -> list[str]:
    exp, g, out = d.experiment, d.gap, []
    if not g["resolved"]:
        out.append(f"the {exp.weak_model} → {exp.strong_model} gap is not resolved with "
                   f"{len(d.seeds)} replicate(s) and {d.n_test:,} test examples "
                   f"(ceiling − weak {g['gap']:+.3f}, 95% interval {g['gap_low']:+.3f} to "
                   f"{g['gap_high']:+.3f}): a PGR here would divide by a gap that may be "
                   "zero; use a weaker weak model, a stronger strong one, more replicates or "
                   "more test data")
    elif g["gap"] < 0:
        out.append(f"the weak model {exp.weak_model} beats the strong model "
                   f"{exp.strong_model} by {-g['gap']:.3f} ({-g['gap_high']:.3f} to "
                   f"{-g['gap_low']:.3f}): PGR is undefined; swap or change the models")
    for model, row in d.ladder.iterrows():
        if not row.above_majority:
            out.append(f"{model} ({row.acc:.3f}, {row.acc_low:.3f} to {row.acc_high:.3f}) "
                       f"does not beat always predicting class {d.majority_class} "
                       f"({d.majority_acc:.3f})")
        if row.role != "strong" and row.vs_strong_low > 0:
            out.append(f"{model} ({row.role}) beats the strong model {exp.strong_model} by "
                       f"{row.vs_strong:.3f} ({row.vs_strong_low:.3f} to "
                       f"{row.vs_strong_high:.3f}) on frozen features")
    for model, row in d.truncation.iterrows():
        if row['share_cut'] > TRUNCATION_WARNING:
            fix = ("raise finetune max_length" if exp.regime == "finetune"
                   and model == exp.strong_model else
                   "raise probe max_length or set max_chunks > 1")
            out.append(f"{row['share_cut']:.0%} of texts are longer than the "
                       f"{int(row['reads'])} tokens {model} reads and are cut (median "
                       f"{row['median']:.0f}, longest {int(row['longest'])}): {fix}")
    if d.near_duplicates:
        out.append(f"{d.near_duplicates} near-duplicate texts are shared across splits")
    return out
