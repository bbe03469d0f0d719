"""Metrics on ground truth, PGR with paired intervals, and paired method comparisons.

Every seed of a table shares the fixed ``test`` set, so methods are compared by
per-seed paired differences (paired t-test and a sign-flip permutation test, Holm
across the methods of a table), and PGR is a ratio of seed means with a bootstrap
interval that resamples seeds and test examples together.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

BOOTSTRAP_DRAWS = 2000
ALPHA = 0.05


def classification_metrics(labels: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """Accuracy, balanced accuracy and AUROC of P(y=1) against 0/1 labels."""
    labels = np.asarray(labels)
    hard = (np.asarray(probs) > 0.5).astype(int)
    auroc = roc_auc_score(labels, probs) if len(np.unique(labels)) == 2 else float("nan")
    return {
        "acc": float((hard == labels).mean()),
        "balanced_acc": float(balanced_accuracy_score(labels, hard)),
        "auroc": float(auroc),
    }


def pgr(student: float, weak: float, ceiling: float) -> float:
    """Performance gap recovered: (student − weak) / (ceiling − weak).

    NaN when the ceiling does not beat the weak model: there is no gap to recover.
    """
    gap = ceiling - weak
    return float((student - weak) / gap) if gap > 1e-9 else float("nan")


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, int]:
    """Mean and half-width of a Student-t confidence interval over seeds (NaNs dropped)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), 0
    if len(x) == 1:
        return float(x[0]), float("nan"), 1
    half = stats.t.ppf(0.5 + confidence / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(half), len(x)


def summarize(frame: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    """Mean, 95% CI half-width and seed count of each metric per group."""
    rows = []
    for keys, group in frame.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(by, keys))
        for metric in metrics:
            mean, half, n = mean_ci(group[metric])
            row[metric] = mean
            row[f"{metric}_ci95"] = half
            if n < len(group):  # NaN runs (e.g. PGR with no gap) are left out of the mean
                row[f"{metric}_n"] = n
        row["seeds"] = len(group)
        row["seed_list"] = ",".join(str(s) for s in sorted(group["seed"]))
        rows.append(row)
    return pd.DataFrame(rows)


def weak_error_imitation(labels, weak_probs, student_probs) -> dict[str, float]:
    """How often the student agrees with the weak labels where the weak model is wrong vs right.

    High agreement on weak-wrong examples means the student copies the supervisor's
    mistakes instead of generalising past them.
    """
    labels = np.asarray(labels)
    weak = np.asarray(weak_probs) > 0.5
    student = np.asarray(student_probs) > 0.5
    wrong = weak != labels.astype(bool)
    agree = student == weak
    return {
        "agree_weak_wrong": float(agree[wrong].mean()) if wrong.any() else float("nan"),
        "agree_weak_right": float(agree[~wrong].mean()) if (~wrong).any() else float("nan"),
        "misfit": float(1 - agree.mean()),
    }


def weak_fit_diagnostics(supervisor: dict[str, np.ndarray], student: dict[str, np.ndarray]
                         ) -> dict[str, float]:
    """Label-free diagnostics from soft predictions on ``pool`` and ``val`` only.

    ``misfit_sq_*``: mean squared difference between the student's P(y=1) and its
    supervisor's, the misfit that Charikar et al. (2024) show lower-bounds the gain in
    squared loss (for a student that is the projection of the weak labels onto a convex
    class). ``error_difference_val``: the share of ``val`` where the two disagree; on a
    binary task two classifiers disagree exactly where one of them errs and the other
    does not, so this is how often their errors differ, measured without any label.
    """
    out = {f"misfit_sq_{s}": float(np.mean((np.asarray(student[s], float)
                                            - np.asarray(supervisor[s], float)) ** 2))
           for s in ("pool", "val")}
    out["error_difference_val"] = float(np.mean(
        (np.asarray(student["val"]) > 0.5) != (np.asarray(supervisor["val"]) > 0.5)))
    return out


def correlation_interval(x, y, groups=None, draws: int = BOOTSTRAP_DRAWS, seed: int = 0,
                         confidence: float = 1 - ALPHA) -> dict[str, float]:
    """Pearson correlation of paired values with a percentile bootstrap interval.

    ``groups`` (e.g. the replicate seed) names clusters of pairs that share data, such as
    runs on one seed's split and weak labels; the bootstrap then resamples whole groups,
    since pairs within one are not independent. Without it, pairs are resampled.
    NaN pairs are dropped.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    groups = np.arange(len(x)) if groups is None else np.asarray(groups)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y, groups = x[keep], y[keep], groups[keep]
    nan = {"r": float("nan"), "r_low": float("nan"), "r_high": float("nan"), "n": len(x)}
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return nan
    _, codes = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]
    rng = np.random.default_rng(seed)
    boot = np.empty(draws)
    for i in range(draws):
        rows = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        boot[i] = _pearson(x[rows], y[rows])
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(boot, [tail, 100 - tail])
    return {"r": _pearson(x, y), "r_low": float(low), "r_high": float(high), "n": len(x)}


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def expected_calibration_error(labels, probs, bins: int = 10) -> float:
    """Mean |confidence − accuracy| over equal-width confidence bins, weighted by size."""
    labels = np.asarray(labels)
    probs = np.asarray(probs)
    confidence = np.maximum(probs, 1 - probs)
    correct = (probs > 0.5) == labels.astype(bool)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    error = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            error += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(error)


def interval_side(mean: float, half: float, other: float, other_half: float) -> int:
    """+1 if ``mean ± half`` lies wholly above ``other ± other_half``, -1 if wholly below,
    0 if the intervals overlap (no reliable difference)."""
    if mean - half > other + other_half:
        return 1
    if mean + half < other - other_half:
        return -1
    return 0


# --------------------------------------------------------------------------- per-example


def pack_correct(labels, probs) -> str:
    """Which test examples a model got right, as hex of packed bits (for the bootstrap)."""
    correct = (np.asarray(probs) > 0.5) == np.asarray(labels).astype(bool)
    return np.packbits(correct).tobytes().hex()


def unpack_correct(packed: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(bytes.fromhex(packed), np.uint8))[:n].astype(bool)


def _correct_matrix(group: pd.DataFrame, who: str) -> np.ndarray:
    """(seeds, test examples) correctness of ``who`` (weak, ceiling or student)."""
    n = int(group["n_test"].iloc[0])
    return np.stack([unpack_correct(p, n) for p in group[f"{who}_test_correct"]])


# --------------------------------------------------------------------------- PGR


def pgr_interval(weak: np.ndarray, ceiling: np.ndarray, student: np.ndarray,
                 draws: int = BOOTSTRAP_DRAWS, seed: int = 0,
                 confidence: float = 1 - ALPHA) -> dict[str, float]:
    """PGR as a ratio of seed means, with a paired bootstrap over seeds and test examples.

    Arguments are (seeds, examples) correctness on one fixed test set. Each draw
    resamples seeds and, shared by every seed and model, test examples, so what the
    three models have in common cancels as it does in the point estimate. The gap
    (ceiling − weak) gets its own interval; when it includes 0 the gap is not resolved
    and there is no PGR to report (``pgr`` is NaN, ``resolved`` False).
    """
    rng = np.random.default_rng(seed)
    n_seeds, n = weak.shape
    acc = {k: m.mean(1) for k, m in (("weak", weak), ("ceiling", ceiling), ("student", student))}
    gap = acc["ceiling"].mean() - acc["weak"].mean()
    point = (acc["student"].mean() - acc["weak"].mean()) / gap if gap != 0 else np.nan
    counts = rng.multinomial(n, np.full(n, 1 / n), size=draws).astype(np.float32) / n
    seed_draws = rng.integers(0, n_seeds, size=(draws, n_seeds))
    boot = {}
    for k, m in (("weak", weak), ("ceiling", ceiling), ("student", student)):
        per_seed = counts @ m.T.astype(np.float32)  # (draws, seeds): accuracy per resample
        boot[k] = np.take_along_axis(per_seed, seed_draws, 1).mean(1)
    b_gap = boot["ceiling"] - boot["weak"]
    tail = (1 - confidence) / 2 * 100
    gap_lo, gap_hi = np.percentile(b_gap, [tail, 100 - tail])
    resolved = bool(gap_lo > 0 or gap_hi < 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        b_pgr = (boot["student"] - boot["weak"]) / b_gap
    lo, hi = np.nanpercentile(b_pgr, [tail, 100 - tail]) if resolved else (np.nan, np.nan)
    return {"pgr": float(point) if resolved else float("nan"), "pgr_low": float(lo),
            "pgr_high": float(hi), "gap": float(gap), "gap_low": float(gap_lo),
            "gap_high": float(gap_hi), "resolved": resolved}


def pgr_summary(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """One row per group: accuracies (mean ± 95% t-interval over seeds), PGR as a ratio
    of means with its paired bootstrap interval, the per-seed PGRs, and ``warnings``: in
    words, whatever makes a row's numbers say less than they seem to (a gap within
    noise, a weak model ahead of its ceiling, an accuracy that does not beat always
    predicting the majority class). ``pgr_note`` says why a row has no PGR."""
    rows = []
    for keys, group in frame.groupby(by, sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        group = group.sort_values("seed")
        row = dict(zip(by, keys))
        for metric in ("weak_acc", "ceiling_acc", "student_acc"):
            row[metric], row[f"{metric}_ci95"], _ = mean_ci(group[metric])
        row.update(pgr_interval(*(_correct_matrix(group, w)
                                  for w in ("weak", "ceiling", "student"))))
        weak_ahead = row["resolved"] and row["gap"] < 0
        if weak_ahead:  # a ratio over a negative gap is no recovery
            row.update(pgr=float("nan"), pgr_low=float("nan"), pgr_high=float("nan"))
        row["pgr_note"] = ("weak beats ceiling" if weak_ahead else
                           "" if row["resolved"] else "gap not resolved")
        per_seed = group["pgr"].to_numpy(float)
        row["per_seed_pgr"] = " ".join("nan" if np.isnan(v) else f"{v:.2f}" for v in per_seed)
        row["nan_seeds"] = int(np.isnan(per_seed).sum())
        row["seeds"] = len(group)
        row["seed_list"] = ",".join(str(s) for s in group["seed"])
        if "supervisor" in group:
            row["supervisor"] = group["supervisor"].iloc[0]
        majority = group["majority_acc"].iloc[0] if "majority_acc" in group else np.nan
        row["majority_acc"] = float(majority)
        row["warnings"] = "; ".join(row_warnings(row))
        rows.append(row)
    return pd.DataFrame(rows)


def row_warnings(row: dict) -> list[str]:
    """Why a summary row's numbers say less than they seem to, one sentence each."""
    out = []
    interval = f"{row['gap']:+.3f} [{row['gap_low']:+.3f}, {row['gap_high']:+.3f}]"
    if not row["resolved"]:
        out.append(f"gap not resolved: ceiling − weak {interval}, no PGR")
    elif row["gap"] < 0:
        out.append(f"weak model beats the ceiling: ceiling − weak {interval}, no PGR")
    if row["nan_seeds"] and row["resolved"] and row["gap"] > 0:
        out.append(f"PGR undefined on {row['nan_seeds']} of {row['seeds']} seeds "
                   "(ceiling not above weak there)")
    majority = row.get("majority_acc", np.nan)
    for who in ("weak", "ceiling", "student"):
        mean = row[f"{who}_acc"]
        if not np.isnan(majority) and mean <= majority:
            out.append(f"{who} {mean:.3f} is no better than always predicting the majority "
                       f"class ({majority:.3f})")
    return out


def warning_summary(table: pd.DataFrame) -> str:
    """How many rows of a ``pgr_summary`` table carry warnings, then each one in full
    (a displayed table cuts long text)."""
    flagged = table[table["warnings"] != ""]
    if flagged.empty:
        return f"No warnings in {len(table)} row(s)."
    keys = list(table.columns[:list(table.columns).index("weak_acc")])
    lines = [f"{len(flagged)} of {len(table)} row(s) carry warnings:"]
    for _, row in flagged.iterrows():
        name = " / ".join(str(row[k]) for k in keys)
        lines += [f"  {name}: {w}" for w in row["warnings"].split("; ")]
    return "\n".join(lines)


# --------------------------------------------------------------------------- comparisons


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment: controls the family-wise error across a table."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    order = np.argsort(p[ok])
    m = ok.sum()
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[ok][order])
    values = np.empty(m)
    values[order] = np.minimum(stepped, 1.0)
    adjusted[ok] = values
    return adjusted


def paired_test(differences) -> dict[str, float]:
    """Paired t-test and exact sign-flip permutation test of per-seed differences.

    The t-test is undefined when every difference is the same (no variance): its p-value
    is then NaN and the sign-flip test still answers.
    """
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return {"p_t": float("nan"), "p_signflip": float("nan")}
    if np.allclose(d, 0):
        return {"p_t": 1.0, "p_signflip": 1.0}
    p_t = float("nan") if np.allclose(d, d[0]) else float(stats.ttest_1samp(d, 0.0).pvalue)
    flip = stats.permutation_test((d,), np.mean, permutation_type="samples",
                                  n_resamples=np.inf if len(d) <= 16 else 9999,
                                  random_state=0)
    return {"p_t": p_t, "p_signflip": float(flip.pvalue)}


def paired_verdicts(frame: pd.DataFrame, baseline: str = "naive", by: str = "regime",
                    alpha: float = ALPHA) -> pd.DataFrame:
    """Each method against ``baseline`` on the same seeds, one verdict per method.

    The per-seed difference is the student's gain over its own supervisor minus the
    baseline's (for a method that keeps the weak model that is simply the difference in
    student accuracy). Tests: paired t and sign-flip permutation; the verdict uses the
    t-test's p-value (the sign-flip one where t is undefined), Holm-adjusted across the
    methods of each ``by`` group. Seeds that one side lacks are left out and counted.
    """
    rows = []
    for group, part in frame.groupby(by, sort=True):
        gain = part.assign(gain=part["student_acc"] - part["weak_acc"]).pivot_table(
            index="seed", columns="method", values="gain")
        if baseline not in gain:
            continue
        gap = part[part["method"] == baseline].set_index("seed")
        gap = (gap["ceiling_acc"] - gap["weak_acc"]).mean()
        block = []
        for method in sorted(c for c in gain.columns if c != baseline):
            both = gain[[method, baseline]].dropna()
            d = (both[method] - both[baseline]).to_numpy()
            changed = "supervisor" in part and (
                part.loc[part["method"] == method, "supervisor"] == "changed").any()
            block.append({by: group, "method": method, "seeds": len(d),
                          "missing_seeds": int(len(gain) - len(d)),
                          "difference_acc": float(d.mean()) if len(d) else float("nan"),
                          "difference_pgr": float(d.mean() / gap) if len(d) else float("nan"),
                          "wins": f"{int((d > 0).sum())}/{len(d)}",
                          **paired_test(d), "supervisor": "changed" if changed else "weak"})
        if not block:
            continue
        adjusted = holm([b["p_signflip"] if np.isnan(b["p_t"]) else b["p_t"] for b in block])
        for b, p_holm in zip(block, adjusted):
            b["p_holm"] = float(p_holm)
            if np.isnan(p_holm):
                b["verdict"] = "no test (fewer than 2 seeds)"
            elif p_holm < alpha:
                b["verdict"] = "helped" if b["difference_acc"] > 0 else "hurt"
            else:
                b["verdict"] = "no clear difference"
        rows.extend(block)
    return pd.DataFrame(rows)


def verdict_power(frame: pd.DataFrame, method: str, baseline: str = "naive",
                  sizes=None, subsets: int = 300, seed: int = 0,
                  alpha: float = ALPHA) -> pd.DataFrame:
    """How often a paired t-test, and the old rule "95% intervals do not overlap", see a
    difference between ``method`` and ``baseline`` when only ``n`` of the run's seeds are
    used (random subsets of the recorded seeds): the power of each rule at ``n`` seeds,
    estimated from this run's own per-seed data."""
    rng = np.random.default_rng(seed)
    frame = frame.assign(gain=frame["student_acc"] - frame["weak_acc"])
    wide = frame.pivot_table(index="seed", columns="method", values="gain")
    wide = wide[[method, baseline]].dropna()
    ratio = frame.pivot_table(index="seed", columns="method", values="pgr")
    seeds = wide.index.to_numpy()
    sizes = sizes or list(range(2, len(seeds) + 1))
    rows = []
    for n in sizes:
        paired = overlap = 0
        for _ in range(subsets):
            pick = wide.loc[rng.choice(seeds, n, replace=False)]
            d = (pick[method] - pick[baseline]).to_numpy()
            paired += bool(stats.ttest_1samp(d, 0.0).pvalue < alpha) if np.ptp(d) > 0 else False
            chosen = ratio.loc[pick.index]
            (m1, h1, _), (m0, h0, _) = mean_ci(chosen[method]), mean_ci(chosen[baseline])
            overlap += interval_side(m1, h1, m0, h0) != 0
        rows.append({"seeds": n, "paired t-test": paired / subsets,
                     "intervals do not overlap": overlap / subsets})
    return pd.DataFrame(rows).set_index("seeds")
