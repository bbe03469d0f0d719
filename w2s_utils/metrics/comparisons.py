"""Paired method comparisons on shared seeds: per-seed differences against a baseline,
a paired t-test and a sign-flip permutation test, Holm across the methods of a table,
and how often such a verdict is reached with fewer seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .intervals import ALPHA, interval_side, mean_ci


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
