"""Tables that notebooks show about the ladder and the weak supervisors: built from the
cached stages and frozen features, never part of a stage's cache key."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .experiment import Experiment
from .learner import split_features
from .metrics import classification_metrics, expected_calibration_error
from .models import get_model
from .stages import experiment_splits, weak_labels
from .tasks import TaskSplits
from .train import PROBE_DEFAULTS, TrainConfig


def frozen_probe(features: np.ndarray, labels: np.ndarray):
    """A fitted logistic head on standardised frozen features (ground-truth labels): the
    setup checks' measure of what a model knows, not a W2S stage."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)).fit(
        features, labels)


def ladder_accuracy(models: list[str], splits: TaskSplits, progress: bool = True,
                    config: TrainConfig = PROBE_DEFAULTS) -> pd.DataFrame:
    """Test accuracy of a logistic head on each model's frozen features, trained on GT
    ``weak_train``: how much each rung of the ladder knows about the task."""
    rows = []
    for model in models:
        features = split_features(model, splits, config, progress=progress)
        head = frozen_probe(features["weak_train"], splits["weak_train"].labels)
        probs = head.predict_proba(features["test"])[:, 1]
        spec = get_model(model)
        rows.append({"model": model, "params_m": spec.params_m,
                     **classification_metrics(splits["test"].labels, probs)})
    return pd.DataFrame(rows).set_index("model")


def weak_table(exp: Experiment, models: list[str], seeds, progress: bool = True
               ) -> pd.DataFrame:
    """Test metrics and calibration of each weak supervisor, one row per model × seed."""
    rows = []
    for model in models:
        for seed in seeds:
            run_exp = exp.with_(weak_model=model).replicate(seed)
            labels = experiment_splits(run_exp)["test"].labels
            probs = weak_labels(run_exp, progress=progress)["probs"]["test"]
            rows.append({"weak_model": model, "seed": seed,
                         **classification_metrics(labels, probs),
                         "ece": expected_calibration_error(labels, probs)})
    return pd.DataFrame(rows)
