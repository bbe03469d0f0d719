"""Exercise 4 (``e4_seeds``): per-seed paired differences against naive, and how many
seeds a paired verdict needs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .common import WrongAnswer, close, passed, run_answer


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
        got = run_answer(paired_differences, frame.copy(), method)
        right = reference_differences(frame, method)
        got = pd.Series(got)
        if len(got) != len(right):
            raise WrongAnswer(f"Expected one difference per seed ({len(right)}), got "
                              f"{len(got)}.")
        got_values = got.sort_index().to_numpy(float) if got.index.isin(right.index).all() \
            else got.to_numpy(float)
        if close(got_values, right.to_numpy(float), 1e-9):
            continue
        students = frame.pivot_table(index="seed", columns="method", values="student_acc")
        raw = (students[method] - students["naive"]).to_numpy(float)
        if close(got_values, raw, 1e-9):
            raise WrongAnswer(
                "You subtracted student accuracies. This method trains its student on a "
                "better supervisor than the weak model, so part of its lead is the "
                "teacher's: subtract each run's own supervisor (student_acc − weak_acc) "
                "before comparing.")
        if np.isclose(got_values.mean(), right.mean()) and not close(
                np.sort(got_values), np.sort(right.to_numpy(float)), 1e-9):
            raise WrongAnswer("Your differences average right but do not pair seeds: take "
                              "method − naive within the SAME seed (same split, same "
                              "initialisation), e.g. with a pivot on 'seed'.")
        raise WrongAnswer(f"Expected {np.round(right.to_numpy(), 4)} (by seed), got "
                          f"{np.round(got_values, 4)}.")
    passed("paired_differences", "One difference per seed, each against its own teacher.")


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
        got = run_answer(seeds_needed, table.copy(), power=0.8)
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
    passed("seeds_needed", "The paired test's column, and None where no size suffices.")

