"""W2S methods: the losses on hand-computed cases, every method end to end, plug-ins, params."""

import math

import numpy as np
import pytest
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from w2s_utils import losses
from w2s_utils.experiment import Experiment
from w2s_utils.methods import METHODS, Method, StudentContext, register
from w2s_utils.methods.posterior_em import channel, posterior
from w2s_utils.methods.probe import knn
from w2s_utils.pipeline import run
from w2s_utils.splits import SplitSizes
from w2s_utils.train import TrainConfig

SIZES = SplitSizes(weak_train=200, pool=400, val=100, test=300, holdout=50)
PROBE = TrainConfig(epochs=10, batch_size=64, lr=2e-3, weight_decay=1e-2, warmup_frac=0.05)
# Keep the run fast: the default intermediate (minilm-l3) would embed every text with ONNX.
FAST_PARAMS = {"bootstrap": {"intermediate": "tfidf-logreg"}}


def logits_for(p1) -> torch.Tensor:
    """Logits whose softmax puts probability ``p1`` on class 1."""
    p1 = torch.as_tensor(p1, dtype=torch.float32)
    return torch.stack([torch.zeros_like(p1), torch.log(p1 / (1 - p1))], dim=-1)


def experiment(**changes) -> Experiment:
    return Experiment(task="synthetic-sentiment", sizes=SIZES, weak_model="tfidf-logreg",
                      strong_model="static64", regime="linear_probe", probe=PROBE, **changes)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One temporary cache for the module, so embeddings and weak labels are made once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("W2S_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


# --------------------------------------------------------------------------- losses


def test_xent_by_hand():
    loss = losses.xent(logits_for([0.5, 0.8]), torch.tensor([0.3, 1.0]), 0.0)
    assert loss.shape == (2,)
    torch.testing.assert_close(loss, torch.tensor([math.log(2), -math.log(0.8)]))


@pytest.mark.parametrize("loss", [losses.xent, losses.logconf(), losses.product(),
                                  losses.window()], ids=["xent", "logconf", "product", "window"])
def test_losses_are_per_example_and_differentiable(loss):
    logits = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = loss(logits, torch.tensor([0.9, 0.1, 0.6, 0.5, 0.0]), 0.7)
    assert out.shape == (5,) and torch.isfinite(out).all()
    out.sum().backward()
    assert torch.isfinite(logits.grad).all()


def test_logconf_at_coefficient_zero_is_xent():
    logits = logits_for([0.9, 0.3, 0.6, 0.2])
    targets = torch.tensor([0.7, 0.4, 0.2, 0.55])
    xent = losses.xent(logits, targets, 0.0)
    assert torch.equal(losses.logconf()(logits, targets, 0.0), xent)
    assert torch.equal(losses.logconf(max_coef=0.0)(logits, targets, 0.9), xent)


def test_logconf_coefficient_ramps_linearly_then_stays():
    ramp = [losses.logconf_coefficient(p, 0.5, 0.2) for p in (0.0, 0.1, 0.2, 0.6, 1.0)]
    assert ramp == pytest.approx([0.0, 0.25, 0.5, 0.5, 0.5])
    assert losses.logconf_coefficient(0.0, 0.5, 0.0) == 0.5


def test_hardening_matches_the_weak_positive_rate():
    probs = torch.tensor([0.9, 0.2, 0.6, 0.4])
    assert losses.harden_at_rate(probs, 0.5).tolist() == [1, 0, 1, 0]
    assert losses.harden_at_rate(probs, 0.25).tolist() == [1, 0, 0, 0]
    # A student sure that everything is positive still gets the weak rate, ties included.
    assert losses.harden_at_rate(torch.full((8,), 0.99), 0.25).sum() == 2


def test_logconf_targets_by_hand():
    logits = logits_for([0.9, 0.2, 0.6, 0.4])
    targets = torch.tensor([0.8, 0.2, 0.6, 0.4])  # weak positive rate 0.5 → top 2 hardened
    mixed = losses.logconf_targets(logits, targets, 0.5)
    torch.testing.assert_close(mixed, torch.tensor([0.9, 0.1, 0.8, 0.2]))
    # Late in training (c = max_coef) the loss is xent against exactly these targets.
    torch.testing.assert_close(losses.logconf(0.5, 0.2)(logits, targets, 0.5),
                               losses.xent(logits, mixed, 0.5))


def test_logconf_gradient_does_not_flow_through_the_hardened_targets():
    a = logits_for([0.9, 0.2, 0.6, 0.4]).requires_grad_()
    b = a.detach().clone().requires_grad_()
    targets = torch.tensor([0.8, 0.2, 0.6, 0.4])
    losses.logconf()(a, targets, 1.0).sum().backward()
    fixed = losses.logconf_targets(b.detach(), targets, 0.5)
    losses.xent(b, fixed, 1.0).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_product_targets_by_hand():
    logits = logits_for([0.8, 0.8, 0.3])
    weak = torch.tensor([0.6, 1.0, 0.5])
    # 0.8·0.6 / (0.8·0.6 + 0.2·0.4); a hard weak label wins; a 0.5 weak label defers.
    expected = torch.tensor([0.48 / 0.56, 1.0, 0.3])
    torch.testing.assert_close(losses.product_targets(logits, weak), expected)
    # Exponents: alpha = 0 keeps the student alone, beta = 0 the weak label alone.
    torch.testing.assert_close(losses.product_targets(logits, weak, alpha=0.0),
                               torch.tensor([0.8, 0.8, 0.3]))
    torch.testing.assert_close(losses.product_targets(logits, weak, beta=0.0), weak)
    # alpha=2, beta=1 by hand: 0.8·0.36 / (0.8·0.36 + 0.2·0.16), a normalised product.
    torch.testing.assert_close(losses.product_targets(logits[:1], weak[:1], 2.0, 1.0),
                               torch.tensor([0.288 / 0.32]))


def test_product_handles_hard_weak_labels_with_zero_alpha():
    out = losses.product_targets(logits_for([0.7, 0.7]), torch.tensor([0.0, 1.0]), alpha=0.0)
    torch.testing.assert_close(out, torch.tensor([0.7, 0.7]))


def test_window_trains_only_where_the_student_is_unsure():
    logits = logits_for([0.5, 0.65, 0.75, 0.1])
    targets = torch.tensor([1.0, 0.0, 1.0, 0.0])
    out = losses.window(0.2)(logits, targets, 0.3)
    xent = losses.xent(logits, targets, 0.3)
    torch.testing.assert_close(out, torch.cat([xent[:2], torch.zeros(2)]))


# --------------------------------------------------------------------------- helpers


def test_knn_leaves_each_example_out():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    targets = np.array([1.0, 0.0, 0.0, 1.0])
    # Each point's one neighbour is its twin, never itself.
    np.testing.assert_allclose(knn(x, targets, x, k=1, exclude_self=True), [0, 1, 1, 0])
    np.testing.assert_allclose(knn(x, targets, x, k=1), targets)


def test_noisy_channel_posterior_by_hand():
    confusion = channel(np.array([1.0, 1.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0, 0.0]))
    np.testing.assert_allclose(confusion, [[0.999, 0.001], [0.5, 0.5]])
    # prior 0.5, weak says 1 with P(1|y=1) = 0.8 and P(1|y=0) = 0.4 → 0.8 / 1.2.
    two_way = np.array([[0.6, 0.4], [0.2, 0.8]])
    np.testing.assert_allclose(posterior(np.array([0.5]), two_way, np.array([1.0])), [2 / 3])


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_runs_through_the_pipeline(cache, name):
    row = run(experiment(method=name, method_params=FAST_PARAMS.get(name, {})), progress=False)
    for key in ("weak_acc", "ceiling_acc", "student_acc"):
        assert math.isfinite(row[key]), key
    assert row["student_acc"] > 0.55  # the synthetic task is easy; chance is 0.5


def test_a_method_registered_at_run_time_needs_no_pipeline_change(cache):
    seen = {}

    class PowerParams(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        power: float = Field(1.0, ge=0)

    class ConfidenceWeighted(Method):
        name = "test_confidence_weighted"
        Params = PowerParams

        def weights(self, ctx: StudentContext) -> np.ndarray:
            seen.update(weak=set(ctx.weak), power=ctx.params.power)
            return np.abs(ctx.weak["pool"] - 0.5) ** ctx.params.power + 1e-3

    register(ConfidenceWeighted, replace=True)
    row = run(experiment(method="test_confidence_weighted", method_params={"power": 2}),
              progress=False)
    assert seen == {"weak": {"pool", "val"}, "power": 2.0}  # weak labels only, no GT
    assert math.isfinite(row["student_acc"]) and row["method"] == "test_confidence_weighted"
    with pytest.raises(ValidationError, match="power"):
        experiment(method="test_confidence_weighted", method_params={"power": -1})


def test_relabel_hook_replaces_the_labels_on_pool_and_val(cache):
    class Flipped(Method):
        name = "test_flipped"

        def relabel(self, ctx: StudentContext) -> dict[str, np.ndarray]:
            return {split: 1 - ctx.weak[split] for split in ("pool", "val")}

    register(Flipped, replace=True)
    naive = run(experiment(), progress=False)
    flipped = run(experiment(method="test_flipped"), progress=False)
    # Trained and selected on the mirrored labels, the student predicts the other class.
    assert flipped["student_acc"] < 0.45 < 0.55 < naive["student_acc"]


@pytest.mark.parametrize(("name", "params", "match"), [
    ("logconf", {"max_coef": 2}, "max_coef"),
    ("logconf", {"max_coeff": 0.3}, "max_coeff"),
    ("product", {"alpha": "high"}, "alpha"),
    ("naive", {"hard": "maybe"}, "hard"),
    ("confident_filter", {"keep_frac": 0.5, "threshold": 0.3}, "exactly one"),
    ("window", {"radius": 0.7}, "radius"),
    ("s2s", {"rounds": 0}, "rounds"),
    ("bootstrap", {"intermediate": "minlm-l3"}, "Did you mean 'minilm-l3'"),
    ("weak_ensemble", {"weak_models": ["static64", "nope"]}, "Unknown model 'nope'"),
    ("probe_relabel", {"probe": "svm"}, "probe"),
    ("posterior_em", {"iterations": 0}, "iterations"),
    ("filter_relabel", {"keep_frac": 1.0}, "keep_frac"),
    ("learned_ensemble", {"temperature": 0}, "temperature"),
    ("learned_ensemble", {"weak_models": ["statc64"]}, "Did you mean 'static64'"),
    ("elicit", {"direction": "ica"}, "direction"),
    ("adaptive_confidence", {"max_coef": 1.5}, "max_coef"),
])
def test_bad_method_params_fail_validation(name, params, match):
    with pytest.raises(ValidationError, match=match):
        experiment(method=name, method_params=params)


def test_confident_filter_threshold_replaces_the_default_fraction():
    params = METHODS.get("confident_filter").Params(threshold=0.4)
    assert params.keep_frac is None and params.threshold == 0.4
