"""Verdicts from confidence intervals: 'helped' or 'hurt' only when the intervals do not
overlap, and none without an interval (one seed)."""

import numpy as np
import pandas as pd
import pytest

from w2s_utils.metrics import compare_to_baseline, interval_side
from w2s_utils.research.demo import holdout_verdict


@pytest.mark.parametrize(("mean", "half", "side"), [
    (0.8, 0.05, 1),     # [0.75, 0.85] above [0.4, 0.6]
    (0.2, 0.05, -1),    # [0.15, 0.25] below
    (0.65, 0.06, 0),    # [0.59, 0.71] touches [0.4, 0.6]
    (0.5, 0.0, 0),      # inside
])
def test_interval_side(mean, half, side):
    assert interval_side(mean, half, 0.5, 0.1) == side


def test_compare_to_baseline_verdicts_per_group():
    table = pd.DataFrame({
        "regime": ["probe"] * 4 + ["finetune"] * 2,
        "method": ["naive", "a", "b", "c", "naive", "a"],
        "pgr": [0.3, 0.7, 0.35, -0.2, 0.5, 0.4],
        "pgr_ci95": [0.1, 0.1, 0.2, 0.05, np.nan, np.nan],
    })
    out = compare_to_baseline(table).set_index(["regime", "method"])["verdict"]
    assert out.to_dict() == {("probe", "a"): "helped", ("probe", "b"): "no clear difference",
                             ("probe", "c"): "hurt",
                             ("finetune", "a"): "no interval (one seed)"}


def test_holdout_verdict_without_a_holdout_pgr_says_so():
    blind = pd.DataFrame({
        "who": ["naive", "agent"], "feedback_pgr": [0.3, 0.5], "holdout_pgr": [0.2, np.nan],
        "holdout_ci95": [0.1, np.nan], "flags": ["", ""], "drop": [0.1, np.nan],
    }, index=["naive", "idea"])
    assert holdout_verdict(blind) == "No blind holdout comparison was possible in this run."
    blind.loc["idea", ["holdout_pgr", "holdout_ci95"]] = [0.6, 0.1]
    assert "the agent's pick beat naive" in holdout_verdict(blind)
