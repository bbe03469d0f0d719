"""The 2024–25 methods, each on a tiny synthetic task whose answer is known.

Features are Gaussian with one planted, high-variance direction that decides the label;
the weak labels see that signal through noise, more confident where they are more often
right. A linear student on these features can learn the planted direction.
"""

import numpy as np
import pytest
import torch

from w2s_utils.experiment import Experiment
from w2s_utils.learner import Learner
from w2s_utils.losses import xent
from w2s_utils.methods import StudentContext, get_method
from w2s_utils.methods.adaptive_confidence import adaptive_confidence, adaptive_targets
from w2s_utils.methods.elicit import ElicitParams, elicit_direction, elicited_labels
from w2s_utils.methods.filter_relabel import most_confident
from w2s_utils.methods.learned_ensemble import ensemble_weights, fit_jointly, mixture
from w2s_utils.tasks import Split, TaskSplits
from w2s_utils.train import PROBE_DEFAULTS

SIZES = {"weak_train": 20, "pool": 600, "val": 300, "test": 20, "holdout": 20}
DIM = 12


def planted_task(seed: int = 0):
    """Label-free splits with features, the planted direction and the hidden truth."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=DIM)
    direction /= np.linalg.norm(direction)
    splits, truth = {}, {}
    for name, n in SIZES.items():
        y = rng.integers(0, 2, n)
        x = rng.normal(size=(n, DIM)) + 3.0 * (2 * y - 1)[:, None] * direction
        splits[name] = Split(ids=np.arange(n), texts=[""] * n, labels=np.full(n, -1),
                             features=x.astype(np.float32))
        truth[name] = y
    blind = TaskSplits(task="synthetic-sentiment", split_seed=seed, balanced=True,
                       splits=splits, natural_positive_rate=0.5)
    return blind, truth, direction


def noisy_view(y: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Soft labels of a weak labeller: P(y=1) from the true margin plus noise."""
    margin = (2 * y - 1) + np.random.default_rng(seed).normal(scale=noise, size=len(y))
    return 1 / (1 + np.exp(-2 * margin))


def context(method: str, blind, weak, weak_supervisor=None, **params) -> StudentContext:
    exp = Experiment(task="synthetic-sentiment", sizes=SIZES, weak_model="raw-features",
                     strong_model="raw-features", method=method, method_params=params)
    learner = Learner("raw-features", "linear_probe", blind, PROBE_DEFAULTS, progress=False)
    return StudentContext(experiment=exp, splits=blind, weak=weak, learner=learner,
                          params=get_method(method).Params(**params),
                          weak_supervisor=weak_supervisor, progress=False)


def accuracy(probs, y) -> float:
    return float(((np.asarray(probs) > 0.5) == y).mean())


@pytest.fixture(scope="module")
def task():
    blind, truth, direction = planted_task()
    weak = {s: noisy_view(truth[s], 1.2, i) for i, s in enumerate(("pool", "val"))}
    return blind, truth, direction, weak


# --------------------------------------------------------------------------- filter_relabel


def test_filter_relabel_changes_only_the_filtered_examples_labels(task):
    blind, truth, _, weak = task
    labels = get_method("filter_relabel")().relabel(context("filter_relabel", blind, weak))
    for split in ("pool", "val"):
        kept = most_confident(weak[split], 0.5)
        assert kept.sum() == len(kept) // 2
        np.testing.assert_array_equal(labels[split][kept], weak[split][kept].astype(np.float32))
        relabelled = labels[split][~kept]
        assert set(np.unique(relabelled)) <= {0.0, 1.0}  # hard labels from the first student
        assert (relabelled != (weak[split][~kept] > 0.5)).any()  # it did overrule some
        # The known answer: the first student learnt the planted direction, so on the
        # examples it relabelled it is right more often than the unconfident weak labels.
        assert accuracy(relabelled, truth[split][~kept]) > accuracy(
            weak[split][~kept], truth[split][~kept]) + 0.1


def test_filter_relabel_keeps_the_most_confident_share():
    probs = np.array([0.5, 0.9, 0.2, 0.55, 0.02])
    np.testing.assert_array_equal(most_confident(probs, 0.4), [False, True, False, False, True])
    np.testing.assert_array_equal(most_confident(probs, 0.6), [False, True, True, False, True])


# --------------------------------------------------------------------------- learned_ensemble


class FakeSupervisors:
    """Weak labellers of known quality, addressed by model name like the pipeline's."""

    def __init__(self, labels: dict[str, dict[str, np.ndarray]], weak_model: str):
        self.labels, self.weak_model = labels, weak_model

    def __call__(self, model: str) -> dict[str, np.ndarray]:
        return self.labels[model]


GOOD, BAD = "static64", "tfidf-logreg"  # names only: FakeSupervisors serves the labels


@pytest.mark.parametrize("order", [(GOOD, BAD), (BAD, GOOD)], ids=["good_first", "bad_first"])
def test_learned_ensemble_puts_more_weight_on_the_better_supervisor(task, order):
    blind, truth, _, _ = task
    supervisors = {
        GOOD: {s: noisy_view(truth[s], 0.8, 10 + i) for i, s in enumerate(("pool", "val"))},
        BAD: {s: noisy_view(truth[s], 3.0, 20 + i) for i, s in enumerate(("pool", "val"))}}
    assert accuracy(supervisors[GOOD]["val"], truth["val"]) > accuracy(
        supervisors[BAD]["val"], truth["val"]) + 0.1
    fake = FakeSupervisors(supervisors, weak_model=order[0])
    ctx = context("learned_ensemble", blind, supervisors[order[0]], fake,
                  weak_models=[order[1]], rounds=3, temperature=0.05)
    result, weights = fit_jointly(ctx, [supervisors[m] for m in order])
    assert weights[order.index(GOOD)] > 0.9 and weights.sum() == pytest.approx(1)
    assert accuracy(ctx.learner.predict(result, ("val",))["val"], truth["val"]) > 0.9


def test_learned_ensemble_weights_are_uniform_when_supervisors_fit_alike():
    student = np.array([0.9, 0.2, 0.7])
    same = ensemble_weights(student, [student, student, student], 0.05)
    np.testing.assert_allclose(same, [1 / 3] * 3)
    # Lower temperature, sharper weights; the better-fitting supervisor always leads.
    warm = ensemble_weights(student, [student, 1 - student], 1.0)
    cold = ensemble_weights(student, [student, 1 - student], 0.01)
    assert 0.5 < warm[0] < cold[0] <= 1
    mixed = mixture([{"pool": np.ones(3)}, {"pool": np.zeros(3)}], np.array([0.25, 0.75]))
    np.testing.assert_allclose(mixed["pool"], 0.25)


# --------------------------------------------------------------------------- elicit


@pytest.mark.parametrize("direction", ["pca", "kmeans"])
def test_elicitation_recovers_the_planted_direction(task, direction):
    blind, truth, planted, weak = task
    x = blind["pool"].features - blind["pool"].features.mean(0)
    found = elicit_direction(x, weak["pool"], ElicitParams(direction=direction), seed=0)
    cosine = found @ planted / np.linalg.norm(found)
    assert cosine > 0.95  # the right axis, and the weak labels gave it the right sign
    mirrored = elicit_direction(x, 1 - weak["pool"], ElicitParams(direction=direction), seed=0)
    np.testing.assert_allclose(mirrored, -found)  # the sign is all the weak labels decide
    labels = elicited_labels({s: blind[s].features for s in ("pool", "val")}, weak["pool"],
                             ElicitParams(direction=direction), seed=0)
    for split in ("pool", "val"):
        assert accuracy(labels[split], truth[split]) > 0.95 > accuracy(weak[split], truth[split])


def test_elicit_relabel_mixes_with_the_weak_labels(task):
    blind, _, _, weak = task
    method = get_method("elicit")()
    pure = method.relabel(context("elicit", blind, weak))
    half = method.relabel(context("elicit", blind, weak, mix=0.5))
    none = method.relabel(context("elicit", blind, weak, mix=0.0))
    np.testing.assert_allclose(none["pool"], weak["pool"])
    np.testing.assert_allclose(half["val"], (pure["val"] + weak["val"]) / 2)


def test_elicit_refuses_constant_weak_labels(task):
    blind, _, _, _ = task
    with pytest.raises(ValueError, match="constant"):
        elicit_direction(blind["pool"].features, np.ones(SIZES["pool"]), ElicitParams(), 0)


# --------------------------------------------------------------------------- adaptive_confidence


def logits_for(p1) -> torch.Tensor:
    p1 = torch.as_tensor(p1, dtype=torch.float32)
    return torch.stack([torch.zeros_like(p1), torch.log(p1 / (1 - p1))], dim=-1)


def test_adaptive_confidence_at_its_limits():
    weak = torch.tensor([0.8, 0.5, 0.9, 0.3])
    student = logits_for([0.5, 0.95, 0.1, 0.7])
    targets = adaptive_targets(student, weak, 1.0)
    # unsure student → the weak label; unsure weak label → the hardened student;
    # both 0.8 sure → half each; student 0.4 sure vs weak 0.4 sure → half each.
    torch.testing.assert_close(targets, torch.tensor([0.8, 1.0, 0.45, 0.65]))
    torch.testing.assert_close(adaptive_targets(student, weak, 0.0), weak)  # c = 0: naive
    # Both at 0.5: nothing to go on, the weak label stays (no division by zero).
    torch.testing.assert_close(adaptive_targets(logits_for([0.5]), torch.tensor([0.5]), 1.0),
                               torch.tensor([0.5]))


def test_adaptive_confidence_ramps_from_naive_and_stops_gradients():
    weak = torch.tensor([0.8, 0.5, 0.9, 0.3])
    logits = logits_for([0.6, 0.95, 0.1, 0.7]).requires_grad_()
    loss = adaptive_confidence(max_coef=1.0, warmup_frac=0.2)
    torch.testing.assert_close(loss(logits, weak, 0.0), xent(logits, weak))  # start: naive
    late = loss(logits, weak, 1.0)
    fixed = adaptive_targets(logits.detach(), weak, 1.0)
    torch.testing.assert_close(late, xent(logits, fixed))
    late.sum().backward()
    expected = torch.autograd.grad(xent(logits, fixed).sum(), logits)[0]
    torch.testing.assert_close(logits.grad, expected)
