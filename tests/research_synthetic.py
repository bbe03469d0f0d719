"""A synthetic evaluation task for the server's tests: ground truth, weak labels and a
ceiling drawn at random, no model trained (the server only needs what it holds)."""

from __future__ import annotations

import numpy as np

from w2s_utils.experiment import Experiment
from w2s_utils.research.evaldata import EvalData, ScoredSplit
from w2s_utils.research.schemas import Baselines, DataView
from w2s_utils.splits import SplitSizes

EXPERIMENT = Experiment(task="synthetic-sentiment",
                        sizes=SplitSizes(weak_train=200, pool=400, val=100, test=2000,
                                         holdout=1000),
                        weak_model="tfidf-logreg", strong_model="static64")


def noisy(labels: np.ndarray, accuracy: float, rng) -> np.ndarray:
    """``labels`` with a random (1 − accuracy) share flipped (exactly that many)."""
    out = labels.copy()
    wrong = rng.choice(len(labels), round((1 - accuracy) * len(labels)), replace=False)
    out[wrong] ^= 1
    return out


def synthetic_data(n_test: int = 2000, n_holdout: int = 1000, weak: float = 0.70,
                   ceiling: float = 0.80, seed: int = 0) -> tuple[EvalData, dict]:
    """The server's data plus what a cheater would hold: labels, weak and ceiling hard
    predictions per scored split (the ceiling errs independently of the weak model)."""
    rng = np.random.default_rng(seed)
    views, scored, secrets, base_w, base_c, agree, ceilings = {}, {}, {}, {}, {}, {}, {}
    for split, n in (("pool", 400), ("val", 100), ("test", n_test), ("holdout", n_holdout)):
        ids = np.array([f"{split}-{i}" for i in range(n)], dtype=object)
        labels = rng.integers(0, 2, n)
        weak_hard, ceiling_hard = noisy(labels, weak, rng), noisy(labels, ceiling, rng)
        soft = np.clip(weak_hard * 0.6 + 0.2 + rng.normal(0, 0.05, n), 0.01, 0.99)
        views[split] = DataView(split=split, ids=list(ids), texts=[f"text {i}" for i in ids],
                                weak=soft.tolist() if split in ("pool", "val") else None)
        if split in ("test", "holdout"):
            scored[split] = ScoredSplit(ids, labels, weak_hard)
            base_w[split] = float((weak_hard == labels).mean())
            base_c[split] = float((ceiling_hard == labels).mean())
            agree[split] = float((ceiling_hard == weak_hard).mean())
            ceilings[split] = ceiling_hard
            secrets[split] = {"labels": labels, "weak": weak_hard, "ceiling": ceiling_hard}
    baselines = Baselines(weak=base_w, ceiling=base_c, ceiling_seeds=[0])
    return EvalData(EXPERIMENT, views, scored, baselines, agree, ceilings), secrets
