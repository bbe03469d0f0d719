"""Exercise 1 (``e1_pgr_by_hand``): PGR as a ratio of seed means, and a paired bootstrap
of the gap over seeds and test examples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import metrics
from .common import WrongAnswer, close, passed, run_answer


def _accuracy_cases(rng: np.random.Generator) -> list[tuple[np.ndarray, ...]]:
    """Per-seed accuracies (weak, student, ceiling) where the mean of per-seed PGRs and
    the PGR of the means differ, plus a case with no gap."""
    cases = []
    for _ in range(4):
        weak = rng.uniform(0.6, 0.7, 6)
        ceiling = weak + rng.uniform(0.005, 0.15, 6)
        student = weak + rng.uniform(-0.02, 1.0, 6) * (ceiling - weak)
        cases.append((weak, student, ceiling))
    weak = np.full(4, 0.8)
    cases.append((weak, weak + 0.01, weak - 0.01))  # the ceiling does not beat weak
    return cases


def check_pgr(pgr_of_means: Callable) -> None:
    """``pgr_of_means(weak, student, ceiling)``: per-seed accuracy arrays → one PGR."""
    rng = np.random.default_rng(1)
    for weak, student, ceiling in _accuracy_cases(rng):
        got = run_answer(pgr_of_means, weak.copy(), student.copy(), ceiling.copy())
        gap = ceiling.mean() - weak.mean()
        right = (student.mean() - weak.mean()) / gap if gap > 0 else np.nan
        if close(got, right):
            continue
        if gap <= 0:
            raise WrongAnswer(
                f"With weak {weak.mean():.3f} and ceiling {ceiling.mean():.3f} the ceiling does "
                f"not beat the weak model: there is no gap to recover, so return NaN "
                f"(float('nan')), not {got}. A PGR here would be a number with no meaning.")
        with np.errstate(divide="ignore", invalid="ignore"):
            per_seed = np.nanmean((student - weak) / (ceiling - weak))
        wrong = {
            "the mean of the per-seed PGRs": per_seed,
            "(ceiling − student) / (ceiling − weak), the gap NOT recovered":
                (ceiling.mean() - student.mean()) / gap,
            "(student − weak) / ceiling: the denominator must be the gap, ceiling − weak":
                (student.mean() - weak.mean()) / ceiling.mean(),
            "(student − weak) / (ceiling − student): the denominator must be the whole gap, "
            "ceiling − weak": (student.mean() - weak.mean()) / (ceiling.mean() - student.mean()),
        }
        for mistake, value in wrong.items():
            if close(got, value):
                hint = (" PGR is a ratio of means: average each model's accuracy over seeds "
                        "first, then take one ratio. Per-seed ratios blow up on seeds whose "
                        "gap is small." if "per-seed" in mistake else "")
                raise WrongAnswer(f"Your answer {got:.4f} is {mistake}.{hint} "
                                  f"Expected {right:.4f}.")
        raise WrongAnswer(f"For weak {np.round(weak, 3)}, student {np.round(student, 3)}, "
                          f"ceiling {np.round(ceiling, 3)} you returned {got!r}; expected "
                          f"(mean student − mean weak) / (mean ceiling − mean weak) = {right:.4f}.")
    passed("pgr_of_means", "A ratio of seed means, and NaN where there is no gap.")


def _correctness(rng, seeds: int, n: int, acc: float, shared: np.ndarray | None = None,
                 keep: float = 0.0) -> np.ndarray:
    fresh = rng.random((seeds, n)) < acc
    if shared is None:
        return fresh
    return np.where(rng.random((seeds, n)) < keep, shared, fresh)


def check_bootstrap_gap(bootstrap_gap: Callable) -> None:
    """``bootstrap_gap(weak_correct, ceiling_correct, draws, rng)``: (seeds, examples)
    boolean arrays → ``draws`` bootstrap values of mean ceiling − mean weak accuracy,
    resampling seeds and test examples together."""
    rng = np.random.default_rng(2)
    # Models that agree on most examples: the paired resample must see that.
    base = rng.random(400) < 0.75
    weak = _correctness(rng, 5, 400, 0.75, np.tile(base, (5, 1)), keep=0.9)
    ceiling = np.where(rng.random((5, 400)) < 0.92, weak | (rng.random((5, 400)) < 0.3),
                       rng.random((5, 400)) < 0.85)
    draws = 2000
    got = np.asarray(run_answer(bootstrap_gap, weak.copy(), ceiling.copy(), draws,
                           np.random.default_rng(0)), float)
    if got.shape != (draws,):
        raise WrongAnswer(f"Return one gap per draw: an array of shape ({draws},), not "
                          f"{got.shape}.")
    point = ceiling.mean() - weak.mean()
    reference = metrics.pgr_interval(weak, ceiling, ceiling, draws=draws)
    ref_width = reference["gap_high"] - reference["gap_low"]
    width = np.subtract(*np.percentile(got, [97.5, 2.5]))
    if abs(got.mean() - point) > ref_width / 2:
        raise WrongAnswer(f"Your draws centre on {got.mean():.4f} but the observed gap is "
                          f"{point:.4f}: each draw should be mean(ceiling) − mean(weak) on "
                          "resampled data (check the sign and that you take accuracies).")
    # What each typical mistake would give on these data.
    seeds_only = _gap_draws(weak, ceiling, draws, seeds=True, examples=False)
    unpaired = _gap_draws(weak, ceiling, draws, seeds=True, examples=True, paired=False)
    widths = {k: np.subtract(*np.percentile(v, [97.5, 2.5]))
              for k, v in (("seeds", seeds_only), ("unpaired", unpaired))}
    if width < 0.6 * ref_width and abs(width - widths["seeds"]) < abs(width - ref_width):
        raise WrongAnswer(
            f"Your 95% range is {width:.4f} wide, the right one about {ref_width:.4f}: it "
            "looks like you resampled seeds only. The test set is a sample too: resample "
            "test examples (columns) as well as seeds (rows).")
    if width > 1.4 * ref_width and abs(width - widths["unpaired"]) < abs(width - ref_width):
        raise WrongAnswer(
            f"Your 95% range is {width:.4f} wide, the right one about {ref_width:.4f}: it "
            "looks like weak and ceiling got different resamples. Draw ONE set of test "
            "examples (and seeds) per draw and use it for both models: what they share "
            "cancels in the difference.")
    if not 0.6 * ref_width <= width <= 1.4 * ref_width:
        raise WrongAnswer(f"Your 95% range is {width:.4f} wide; resampling seeds and test "
                          f"examples together gives about {ref_width:.4f}.")
    passed("bootstrap_gap", f"Paired resampling: 95% range {width:.4f} (reference "
            f"{ref_width:.4f}).")


def _gap_draws(weak, ceiling, draws, seeds=True, examples=True, paired=True,
               rng=None) -> np.ndarray:
    rng = rng or np.random.default_rng(3)
    n_seeds, n = weak.shape
    out = np.empty(draws)
    for d in range(draws):
        s = rng.integers(0, n_seeds, n_seeds) if seeds else np.arange(n_seeds)
        e = rng.integers(0, n, n) if examples else np.arange(n)
        e2 = e if paired else rng.integers(0, n, n)
        out[d] = ceiling[np.ix_(s, e2)].mean() - weak[np.ix_(s, e)].mean()
    return out

