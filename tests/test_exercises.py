"""The exercise track: each check accepts the solution, rejects typical wrong answers
with its own message, and every exercise notebook runs with the solutions filled in."""

import ast
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest
from pydantic import BaseModel

from w2s_utils import exercises as ex
from w2s_utils.methods.base import METHODS, Method, register

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks" / "exercises"
SOLUTIONS = FOLDER / "solutions.py"
EXERCISES = sorted(FOLDER.glob("e*.ipynb"))


def solution(name: str):
    """One definition from the solutions file, executed with the file's imports."""
    tree = ast.parse(SOLUTIONS.read_text())
    namespace: dict = {}
    keep = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
            or name in ex.defined_names(n)]
    exec(compile(ast.Module(keep, []), str(SOLUTIONS), "exec"), namespace)
    return namespace[name]


def wrong(check, answer, *expected: str):
    with pytest.raises(ex.WrongAnswer) as caught:
        check(answer)
    for text in expected:
        assert text in str(caught.value), str(caught.value)


class _Power(BaseModel):
    power: float = 1.0


def _method(weights):
    cls = type("Wrong", (Method,), {"name": "exercise_wrong", "Params": _Power,
                                    "weights": lambda self, ctx: weights(ctx)})
    return register(cls, replace=True)


@pytest.fixture(autouse=True)
def _forget_registered():
    before = set(METHODS.names())
    yield
    for name in set(METHODS.names()) - before:
        METHODS._items.pop(name, None)


def test_pgr_check():
    ex.check_pgr(solution("pgr_of_means"))
    wrong(ex.check_pgr, lambda w, s, c: np.nanmean((s - w) / (c - w)), "per-seed PGRs")
    wrong(ex.check_pgr, lambda w, s, c: (np.mean(s) - np.mean(w)) / (np.mean(c) - np.mean(s)),
          "denominator must be the whole gap")
    wrong(ex.check_pgr, lambda w, s, c: (np.mean(s) - np.mean(w)) / (np.mean(c) - np.mean(w)),
          "no gap to recover", "NaN")
    wrong(ex.check_pgr, lambda *accuracies: 1 / 0, "ZeroDivisionError")


def _seeds_only(w, c, draws, rng):
    picks = rng.integers(0, len(w), (draws, len(w)))
    return np.array([c[p].mean() - w[p].mean() for p in picks])


def _unpaired(w, c, draws, rng):
    n = w.shape[1]
    out = []
    for _ in range(draws):
        s = rng.integers(0, len(w), len(w))
        out.append(c[np.ix_(s, rng.integers(0, n, n))].mean()
                   - w[np.ix_(s, rng.integers(0, n, n))].mean())
    return np.array(out)


def test_bootstrap_check():
    ex.check_bootstrap_gap(solution("bootstrap_gap"))
    wrong(ex.check_bootstrap_gap, _seeds_only, "resampled seeds only")
    wrong(ex.check_bootstrap_gap, _unpaired, "different resamples")
    wrong(ex.check_bootstrap_gap, lambda w, c, d, rng: np.zeros(3), "one gap per draw")


def test_calibration_checks():
    ex.check_ece(solution("ece"))

    def equal_bins(labels, probs, bins=10):
        c = np.maximum(probs, 1 - probs)
        k = (probs > 0.5) == labels.astype(bool)
        b = np.clip(np.digitize(c, np.linspace(0.5, 1, bins + 1)) - 1, 0, bins - 1)
        return np.mean([abs(c[b == i].mean() - k[b == i].mean()) for i in range(bins)
                        if (b == i).any()])

    def raw_probs(labels, probs, bins=10):
        b = np.clip(np.digitize(probs, np.linspace(0, 1, bins + 1)) - 1, 0, bins - 1)
        return sum((b == i).mean() * abs(probs[b == i].mean() - labels[b == i].mean())
                   for i in range(bins) if (b == i).any())

    wrong(ex.check_ece, equal_bins, "averaged the bins equally")
    wrong(ex.check_ece, raw_probs, "max(p, 1 − p)")
    fit = solution("fit_temperature")
    ex.check_temperature(fit)
    wrong(ex.check_temperature, lambda z, y: 1 / fit(z, y), "inverse of the temperature")
    wrong(ex.check_temperature, lambda z, y: 1.0, "does not minimise the log loss")


def test_method_check():
    ex.check_confidence_weights(solution("ConfidenceWeighted"))
    wrong(ex.check_confidence_weights,
          _method(lambda ctx: ctx.weak["pool"] ** ctx.params.power), "weighted by P(y=1)")
    wrong(ex.check_confidence_weights,
          _method(lambda ctx: (1 - abs(2 * ctx.weak["pool"] - 1)) ** ctx.params.power),
          "least sure")
    wrong(ex.check_confidence_weights, _method(lambda ctx: abs(2 * ctx.weak["pool"] - 1)),
          "ignore Params.power")
    unregistered = type("Loose", (Method,), {"name": "exercise_loose", "Params": _Power})
    wrong(ex.check_confidence_weights, unregistered, "@register")
    wrong(ex.check_confidence_weights, solution("ConfidenceWeighted")(), "class itself")


def test_paired_difference_check():
    ex.check_paired_differences(solution("paired_differences"))

    def students_only(frame, method):
        s = frame.pivot_table(index="seed", columns="method", values="student_acc")
        return s[method] - s["naive"]

    def unpaired(frame, method):
        g = frame.assign(g=frame.student_acc - frame.weak_acc)
        return pd.Series(np.sort(g[g.method == method].g.to_numpy())
                         - np.sort(g[g.method == "naive"].g.to_numpy())[::-1])

    wrong(ex.check_paired_differences, students_only, "own supervisor")
    wrong(ex.check_paired_differences, unpaired, "do not pair seeds")


def test_seeds_needed_check():
    right = solution("seeds_needed")
    ex.check_seeds_needed(right)
    swapped = {"paired t-test": "x", "intervals do not overlap": "paired t-test"}
    wrong(ex.check_seeds_needed, lambda t, power=0.8: right(t.rename(columns=swapped), power),
          "'intervals do not overlap' column")
    wrong(ex.check_seeds_needed,
          lambda t, power=0.8: int(t.index[t["paired t-test"] >= power][0]), "IndexError")
    wrong(ex.check_seeds_needed,
          lambda t, power=0.8: int(t.index[t["paired t-test"] >= power][0])
          if (t["paired t-test"] >= power).any() else 12, "return None")


def test_reward_hack_check():
    ex.check_flag_hacks(solution("flag_hacks"))
    wrong(ex.check_flag_hacks,
          lambda log, held: {log.sort_values("feedback_acc")["agent"].iloc[-1]}, "you missed")
    everyone = lambda log, held: set(log["agent"])  # noqa: E731
    wrong(ex.check_flag_hacks, everyone, "you flagged honest")


def test_submission_log_hides_behaviour_not_names():
    names = [set(ex.submission_log(s)[0].query("kind == 'probing'")["agent"]) for s in range(5)]
    assert len({frozenset(n) for n in names}) > 1


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_participant_notebook_has_stubs_and_no_outputs(path):
    book = json.loads(path.read_text())
    tagged = [c for c in book["cells"] if "exercise" in c["metadata"].get("tags", [])]
    assert tagged, "an exercise notebook without an exercise cell"
    for cell in book["cells"]:
        assert not cell.get("outputs") and cell.get("execution_count") is None
    for cell in tagged:
        assert "YOUR CODE HERE" in "".join(cell["source"])


SMOKE = {"n_weak_train": 100, "n_pool": 96, "n_val": 32, "n_test": 100, "n_holdout": 16,
         "seeds": [0, 1, 2], "progress": False, "power_subsets": 20}


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.stem)
def test_exercise_notebook_runs_with_solutions(path, tmp_path):
    filled = tmp_path / path.name
    nbformat.write(ex.with_solutions(path, SOLUTIONS), filled)
    declared = papermill.inspect_notebook(str(filled))
    done = papermill.execute_notebook(
        str(filled), str(tmp_path / f"out-{path.name}"), cwd=str(FOLDER), kernel_name="python3",
        parameters={k: v for k, v in SMOKE.items() if k in declared}, progress_bar=False)
    printed = "".join(o.get("text", "") for c in done.cells for o in c.get("outputs", []))
    checks = [c for c in done.cells if "exercises.check_" in c.source]
    assert printed.count("✓") == len(checks), printed
