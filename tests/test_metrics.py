"""Paired statistics: PGR as a ratio of means with a bootstrap over seeds and test
examples, "gap not resolved" instead of a PGR, and verdicts from paired tests (Holm)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from w2s_utils.metrics import (
    correlation_interval,
    holm,
    interval_side,
    pack_correct,
    paired_test,
    paired_verdicts,
    pgr_interval,
    pgr_summary,
    unpack_correct,
    verdict_power,
    weak_fit_diagnostics,
)
from w2s_utils.research.demo import holdout_verdict


@pytest.mark.parametrize(("mean", "half", "side"), [
    (0.8, 0.05, 1),     # [0.75, 0.85] above [0.4, 0.6]
    (0.2, 0.05, -1),    # [0.15, 0.25] below
    (0.65, 0.06, 0),    # [0.59, 0.71] touches [0.4, 0.6]
    (0.5, 0.0, 0),      # inside
])
def test_interval_side(mean, half, side):
    assert interval_side(mean, half, 0.5, 0.1) == side


def test_holm_matches_the_textbook_example():
    # p = .01, .04, .03, .005 over m = 4: sorted .005·4, .01·3, .03·2, .04·1 → monotone
    assert np.allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm([np.nan, 0.01])[0]) and holm([np.nan, 0.01])[1] == pytest.approx(0.01)


def test_paired_test_agrees_with_scipy_and_is_exact_for_few_seeds():
    d = np.array([0.02, 0.03, 0.01, 0.04, 0.02, -0.01, 0.03, 0.02])
    out = paired_test(d)
    assert out["p_t"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    # one negative among 8: the exact sign-flip p-value is a multiple of 1/256
    assert (out["p_signflip"] * 256) == pytest.approx(round(out["p_signflip"] * 256))
    assert paired_test(np.zeros(5)) == {"p_t": 1.0, "p_signflip": 1.0}
    same = paired_test(np.full(6, 0.01))  # no variance: no t, but the signs still speak
    assert np.isnan(same["p_t"]) and same["p_signflip"] == pytest.approx(2 / 64)
    assert np.isnan(paired_test([0.1])["p_t"])


def test_pack_correct_round_trips():
    rng = np.random.default_rng(0)
    labels, probs = rng.integers(0, 2, 1003), rng.random(1003)
    assert (unpack_correct(pack_correct(labels, probs), 1003) == ((probs > 0.5) == labels)).all()


def _correct(rng, seeds, n, acc):
    return rng.random((seeds, n)) < acc


def test_pgr_interval_is_a_ratio_of_means_and_refuses_an_unresolved_gap():
    rng = np.random.default_rng(1)
    weak, ceiling, student = (_correct(rng, 6, 3000, a) for a in (0.70, 0.80, 0.76))
    out = pgr_interval(weak, ceiling, student, draws=500)
    ratio = (student.mean() - weak.mean()) / (ceiling.mean() - weak.mean())
    assert out["resolved"] and out["pgr"] == pytest.approx(ratio)
    assert out["pgr_low"] < ratio < out["pgr_high"] and out["pgr_high"] - out["pgr_low"] < 0.3
    same = pgr_interval(weak, _correct(rng, 6, 3000, 0.70), student, draws=500)
    assert not same["resolved"] and np.isnan(same["pgr"]) and np.isnan(same["pgr_low"])


def _frame(rng, effects: dict[str, float], seeds=10, n=2000, supervisor=None):
    rows = []
    for seed in range(seeds):
        weak, ceiling = rng.random(n) < 0.70, rng.random(n) < 0.80
        base = rng.normal(0.75, 0.02)
        for method, effect in effects.items():
            student = rng.random(n) < base + effect + rng.normal(0, 0.003)
            accs = {k: float(v.mean()) for k, v in
                    (("weak", weak), ("ceiling", ceiling), ("student", student))}
            labels = np.ones(n, int)
            rows.append({"regime": "linear_probe", "method": method, "seed": seed,
                         "n_test": n, **{f"{k}_acc": v for k, v in accs.items()},
                         "pgr": (accs["student"] - accs["weak"]) / (accs["ceiling"] - accs["weak"]),
                         "supervisor": (supervisor or {}).get(method, "weak"),
                         **{f"{k}_test_correct": pack_correct(labels, v.astype(float))
                            for k, v in (("weak", weak), ("ceiling", ceiling),
                                         ("student", student))}})
    return pd.DataFrame(rows)


def test_paired_verdicts_see_what_interval_overlap_misses():
    rng = np.random.default_rng(2)
    frame = _frame(rng, {"naive": 0.0, "better": 0.015, "same": 0.0, "worse": -0.02},
                   supervisor={"better": "changed"})
    out = paired_verdicts(frame).set_index("method")
    assert out.loc["better", "verdict"] == "helped"
    assert out.loc["worse", "verdict"] == "hurt"
    assert out.loc["same", "verdict"] == "no clear difference"
    assert out.loc["better", "supervisor"] == "changed"
    assert (out["p_holm"] >= out["p_t"]).all() and (out["seeds"] == 10).all()
    power = verdict_power(frame, "better", sizes=[3, 10], subsets=50)
    assert power.loc[10, "paired t-test"] == 1.0
    assert power.loc[3, "paired t-test"] >= power.loc[3, "intervals do not overlap"]


def test_pgr_summary_counts_nan_seeds_and_keeps_per_seed_values():
    rng = np.random.default_rng(3)
    frame = _frame(rng, {"naive": 0.0}, seeds=4)
    frame.loc[0, "pgr"] = np.nan
    row = pgr_summary(frame, ["method"]).iloc[0]
    assert row["nan_seeds"] == 1 and row["seeds"] == 4 and row["seed_list"] == "0,1,2,3"
    assert row["per_seed_pgr"].split()[0] == "nan" and len(row["per_seed_pgr"].split()) == 4


def test_holdout_verdict_without_a_holdout_pgr_says_so():
    blind = pd.DataFrame({
        "who": ["naive", "agent"], "feedback_pgr": [0.3, 0.5], "holdout_pgr": [0.2, np.nan],
        "holdout_ci95": [0.1, np.nan], "flags": ["", ""], "drop": [0.1, np.nan],
    }, index=["naive", "idea"])
    assert holdout_verdict(blind) == "No blind holdout comparison was possible in this run."
    blind.loc["idea", ["holdout_pgr", "holdout_ci95"]] = [0.6, 0.1]
    assert "the agent's pick beat naive" in holdout_verdict(blind)


def test_weak_fit_diagnostics_by_hand():
    supervisor = {"pool": np.array([0.9, 0.2]), "val": np.array([0.6, 0.4, 0.8, 0.1])}
    student = {"pool": np.array([0.7, 0.2]), "val": np.array([0.4, 0.4, 0.9, 0.1])}
    out = weak_fit_diagnostics(supervisor, student)
    assert out["misfit_sq_pool"] == pytest.approx(0.04 / 2)
    assert out["misfit_sq_val"] == pytest.approx((0.04 + 0.01) / 4)
    assert out["error_difference_val"] == pytest.approx(1 / 4)  # only the first flips side


def test_correlation_interval_covers_the_truth_and_resamples_groups():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    strong = correlation_interval(x, 2 * x + rng.normal(scale=0.5, size=200))
    assert 0.9 < strong["r_low"] <= strong["r"] <= strong["r_high"] <= 1
    unrelated = correlation_interval(x, rng.normal(size=200))
    assert unrelated["r_low"] < 0 < unrelated["r_high"]
    # Ten groups of twenty identical pairs hold ten pairs' worth of evidence: resampling
    # the groups gives a wider interval than pretending the 200 rows are independent.
    shared = np.repeat(rng.normal(size=(2, 10)), 20, axis=1)
    rows = correlation_interval(*shared)
    grouped = correlation_interval(*shared, groups=np.repeat(np.arange(10), 20))
    assert grouped["r"] == pytest.approx(rows["r"])
    assert grouped["r_high"] - grouped["r_low"] > rows["r_high"] - rows["r_low"]
    assert np.isnan(correlation_interval([1, 1, 1], [1, 2, 3])["r"])
