"""Sweeps: invalid combinations are skipped, interrupted sweeps resume, backends agree."""

import pandas as pd
import pytest

from w2s_utils import learner
from w2s_utils.experiment import Experiment
from w2s_utils.methods import get_method
from w2s_utils.results import load_results
from w2s_utils.sweep import annotate, grid, size_trend, sweep

SIZES = {"weak_train": 100, "pool": 120, "val": 40, "test": 150, "holdout": 10}
BASE = Experiment(task="synthetic-sentiment", sizes=SIZES, weak_model="tfidf-logreg",
                  probe={"epochs": 5, "batch_size": 32, "lr": 1e-2})
TINY = grid(BASE, strong_models=["static64", "minilm-l3"])  # two runs, two workers' worth


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """A sweep's rows without wall-clock timings, which differ between any two runs."""
    return frame.drop(columns=[c for c in frame if c.endswith("_seconds")])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """TINY swept by one local worker, in a cache of its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("W2S_CACHE_DIR", str(tmp_path_factory.mktemp("reference_cache")))
        yield sweep(TINY, progress=False)


def test_grid_skips_invalid_combinations_with_a_reason(monkeypatch):
    plan = grid(BASE, weak_models=["tfidf-logreg", "static64", "minilm-l3"],
                strong_models=["static64", "minilm-l3", "minilm-l6"],
                methods=["naive", ("logconf", {"max_coef": 0.3})],
                regimes=["linear_probe", "finetune"])
    kept = {(e.weak_model, e.strong_model, e.regime) for e in plan.runs}
    assert kept == {("tfidf-logreg", s, "linear_probe") for s in ("static64", "minilm-l3",
                                                                  "minilm-l6")} | {
        ("static64", "minilm-l3", "linear_probe"), ("static64", "minilm-l6", "linear_probe"),
        ("minilm-l3", "minilm-l6", "linear_probe")} | {
        (w, "minilm-l6", "finetune") for w in ("tfidf-logreg", "static64", "minilm-l3")}
    assert len(plan.runs) == 2 * len(kept)
    assert {e.method_params.get("max_coef") for e in plan.runs if e.method == "logconf"} == {0.3}
    reasons = plan.skipped.set_index(["weak_model", "strong_model", "regime"])["reason"]
    assert reasons[("minilm-l3", "static64", "linear_probe")].iloc[0].startswith(
        "weak model is above")
    assert reasons[("static64", "static64", "linear_probe")].iloc[0] == (
        "weak and strong are the same model")
    assert reasons[("tfidf-logreg", "minilm-l3", "finetune")].iloc[0] == (
        "strong model 'minilm-l3' cannot be fine-tuned; use regime='linear_probe'")

    monkeypatch.setattr(get_method("window"), "regimes", ("linear_probe",))
    only_probe = grid(BASE, strong_models=["minilm-l6"], methods=["window"],
                      regimes=["linear_probe", "finetune"])
    assert [e.regime for e in only_probe.runs] == ["linear_probe"]
    assert only_probe.skipped["reason"].tolist() == [
        "method 'window' supports only linear_probe, not 'finetune'"]
    with pytest.raises(KeyError, match="Did you mean 'naive'"):
        grid(BASE, methods=["naiv"])  # a typo fails; it is not skipped


def test_interrupted_sweep_resumes_without_retraining(fresh_cache, monkeypatch):
    plan = grid(BASE, strong_models=["static64"], seeds=[0, 1])  # 2 runs x 3 trainings
    original, calls = learner.train, []

    class Interrupted(Exception):
        pass

    def interrupt_at_fifth(*args, **kwargs):  # the second run's ceiling
        if len(calls) == 4:
            raise Interrupted
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(learner, "train", interrupt_at_fifth)
    with pytest.raises(Interrupted):
        sweep(plan, progress=False)
    assert len(load_results()) == 1

    calls.clear()
    monkeypatch.setattr(learner, "train", lambda *a, **k: calls.append(1) or original(*a, **k))
    resumed = sweep(plan, progress=False)
    assert len(calls) == 2, "only the second run's ceiling and student were left to train"
    assert sorted(load_results()["run_id"]) == sorted(plan.keys()) == sorted(resumed["run_id"])

    def no_training(*args, **kwargs):
        raise AssertionError("a finished sweep must not train again")

    monkeypatch.setattr(learner, "train", no_training)
    again = sweep(plan, progress=False)
    pd.testing.assert_frame_equal(comparable(again), comparable(resumed))
    assert len(load_results(run_id=plan.keys())) == 2


def test_two_local_workers_match_one(fresh_cache, reference):
    rows = sweep(TINY, workers=2, progress=False)
    pd.testing.assert_frame_equal(comparable(rows), comparable(reference))
    assert sorted(load_results()["run_id"]) == sorted(rows["run_id"])  # workers used our cache


def test_ray_backend_matches_local(fresh_cache, reference):
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install "
                                            "'w2s-notebooks[ray]' to test the Ray backend")
    rows = sweep(TINY, backend="ray", progress=False)
    assert not ray.is_initialized(), "the sweep shuts down the Ray instance it started"
    pd.testing.assert_frame_equal(comparable(rows), comparable(reference))
    assert sorted(load_results()["run_id"]) == sorted(rows["run_id"])


def test_unknown_backend_fails_before_any_run():
    with pytest.raises(ValueError, match="unknown backend 'dask'"):
        sweep(TINY, backend="dask")


def test_size_trend_reads_slopes_per_weak_model():
    rows = [{"weak_model": "static64", "strong_model": s, "seed": seed, "pgr": pgr + 0.01 * seed}
            for s, pgr in (("minilm-l3", 0.2), ("minilm-l6", 0.3), ("mpnet-base", 0.6))
            for seed in range(3)]
    frame = annotate(pd.DataFrame(rows))
    assert frame["pair"].iloc[0] == "static64 → minilm-l3"
    trend = size_trend(frame, "pgr").iloc[0]
    assert trend["trend"] == "rises" and trend["slope_per_10x"] > 0 and trend["runs"] == 9
