"""diagnose(): what a setup can say before any training, and the same warnings on results."""

import numpy as np
import pandas as pd
import pytest

from w2s_utils import tasks
from w2s_utils.diagnose import diagnose
from w2s_utils.experiment import Experiment
from w2s_utils.metrics import pack_correct, pgr_summary, warning_summary
from w2s_utils.splits import SplitSizes
from w2s_utils.tasks import TASKS

SIZES = SplitSizes(weak_train=120, pool=120, val=20, test=300, holdout=20)


def _keyword_task(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Every model reads this label off one word: a flat ladder, all rungs near 1.0."""
    rng = np.random.default_rng(seed)
    filler = ["the", "parcel", "arrived", "on", "a", "rainy", "tuesday", "and", "it", "was"]
    rows = []
    for i in range(n):
        label = i % 2
        words = list(rng.choice(filler, size=8)) + ["excellent" if label else "terrible"]
        rows.append((f"order {i}: {' '.join(rng.permutation(words))}", label))
    return pd.DataFrame(rows, columns=["text", "label"])


@pytest.fixture
def flat_task(monkeypatch):
    monkeypatch.setitem(TASKS._items, "flat-ladder",
                        tasks.Task("flat-ladder", "one keyword decides", _keyword_task))
    tasks._load_cached.cache_clear()
    yield "flat-ladder"
    tasks._load_cached.cache_clear()


def test_flat_ladder_is_diagnosed_before_training(flat_task):
    exp = Experiment(task=flat_task, sizes=SIZES, weak_model="static64",
                     strong_model="minilm-l3")
    report = diagnose(exp, seeds=[0, 1])
    print(report)  # the readable report (pytest -s shows it)
    assert report.majority_acc == pytest.approx(0.5)
    assert (report.ladder["acc"] > 0.9).all() and report.ladder["above_majority"].all()
    assert not report.gap["resolved"]
    assert any("gap is not resolved" in w for w in report.warnings)
    assert report.truncation.loc["minilm-l3", "share_cut"] == 0
    assert report.near_duplicates == 0
    text = str(report)
    assert "NOT resolved" in text and "warnings: 1" in text
    assert report._repr_html_().startswith("<pre>")


def test_truncation_is_reported_at_the_probe_max_length(flat_task):
    exp = Experiment(task=flat_task, sizes=SIZES, weak_model="static64",
                     strong_model="minilm-l3", probe={"max_length": 8})
    report = diagnose(exp)
    assert report.truncation.loc["minilm-l3", "reads"] == 8
    assert report.truncation.loc["minilm-l3", "share_cut"] == 1.0
    assert any("are cut" in w for w in report.warnings)
    chunked = diagnose(exp.with_(probe={"max_length": 8, "max_chunks": 4}))
    assert chunked.truncation.loc["minilm-l3", "reads"] == 32


def _summary_frame(settings: dict[str, tuple[float, float, float, float]], seeds=5,
                   n=2000) -> pd.DataFrame:
    """Per-seed rows for settings of (weak, ceiling, student, majority) accuracy."""
    rng = np.random.default_rng(0)
    rows, labels = [], np.ones(n, int)
    for setting, (weak, ceiling, student, majority) in settings.items():
        for seed in range(seeds):
            correct = {k: rng.random(n) < a for k, a in
                       (("weak", weak), ("ceiling", ceiling), ("student", student))}
            accs = {k: float(v.mean()) for k, v in correct.items()}
            gap = accs["ceiling"] - accs["weak"]
            rows.append({"setting": setting, "seed": seed, "n_test": n,
                         "majority_acc": majority, **{f"{k}_acc": v for k, v in accs.items()},
                         "pgr": (accs["student"] - accs["weak"]) / gap if gap > 0 else np.nan,
                         **{f"{k}_test_correct": pack_correct(labels, v.astype(float))
                            for k, v in correct.items()}})
    return pd.DataFrame(rows)


def test_pgr_table_warns_in_words_and_counts_rows():
    frame = _summary_frame({
        "clean": (0.70, 0.80, 0.76, 0.50),
        "flat": (0.75, 0.752, 0.75, 0.50),
        "inverted": (0.80, 0.65, 0.70, 0.50),
        "below majority": (0.55, 0.65, 0.60, 0.74),
    })
    table = pgr_summary(frame, ["setting"]).set_index("setting")
    assert table.loc["clean", "warnings"] == ""
    assert table.loc["flat", "warnings"].startswith("gap not resolved")
    assert "weak model beats the ceiling" in table.loc["inverted", "warnings"]
    assert np.isnan(table.loc["inverted", "pgr"]) and table.loc["inverted", "pgr_note"]
    below = table.loc["below majority", "warnings"]
    assert all(f"{who} " in below for who in ("weak", "ceiling", "student"))
    assert "majority class (0.740)" in below
    summary = warning_summary(table.reset_index())
    assert summary.startswith("3 of 4 row(s) carry warnings:")
    assert "inverted: weak model beats the ceiling" in summary
    assert warning_summary(table.loc[["clean"]].reset_index()) == "No warnings in 1 row(s)."


def test_rows_without_a_majority_column_still_summarise():
    frame = _summary_frame({"old": (0.70, 0.80, 0.76, 0.50)}).drop(columns="majority_acc")
    table = pgr_summary(frame, ["setting"])
    assert table["warnings"].iloc[0] == "" and np.isnan(table["majority_acc"].iloc[0])
