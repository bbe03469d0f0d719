"""Uncertainty over seeds and test examples: t-intervals of seed means, PGR as a ratio of
seed means with a paired bootstrap, and a cluster bootstrap for correlations.

Every seed of a table shares the fixed ``test`` set, so PGR's bootstrap resamples seeds
and test examples together: what the three models have in common cancels.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

BOOTSTRAP_DRAWS = 2000
ALPHA = 0.05


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


def interval_side(mean: float, half: float, other: float, other_half: float) -> int:
    """+1 if ``mean ± half`` lies wholly above ``other ± other_half``, -1 if wholly below,
    0 if the intervals overlap (no reliable difference)."""
    if mean - half > other + other_half:
        return 1
    if mean + half < other - other_half:
        return -1
    return 0


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
