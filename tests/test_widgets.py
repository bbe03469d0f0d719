"""The workshop explorer: its update function, the static fallback and the controls."""

import json

import pytest
from matplotlib.figure import Figure

from w2s_utils.experiment import Experiment
from w2s_utils.widgets import explorer, knob

SIZES = {"weak_train": 100, "pool": 120, "val": 40, "test": 150, "holdout": 10}
BASE = Experiment(task="synthetic-sentiment", sizes=SIZES, weak_model="tfidf-logreg",
                  strong_model="static64", probe={"epochs": 5, "batch_size": 32, "lr": 1e-2})
CHOICES = {"weak_models": ["tfidf-logreg", "static64"], "strong_models": ["static64"],
           "methods": ["naive", "logconf"], "seeds": [0, 1]}


def test_knob_is_the_first_numeric_hyperparameter_with_its_bounds():
    logconf = knob("logconf")
    assert (logconf.name, logconf.default, logconf.low, logconf.high) == ("max_coef", 0.5, 0, 1)
    assert knob("window").low > 0  # radius must be > 0
    assert knob("posterior_em").integer
    assert knob("naive") is None  # only a bool flag


def test_update_reruns_the_chosen_config_and_draws_it():
    view = explorer(BASE, **CHOICES)
    figure, row = view.update("tfidf-logreg", "static64", "logconf", 0.3, 0)
    assert isinstance(figure, Figure) and row is view.row
    assert (row["method"], row["seed"]) == ("logconf", 0)
    assert json.loads(row["method_params"])["max_coef"] == 0.3
    bars = [patch.get_height() for patch in figure.axes[0].patches]
    assert bars == pytest.approx([row["weak_acc"], row["student_acc"], row["ceiling_acc"]])
    _, default = view.update("tfidf-logreg", "static64", "logconf", 0.5, 0)
    # parameters are stored explicitly, so the default value shares the sweep's cache key
    assert json.loads(default["method_params"]) == {"max_coef": 0.5, "warmup_frac": 0.2}
    with pytest.raises(ValueError, match="same model"):
        view.update("static64", "static64", "naive")


def test_static_fallback_draws_the_base_choice(monkeypatch):
    import IPython.display

    view = explorer(BASE, **CHOICES, interactive=False)
    row = view.row
    assert (row["weak_model"], row["strong_model"], row["method"]) == (
        "tfidf-logreg", "static64", "naive")
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objects: shown.extend(objects))
    view._ipython_display_()  # no front end: shows the base choice's figure, no widgets
    assert shown == [view.figure] and view._controls is None
    bars = [patch.get_height() for patch in view.figure.axes[0].patches]
    assert bars == pytest.approx([row["weak_acc"], row["student_acc"], row["ceiling_acc"]])


def test_controls_follow_the_method_and_rerun_on_click():
    view = explorer(BASE, **CHOICES, interactive=True)
    top, bottom, _ = view.controls().children
    weak, _ = top.children
    method, seed, slider, button = bottom.children
    assert slider.disabled and view.row["method"] == "naive"  # drawn once at start
    method.value = "logconf"
    assert not slider.disabled and slider.description == "max_coef" and slider.value == 0.5
    slider.value, seed.value = 0.25, 1
    button.click()
    assert json.loads(view.row["method_params"])["max_coef"] == 0.25
    assert view.row["seed"] == 1
    weak.value = "static64"
    button.click()  # an invalid pair prints its reason instead of failing
    assert view.row["seed"] == 1 and view.row["weak_model"] == "tfidf-logreg"


def test_static_without_a_person_at_the_kernel(monkeypatch):
    """Plain Python and the notebook runner (W2S_BATCH) get the static figure; a live
    JupyterLab kernel gets controls (tests/test_notebooks_in_lab.py drives one)."""
    from w2s_utils.paths import BATCH_ENV
    from w2s_utils.widgets import live_frontend

    assert not live_frontend()
    monkeypatch.setenv(BATCH_ENV, "1")
    assert not live_frontend()
