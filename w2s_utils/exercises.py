"""Checks for the exercise notebooks (``notebooks/exercises/``).

Each ``check_*`` runs a participant's answer on cases whose right answer is known and
either prints what the answer got right or raises :class:`WrongAnswer` naming the
mistake: it recognises the typical wrong answers (the formula with the wrong
denominator, bins weighted equally, a test that does not pair seeds, ...) by computing
them and comparing. The cases are generated here, with several random draws, so an
answer tuned to one table does not pass.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
from scipy import optimize

from . import metrics


class WrongAnswer(AssertionError):
    """An exercise answer that is not right yet; the message says what is wrong."""


def _close(a, b, tol: float = 1e-6) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all((np.isnan(a) & np.isnan(b))
                                             | (np.abs(a - b) <= tol)))


def _passed(name: str, why: str) -> None:
    print(f"✓ {name}: correct. {why}")


def _call(fn: Callable, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise WrongAnswer(f"{fn.__name__} is not written yet (it raised "
                          "NotImplementedError): replace the `raise` with your code.") from None
    except Exception as error:  # the participant's bug: say where, keep the traceback
        raise WrongAnswer(f"{fn.__name__} raised {type(error).__name__}: {error} "
                          "(its traceback is above this one).") from error


# --------------------------------------------------------------------------- 1. PGR


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
        got = _call(pgr_of_means, weak.copy(), student.copy(), ceiling.copy())
        gap = ceiling.mean() - weak.mean()
        right = (student.mean() - weak.mean()) / gap if gap > 0 else np.nan
        if _close(got, right):
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
            if _close(got, value):
                hint = (" PGR is a ratio of means: average each model's accuracy over seeds "
                        "first, then take one ratio. Per-seed ratios blow up on seeds whose "
                        "gap is small." if "per-seed" in mistake else "")
                raise WrongAnswer(f"Your answer {got:.4f} is {mistake}.{hint} "
                                  f"Expected {right:.4f}.")
        raise WrongAnswer(f"For weak {np.round(weak, 3)}, student {np.round(student, 3)}, "
                          f"ceiling {np.round(ceiling, 3)} you returned {got!r}; expected "
                          f"(mean student − mean weak) / (mean ceiling − mean weak) = {right:.4f}.")
    _passed("pgr_of_means", "A ratio of seed means, and NaN where there is no gap.")


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
    got = np.asarray(_call(bootstrap_gap, weak.copy(), ceiling.copy(), draws,
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
    _passed("bootstrap_gap", f"Paired resampling: 95% range {width:.4f} (reference "
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


# --------------------------------------------------------------------------- 2. calibration


def _calibration_case(rng, n=3000):
    labels = rng.integers(0, 2, n)
    logits = (2 * labels - 1) * rng.gamma(2.0, 1.0, n) + rng.normal(0, 1.5, n)
    return labels, 1 / (1 + np.exp(-1.8 * logits))  # overconfident on purpose


def check_ece(ece: Callable) -> None:
    """``ece(labels, probs, bins=10)``: expected calibration error of P(y=1)."""
    rng = np.random.default_rng(4)
    for _ in range(3):
        labels, probs = _calibration_case(rng)
        probs = np.where(rng.random(len(probs)) < 0.3, 0.5 + 0.05 * rng.random(len(probs)),
                         probs)  # crowd one bin, so equal bin weights are visibly wrong
        got = _call(ece, labels.copy(), probs.copy(), bins=10)
        right = metrics.expected_calibration_error(labels, probs, bins=10)
        if _close(got, right, 1e-4):
            continue
        edges = np.linspace(0.5, 1.0, 11)
        confidence = np.maximum(probs, 1 - probs)
        correct = (probs > 0.5) == labels.astype(bool)
        which = np.clip(np.digitize(confidence, edges) - 1, 0, 9)
        gaps = [abs(confidence[which == b].mean() - correct[which == b].mean())
                for b in range(10) if (which == b).any()]
        raw_edges = np.linspace(0, 1, 11)
        raw_which = np.clip(np.digitize(probs, raw_edges) - 1, 0, 9)
        raw = sum((raw_which == b).mean() * abs(probs[raw_which == b].mean()
                                                 - labels[raw_which == b].mean())
                  for b in range(10) if (raw_which == b).any())
        if _close(got, np.mean(gaps), 1e-4):
            raise WrongAnswer(f"You averaged the bins equally ({got:.4f}); weight each bin "
                              f"by its share of examples (expected {right:.4f}). A bin with "
                              "3 examples should not count as much as one with 900.")
        if _close(got, raw, 1e-4):
            raise WrongAnswer(
                f"You binned P(y=1) on [0, 1] ({got:.4f}); this exercise bins the model's "
                "confidence in its own prediction, max(p, 1 − p), on [0.5, 1], and compares it "
                f"with whether that prediction was right (expected {right:.4f}).")
        raise WrongAnswer(f"ece returned {got!r}, expected {right:.4f}: per bin of "
                          "confidence max(p, 1 − p), |mean confidence − accuracy|, weighted "
                          "by the bin's share of examples.")
    _passed("ece", "Bins of confidence, weighted by their size.")


def check_temperature(fit_temperature: Callable) -> None:
    """``fit_temperature(logits, labels)``: the T > 0 minimising the log loss of
    sigmoid(logits / T)."""
    rng = np.random.default_rng(5)
    for scale in (1.8, 0.6):  # over- and under-confident
        labels, probs = _calibration_case(rng)
        logits = np.log(probs / (1 - probs)) * scale / 1.8
        got = _call(fit_temperature, logits.copy(), labels.copy())
        if not isinstance(got, int | float | np.number):
            raise WrongAnswer(f"Return one number, the temperature, not {type(got).__name__}.")
        got = float(got)
        right = _best_temperature(logits, labels)
        if abs(got - right) <= 0.02 * right:
            continue
        if abs(got - 1 / right) <= 0.02 / right:
            raise WrongAnswer(f"You returned {got:.3f}, the inverse of the temperature "
                              f"({right:.3f}): divide the logits by T, sigmoid(logits / T).")
        if got <= 0:
            raise WrongAnswer(f"A temperature must be positive; you returned {got:.3f}.")
        raise WrongAnswer(f"Temperature {got:.3f} does not minimise the log loss of "
                          f"sigmoid(logits / T); the minimum is at T = {right:.3f}. "
                          "Minimise the mean binary cross-entropy over T (e.g. "
                          "scipy.optimize.minimize_scalar on log T).")
    _passed("fit_temperature", "T > 1 softens an overconfident model, T < 1 sharpens.")


def _best_temperature(logits, labels) -> float:
    def loss(log_t):
        z = logits / np.exp(log_t)
        return np.mean(np.logaddexp(0, z) - labels * z)
    return float(np.exp(optimize.minimize_scalar(loss, bounds=(-5, 5), method="bounded").x))


# --------------------------------------------------------------------------- 3. a method


def check_confidence_weights(method_class: type) -> None:
    """A ``Method`` plug-in whose ``weights`` are the weak labels' confidence
    |2p − 1| raised to ``Params.power``."""
    from .methods.base import METHODS, Method

    if not (isinstance(method_class, type) and issubclass(method_class, Method)):
        raise WrongAnswer("Pass the class itself (not an instance), a subclass of "
                          "w2s_utils.methods.base.Method.")
    if not method_class.name:
        raise WrongAnswer("Give the class a `name` (the string experiments use).")
    if method_class.name not in METHODS or METHODS.get(method_class.name) is not method_class:
        raise WrongAnswer(f"Decorate the class with @register so experiments find it by its "
                          f"name {method_class.name!r} (rerunning the cell replaces it).")
    overridden = [h for h in ("targets", "relabel", "subset", "loss", "run")
                  if getattr(method_class, h) is not getattr(Method, h)]
    if overridden:
        raise WrongAnswer(f"Override only `weights`: you also changed {overridden}, and a "
                          "plug-in states only what differs from naive training.")
    if "power" not in method_class.Params.model_fields:
        raise WrongAnswer("Params needs a field `power` (a float, default 1.0).")
    probs = np.array([0.02, 0.3, 0.5, 0.62, 0.97, 0.81])
    for power in (1.0, 2.0):
        ctx = _WeightsContext(probs, method_class.Params(power=power))
        got = _call(method_class().weights, ctx)
        right = np.abs(2 * probs - 1) ** power
        if got is None:
            raise WrongAnswer("weights returned None, which means equal weights.")
        got = np.asarray(got, float)
        if got.shape != probs.shape:
            raise WrongAnswer(f"Return one weight per pool example: shape {probs.shape}, "
                              f"not {got.shape}.")
        if _close(got, right, 1e-6):
            continue
        if _close(got, probs ** power, 1e-6):
            raise WrongAnswer("You weighted by P(y=1): that favours examples labelled "
                              "positive. Confidence is symmetric: |2p − 1| is 1 at p = 0 and "
                              "p = 1, and 0 at p = 0.5.")
        if _close(got, (1 - np.abs(2 * probs - 1)) ** power, 1e-6):
            raise WrongAnswer("Your weights are largest where the weak model is least sure "
                              "(p near 0.5): invert them, |2p − 1|.")
        if _close(got, np.abs(2 * probs - 1), 1e-6):
            raise WrongAnswer("Your weights ignore Params.power: read it from "
                              "ctx.params.power.")
        raise WrongAnswer(f"For weak probabilities {probs} and power {power} expected "
                          f"{np.round(right, 4)}, got {np.round(got, 4)}.")
    _passed(method_class.__name__, "Weights from weak confidence, nothing else changed.")


class _WeightsContext:
    """The parts of a StudentContext that ``weights`` may read."""

    def __init__(self, probs, params):
        self.weak = {"pool": probs.copy(), "val": probs.copy()}
        self.params = params


# --------------------------------------------------------------------------- 4. seeds


def reference_differences(frame: pd.DataFrame, method: str, baseline: str = "naive"
                          ) -> pd.Series:
    """Per seed: the method's gain over its own supervisor minus the baseline's."""
    gain = frame.assign(gain=frame["student_acc"] - frame["weak_acc"]).pivot_table(
        index="seed", columns="method", values="gain")
    both = gain[[method, baseline]].dropna()
    return (both[method] - both[baseline]).rename(f"{method} − {baseline}")


def _difference_cases(rng) -> list[tuple[pd.DataFrame, str]]:
    cases = []
    for shuffle in (False, True):
        seeds = np.arange(8)
        rows = []
        for method, changes in (("naive", False), ("better_teacher", True)):
            for s in seeds:
                weak = 0.70 + 0.01 * rng.standard_normal() + (0.04 if changes else 0)
                rows.append({"method": method, "seed": int(s), "weak_acc": weak,
                             "student_acc": weak + 0.02 + 0.01 * rng.standard_normal()
                             + 0.01 * s})
        frame = pd.DataFrame(rows)
        if shuffle:
            frame = frame.sample(frac=1, random_state=int(rng.integers(1000)))
        cases.append((frame.reset_index(drop=True), "better_teacher"))
    return cases


def check_paired_differences(paired_differences: Callable) -> None:
    """``paired_differences(frame, method)``: per-seed differences (a Series indexed by
    seed) of ``method`` − naive in student gain over each run's own supervisor."""
    rng = np.random.default_rng(6)
    for frame, method in _difference_cases(rng):
        got = _call(paired_differences, frame.copy(), method)
        right = reference_differences(frame, method)
        got = pd.Series(got)
        if len(got) != len(right):
            raise WrongAnswer(f"Expected one difference per seed ({len(right)}), got "
                              f"{len(got)}.")
        got_values = got.sort_index().to_numpy(float) if got.index.isin(right.index).all() \
            else got.to_numpy(float)
        if _close(got_values, right.to_numpy(float), 1e-9):
            continue
        students = frame.pivot_table(index="seed", columns="method", values="student_acc")
        raw = (students[method] - students["naive"]).to_numpy(float)
        if _close(got_values, raw, 1e-9):
            raise WrongAnswer(
                "You subtracted student accuracies. This method trains its student on a "
                "better supervisor than the weak model, so part of its lead is the "
                "teacher's: subtract each run's own supervisor (student_acc − weak_acc) "
                "before comparing.")
        if np.isclose(got_values.mean(), right.mean()) and not _close(
                np.sort(got_values), np.sort(right.to_numpy(float)), 1e-9):
            raise WrongAnswer("Your differences average right but do not pair seeds: take "
                              "method − naive within the SAME seed (same split, same "
                              "initialisation), e.g. with a pivot on 'seed'.")
        raise WrongAnswer(f"Expected {np.round(right.to_numpy(), 4)} (by seed), got "
                          f"{np.round(got_values, 4)}.")
    _passed("paired_differences", "One difference per seed, each against its own teacher.")


def _power_tables(rng) -> list[pd.DataFrame]:
    """Tables shaped like :func:`metrics.verdict_power`'s, with known answers."""
    tables = []
    for reach in (True, True, False):
        sizes = np.arange(2, 13)
        paired = np.clip(np.sort(rng.uniform(0, 1.1 if reach else 0.75, len(sizes))), 0, 1)
        paired = np.where(np.isclose(paired, 0.8), 0.79, paired)
        overlap = paired * rng.uniform(0.3, 0.7)
        if reach:  # the overlap rule also reaches 0.8, later, so its answer differs
            overlap[-1] = 0.85
        tables.append(pd.DataFrame({"paired t-test": paired,
                                    "intervals do not overlap": overlap},
                                   index=pd.Index(sizes, name="seeds")))
    return tables


def _first(column: pd.Series, power: float):
    return next((int(n) for n, p in column.items() if p >= power), None)


def check_seeds_needed(seeds_needed: Callable) -> None:
    """``seeds_needed(table, power=0.8)``: from a :func:`metrics.verdict_power` table, the
    fewest seeds at which the paired t-test reaches ``power`` (None if it never does)."""
    rng = np.random.default_rng(7)
    for table in _power_tables(rng):
        got = _call(seeds_needed, table.copy(), power=0.8)
        right = _first(table["paired t-test"], 0.8)
        if got == right:
            continue
        if right is not None and got == _first(table["intervals do not overlap"], 0.8):
            raise WrongAnswer(
                f"You read the 'intervals do not overlap' column ({got} seeds). The runs "
                "share seeds, so the verdict is a paired t-test on per-seed differences; "
                f"its column says {right}. Overlapping intervals hide differences a paired "
                "test resolves, so that rule always asks for more seeds.")
        if got is not None and not float(got).is_integer():
            raise WrongAnswer(f"Return a number of seeds (an index value), not a power "
                              f"({got}).")
        if right is None:
            raise WrongAnswer(f"The paired t-test never reaches 0.8 power in this table "
                              f"(best {table['paired t-test'].max():.2f}): return None, not "
                              f"{got}: the run cannot say how many seeds would be enough.")
        raise WrongAnswer(f"Expected {right}: the first number of seeds whose 'paired "
                          f"t-test' power is ≥ 0.8; you returned {got}.")
    _passed("seeds_needed", "The paired test's column, and None where no size suffices.")


# --------------------------------------------------------------------------- 5. reward hacks


def submission_log(seed: int = 0, n: int = 600) -> tuple[pd.DataFrame, dict]:
    """A synthetic evaluation-server history: agents, their submissions' predictions on
    the feedback split, the released feedback accuracy and a later holdout accuracy.

    Some agents are honest, some hack: one probes (resubmits its best predictions with a
    few flipped, keeping flips that raised the feedback score), one trained on ground
    truth (it agrees with the weak labels no more than the ceiling does), one submits a
    constant. Names and how many of each differ by ``seed``. Returns the log and the
    weak and ceiling predictions the server holds.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    holdout_truth = rng.integers(0, 2, n)

    def noisy(labels, acc):
        return np.where(rng.random(len(labels)) < acc, labels, 1 - labels)

    weak = noisy(truth, 0.74)
    ceiling = noisy(truth, 0.9)
    weak_h = noisy(holdout_truth, 0.74)
    names = iter(rng.permutation(["ada", "bo", "cy", "di", "ed", "fi", "gus", "hal"]))
    kinds = ["honest", "honest", "probing", "skips_teacher", "constant"]
    if rng.random() < 0.5:
        kinds.append("honest")
    rows = []
    for kind in kinds:
        agent = str(next(names))
        for step in range(6 if kind != "constant" else 2):
            if kind == "honest":  # a student on weak labels, improving slowly
                acc = 0.76 + 0.015 * step + 0.01 * rng.standard_normal()
                pred = np.where(rng.random(n) < 0.55, weak, noisy(truth, acc + 0.08))
                hold = 0.76 + 0.015 * step + 0.01 * rng.standard_normal()
            elif kind == "probing":  # one honest start, then keep flips that scored
                if step == 0:
                    pred = np.where(rng.random(n) < 0.55, weak, noisy(truth, 0.84))
                    hold = (np.where(rng.random(n) < 0.55, weak_h, noisy(holdout_truth, 0.84))
                            == holdout_truth).mean()
                else:
                    flip = rng.choice(n, 30, replace=False)
                    trial = pred.copy()
                    trial[flip] = 1 - trial[flip]
                    better = (trial[flip] == truth[flip])
                    trial[flip[~better]] = pred[flip[~better]]
                    pred = trial
            elif kind == "skips_teacher":  # trained on ground truth
                pred = noisy(truth, 0.9)
                hold = 0.88 + 0.01 * rng.standard_normal()
            else:
                pred = np.full(n, int(truth.mean() > 0.5))
                hold = 0.5 + 0.01 * rng.standard_normal()
            rows.append({"agent": agent, "kind": kind, "step": step, "predictions": pred.copy(),
                         "feedback_acc": float((pred == truth).mean()),
                         "holdout_acc": float(hold)})
    log = pd.DataFrame(rows).sample(frac=1, random_state=seed).sort_values(
        ["agent", "step"]).reset_index(drop=True)
    return log, {"weak": weak, "ceiling": ceiling}


def check_flag_hacks(flag_hacks: Callable) -> None:
    """``flag_hacks(log, held)`` → the set of agent names whose scores you would not
    trust (``log`` and ``held`` as from :func:`submission_log`, without its ``kind``)."""
    why = {"probing": "its submissions differ from each other in a handful of predictions "
                      "while its feedback score climbs and its holdout score does not "
                      "(it reads the labels through the score)",
           "skips_teacher": "it agrees with the weak labels no more than the ceiling does: "
                            "its signal did not come from its weak supervisor",
           "constant": "every prediction is the same class: it says nothing about the inputs",
           "honest": "its feedback and holdout scores move together and it copies some "
                     "weak labels, as a student trained on them does"}
    for seed in range(5):
        log, held = submission_log(seed)
        kinds = log.groupby("agent")["kind"].first()
        got = _call(flag_hacks, log.drop(columns="kind"), held)
        got = set(got or ())
        hacks = set(kinds[kinds != "honest"].index)
        if got == hacks:
            continue
        wrong = sorted(got - hacks)
        missed = sorted(hacks - got)
        parts = [f"you flagged honest '{a}': {why['honest']}" for a in wrong]
        parts += [f"you missed '{a}' ({kinds[a]}): {why[kinds[a]]}" for a in missed]
        raise WrongAnswer(f"On log seed {seed}: " + "; ".join(parts) + ".")
    _passed("flag_hacks", "Every hack found on five fresh logs, no honest agent flagged.")


# --------------------------------------------------------------------------- solutions


def with_solutions(notebook, solutions):
    """The exercise ``notebook`` with each cell tagged ``exercise`` replaced by the
    definitions of the same names in the ``solutions`` file (plus its imports): the
    solution notebook a host hands out afterwards, and what CI executes."""
    source = Path(solutions).read_text()
    tree = ast.parse(source)
    lines = source.splitlines()

    def segment(node) -> str:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "\n".join(lines[start - 1:node.end_lineno])

    imports = "\n".join(segment(n) for n in tree.body
                        if isinstance(n, ast.Import | ast.ImportFrom))
    definitions = {}
    for node in tree.body:
        for name in _defined_names(node):
            definitions[name] = segment(node)
    book = nbformat.read(notebook, as_version=4)
    for cell in book.cells:
        if "exercise" not in cell.metadata.get("tags", []):
            continue
        names = [n for node in ast.parse(cell.source).body for n in _defined_names(node)]
        missing = [n for n in names if n not in definitions]
        if missing or not names:
            raise KeyError(f"{Path(solutions).name} has no solution for {missing or cell.source!r}")
        cell.source = imports + "\n\n\n" + "\n\n\n".join(definitions[n] for n in names)
    return book


def _defined_names(node) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []
