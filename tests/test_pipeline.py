import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from w2s_utils import classifier, learner, stages, train
from w2s_utils.cache import ArtifactStore
from w2s_utils.experiment import Experiment
from w2s_utils.methods import StudentContext
from w2s_utils.pipeline import pgr_table, run, run_seeds
from w2s_utils.results import COLUMNS, load_results

SMALL = {"weak_train": 200, "pool": 400, "val": 100, "test": 300, "holdout": 50}
PROBE = {"epochs": 10, "batch_size": 64, "lr": 2e-3}


def small_experiment(**changes) -> Experiment:
    base = {"task": "synthetic-sentiment", "sizes": SMALL, "weak_model": "tfidf-logreg",
            "strong_model": "minilm-l3", "probe": PROBE}
    return Experiment(**{**base, **changes})


def test_run_records_a_complete_row(fresh_cache):
    row = run(small_experiment(), progress=False)
    frame = load_results()
    assert set(COLUMNS) <= set(frame.columns)
    assert len(frame) == 1 and frame.loc[0, "seed"] == 0
    for name in ("weak_acc", "student_acc", "ceiling_acc"):
        assert 0.5 < row[name] <= 1.0
    assert row["pgr"] == pytest.approx(
        (row["student_acc"] - row["weak_acc"]) / (row["ceiling_acc"] - row["weak_acc"]))


def test_warm_cache_trains_nothing_and_keeps_one_row_per_run(fresh_cache, monkeypatch):
    exp = small_experiment()
    first = run_seeds(exp, [0, 1], progress=False)

    def no_training(*args, **kwargs):
        raise AssertionError("a warm rerun must not train")

    monkeypatch.setattr(learner, "train", no_training)
    second = run_seeds(exp, [0, 1], progress=False)
    assert np.allclose(first["pgr"], second["pgr"], equal_nan=True)
    assert len(load_results()) == 2
    table = pgr_table(load_results())
    assert table.loc[0, "seeds"] == 2 and table.loc[0, "seed_list"] == "0,1"


def test_student_never_sees_ground_truth(fresh_cache, monkeypatch):
    """The student's targets and validation labels are the weak model's, not GT."""
    exp = small_experiment()
    seen = {}
    original = StudentContext.fit

    def spy(self, targets, **kwargs):
        seen["targets"] = np.asarray(targets)
        seen["weak"] = self.weak
        return original(self, targets, **kwargs)

    monkeypatch.setattr(StudentContext, "fit", spy)
    calls = []
    original_train = learner.train
    monkeypatch.setattr(learner, "train", lambda *a, **k: calls.append(k) or
                        original_train(*a, **k))
    run(exp, progress=False)
    weak = stages.weak_labels(exp)["probs"]
    splits = stages.experiment_splits(exp)
    assert np.array_equal(seen["targets"], weak["pool"])
    assert set(seen["weak"]) == {"pool", "val"}
    student_call = calls[-1]
    assert np.array_equal(student_call["val_targets"], weak["val"])
    # the weak labels err somewhere, so the equalities above rule out the truth
    assert ((weak["pool"] > 0.5) != splits["pool"].labels).any()
    assert ((weak["val"] > 0.5) != splits["val"].labels).any()


def test_strong_probe_beats_weak_tfidf_on_synthetic_task(fresh_cache):
    """A sanity check with teeth: the ceiling must beat a TF-IDF probe on 200 examples."""
    rows = run_seeds(small_experiment(), [0, 1], progress=False)
    assert (rows["ceiling_acc"] > rows["weak_acc"]).all()


def test_bad_experiment_configs_fail_clearly():
    with pytest.raises(ValueError, match="Did you mean 'minilm-l3'"):
        small_experiment(strong_model="minilm-3")
    with pytest.raises(ValueError, match="cannot be fine-tuned"):
        small_experiment(strong_model="static64", regime="finetune")
    with pytest.raises(ValueError, match="hard"):
        small_experiment(method_params={"hard": "maybe"})


INTERRUPTED = Experiment(
    task="synthetic-sentiment", weak_model="tfidf-logreg", strong_model="minilm-l6",
    regime="finetune", sizes={"weak_train": 100, "pool": 96, "val": 16, "test": 32,
                              "holdout": 8},
    finetune={"epochs": 1, "batch_size": 16, "max_length": 16})
KILLED = 137
# Runs INTERRUPTED and dies like a killed process (no cleanup) while writing the artifact
# after the first `complete` ones: half of that artifact's bytes are on disk.
DIE_WHILE_WRITING = f"""
import os, sys
from w2s_utils.cache import ArtifactStore
from w2s_utils.pipeline import run
from test_pipeline import INTERRUPTED

complete, written, write = int(sys.argv[1]), [], ArtifactStore.write

def write_or_die(self, key, payload):
    if len(written) == complete:
        def die(fd):
            os.ftruncate(fd, os.fstat(fd).st_size // 2)
            os._exit({KILLED})
        os.fsync = die
    write(self, key, payload)
    written.append(key)

ArtifactStore.write = write_or_die
run(INTERRUPTED, progress=False)
"""


@pytest.mark.slow  # a child process, and five fine-tuning stages
def test_a_run_killed_while_writing_resumes_to_the_uninterrupted_result(tmp_path, fresh_cache):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}  # W2S_CACHE_DIR: fresh_cache
    child = subprocess.run([sys.executable, "-c", DIE_WHILE_WRITING, "1"], env=env,
                           cwd=tmp_path, capture_output=True, text=True)
    assert child.returncode == KILLED, child.stderr[-2000:]
    interrupted = ArtifactStore()
    (weak,) = interrupted.root.glob("*.pkl")  # the one complete artifact, and it is valid
    assert weak.stem == stages.weak_key(INTERRUPTED)
    interrupted.read(weak.stem)
    (partial,) = interrupted.root.glob(f".{stages.ceiling_key(INTERRUPTED)}.*.tmp")
    assert 0 < partial.stat().st_size  # died mid-write; no read ever sees a temp file
    weak_written = weak.stat().st_mtime_ns

    clean = ArtifactStore(tmp_path / "clean")
    resumed_row = run(INTERRUPTED, store=interrupted, progress=False)
    clean_row = run(INTERRUPTED, store=clean, progress=False)
    assert weak.stat().st_mtime_ns == weak_written  # resumed from it, not recomputed
    assert sorted(p.name for p in interrupted.root.glob("*.pkl")) == sorted(
        p.name for p in clean.root.glob("*.pkl"))
    for key in (stages.weak_key, stages.ceiling_key, stages.student_key):
        resumed = interrupted.read(key(INTERRUPTED))["probs"]["test"]
        reference = clean.read(key(INTERRUPTED))["probs"]["test"]
        assert np.allclose(resumed, reference, atol=1e-5), key.__name__
    assert resumed_row["pgr"] == pytest.approx(clean_row["pgr"], nan_ok=True)


def test_training_loop_is_deterministic():
    x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    probs = []
    for _ in range(2):
        inputs = classifier.FeatureInputs(x)
        model = classifier.Classifier(classifier.Standardize(inputs.x))
        config = train.PROBE_DEFAULTS.model_copy(update={"batch_size": 16})
        result = train.train(model, inputs, y, config, seed=7, progress=False)
        probs.append(result.predict(inputs))
    assert np.array_equal(probs[0], probs[1])
    assert ((probs[0] > 0.5) == (y > 0.5)).mean() > 0.95


def test_lbfgs_probe_converges_whatever_the_seed():
    """A probe is convex: the default solver reaches the optimum, which no seed changes."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(np.float32)
    inputs = classifier.FeatureInputs(x)
    results = [train.train(classifier.Classifier(classifier.Standardize(inputs.x)), inputs, y,
                           train.PROBE_DEFAULTS, seed=seed, progress=False) for seed in (0, 9)]
    assert np.array_equal(results[0].predict(inputs), results[1].predict(inputs))
    model = results[0].model
    model.zero_grad()
    logits = model(**inputs.batch(np.arange(300)))
    objective = train.soft_cross_entropy(logits, torch.as_tensor(y)).mean() + 0.5 * (
        train.PROBE_DEFAULTS.weight_decay * (model.head.weight ** 2).sum())
    objective.backward()
    assert model.head.weight.grad.abs().max() < 1e-4
    assert results[0].best_step == train.LBFGS_ROUNDS  # the final model is kept


def test_with_a_new_method_starts_from_its_default_params():
    exp = small_experiment(method="logconf", method_params={"max_coef": 0.3})
    assert exp.with_(method="naive").method_params == {"hard": False}
    assert exp.with_(seed=3).method_params["max_coef"] == 0.3
    replicate = exp.replicate(4)
    assert (replicate.split_seed, replicate.seed) == (4, 4)


def test_a_method_that_changes_the_supervisor_is_scored_against_it(fresh_cache):
    exp = small_experiment(method="weak_ensemble",
                           method_params={"weak_models": ["tfidf-logreg", "static64"]})
    row = run(exp, progress=False)
    labels = stages.experiment_splits(exp)["test"].labels
    members = [stages.weak_labels(exp.with_(weak_model=m))["probs"]["test"]
               for m in ("tfidf-logreg", "static64")]
    ensemble_acc = ((np.mean(members, axis=0) > 0.5) == labels).mean()
    assert row["supervisor"] == "changed"
    assert row["weak_acc"] == pytest.approx(ensemble_acc)
    assert run(exp.with_(method="naive"), progress=False)["supervisor"] == "weak"


def test_probe_regime_embeds_with_the_experiments_max_length(monkeypatch):
    """The linear-probe regime reads ``probe.max_length`` tokens (and ``max_chunks``
    windows), for the weak model and the strong one alike."""
    from w2s_utils.learner import Learner
    from w2s_utils.stages import experiment_splits

    seen = []
    real_embed = learner.embed

    def spy(model, texts, **kwargs):
        seen.append((model, kwargs["max_length"], kwargs["max_chunks"]))
        return real_embed(model, texts, **kwargs)

    monkeypatch.setattr(learner, "embed", spy)
    exp = Experiment(task="synthetic-sentiment", weak_model="static64",
                     strong_model="minilm-l3", probe={"max_length": 24, "max_chunks": 2},
                     sizes={"weak_train": 40, "pool": 40, "val": 10, "test": 40, "holdout": 10})
    splits = experiment_splits(exp)
    for model in (exp.weak_model, exp.strong_model):
        Learner(model, "linear_probe", splits, exp.probe, progress=False)
    assert seen == [("static64", 24, 2), ("minilm-l3", 24, 2)]
    with pytest.raises(ValueError, match="max_chunks pools frozen features"):
        exp.with_(regime="finetune", strong_model="minilm-l6", finetune={"max_chunks": 2})
