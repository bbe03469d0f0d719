"""The label boundary is code: nothing reachable from a method's context holds a
ground-truth label of pool, val, test or holdout, or a ceiling prediction."""

import functools
import inspect
import types

import numpy as np
import pytest
import torch

from w2s_utils.cache import ArtifactStore
from w2s_utils.experiment import Experiment
from w2s_utils.methods import METHODS, Method, register
from w2s_utils.stages import ceiling, experiment_splits, student

SIZES = {"weak_train": 120, "pool": 160, "val": 60, "test": 140, "holdout": 50}
captured = {}


class Capture(Method):
    """Naive training that keeps its context for the test to inspect."""

    name = "capture_context"

    def run(self, ctx):
        captured["ctx"] = ctx
        captured["ensemble"] = ctx.weak_supervisor("tfidf-logreg")  # a legitimate call
        return super().run(ctx)


@pytest.fixture(scope="module", autouse=True)
def capture_method():
    register(Capture)
    yield
    METHODS._items.pop(Capture.name)


def reachable(root, limit: int = 200_000):
    """Every object reachable from ``root`` through attributes, slots, containers,
    closures and bound methods. Modules, classes and a function's globals are not
    followed: code can always import, the boundary is the data a method is handed."""
    seen, stack, out = set(), [root], []
    while stack and len(out) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (types.ModuleType, type, str, bytes, int,
                                               float, bool, type(None))):
            continue
        seen.add(id(obj))
        out.append(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, (np.ndarray, torch.Tensor)):
            continue
        if isinstance(obj, types.MethodType):
            stack.extend([obj.__self__, obj.__func__])
        if isinstance(obj, functools.partial):
            stack.extend([obj.func, obj.args, obj.keywords])
        if isinstance(obj, types.FunctionType):
            stack.extend(c.cell_contents for c in obj.__closure__ or () if _filled(c))
            stack.append(obj.__defaults__)
            continue
        if hasattr(obj, "__dict__"):
            stack.append(vars(obj))
        for klass in type(obj).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if isinstance(slot, str) and hasattr(obj, slot):
                    stack.append(getattr(obj, slot))
    return out


def _filled(cell) -> bool:
    try:
        return cell.cell_contents is not cell  # touching an empty cell raises
    except ValueError:
        return False


def secrets_found(objects, secrets: dict[str, np.ndarray]) -> list[str]:
    found = []
    for obj in objects:
        if isinstance(obj, torch.Tensor):
            obj = obj.detach().cpu().numpy()
        if not isinstance(obj, np.ndarray) or obj.ndim != 1 or obj.dtype.kind not in "biuf":
            continue
        for name, secret in secrets.items():
            if len(obj) == len(secret) and np.allclose(obj.astype(float), secret.astype(float)):
                found.append(name)
    return found


@pytest.mark.parametrize("regime", ["linear_probe"])
def test_no_ground_truth_or_ceiling_output_is_reachable_from_a_method(fresh_cache, regime):
    exp = Experiment(task="synthetic-sentiment", sizes=SIZES, weak_model="tfidf-logreg",
                     strong_model="static64", regime=regime, method=Capture.name)
    store = ArtifactStore()
    student(exp, store, progress=False)
    truth = experiment_splits(exp)
    top = ceiling(exp, store, progress=False)["probs"]
    secrets = {f"{s} labels": truth[s].labels for s in ("pool", "val", "test", "holdout")}
    secrets.update({f"ceiling on {s}": top[s] for s in top})
    ctx = captured["ctx"]
    objects = reachable(ctx)
    assert len(objects) > 50  # the walk really went through the context
    assert secrets_found(objects, secrets) == []
    assert secrets_found(reachable(captured["ensemble"]), secrets) == []
    assert all((s.labels == -1).all() for s in ctx.splits.splits.values())
    assert not any(isinstance(o, ArtifactStore) for o in objects)
    # the walker is not blind: handed the experiment's true splits, it finds the labels
    assert "pool labels" in secrets_found(reachable({"splits": truth}), secrets)


# A faster intermediate model than the default (minilm-l3 would embed every text with ONNX).
FAST_PARAMS = {"bootstrap": {"intermediate": "tfidf-logreg"}}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    """One cache for the per-method runs: embeddings and weak labels are made once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("W2S_CACHE_DIR", str(tmp_path_factory.mktemp("boundary-cache")))
        yield


@pytest.mark.parametrize("name", sorted(n for n in METHODS.names() if n != Capture.name))
def test_every_method_trains_without_ground_truth(shared_cache, name):
    """Each registered method, run through the pipeline: its context, everything it left on
    the context, and every target and val target it trained on hold no ground-truth label
    and no ceiling output."""
    base = METHODS.get(name)
    seen = {"fits": []}

    class Watched(base):
        def run(self, ctx):
            seen["ctx"], fit = ctx, ctx.fit

            def recording_fit(targets, **kwargs):
                seen["fits"].append((np.asarray(targets), kwargs.get("val_targets")))
                return fit(targets, **kwargs)

            ctx.fit = recording_fit
            return super().run(ctx)

    Watched.name = f"boundary_{name}"
    register(Watched, replace=True)
    try:
        exp = Experiment(task="synthetic-sentiment", sizes=SIZES, weak_model="tfidf-logreg",
                         strong_model="static64", regime="linear_probe", method=Watched.name,
                         method_params=FAST_PARAMS.get(name, {}))
        store = ArtifactStore()
        student(exp, store, progress=False)
        truth = experiment_splits(exp)
        top = ceiling(exp, store, progress=False)["probs"]
    finally:
        METHODS._items.pop(Watched.name)
    secrets = {f"{s} labels": truth[s].labels for s in ("pool", "val", "test", "holdout")}
    secrets.update({f"ceiling on {s}": top[s] for s in top})
    assert seen["fits"], "the method trained through its context"
    trained_on = [a for fit in seen["fits"] for a in fit if a is not None]
    assert secrets_found(trained_on, secrets) == []
    assert secrets_found(reachable(seen["ctx"]), secrets) == []


def test_methods_reach_weak_models_only_through_the_context():
    """No registered method reads the pipeline's labelled splits or a store directly."""
    for name in METHODS:
        module = inspect.getmodule(METHODS.get(name))
        if not module.__name__.startswith("w2s_utils.methods"):
            continue
        source = inspect.getsource(module)
        for forbidden in ("experiment_splits", "ArtifactStore", "ceiling(", ".labels"):
            assert forbidden not in source, f"method {name!r} uses {forbidden}"
