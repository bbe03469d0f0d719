"""A generated task: small, fast and learnable, so tests run every model and method."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import Source

# Word lists for the synthetic task: a clear-signal lexicon plus distractor words.
_POSITIVE = "good great love happy excellent wonderful fine nice superb enjoy".split()
_NEGATIVE = "bad awful hate sad terrible horrible poor nasty worse dislike".split()
_NEUTRAL = (
    "the a car road city day time people news phone train weather music food "
    "work school game movie book team idea plan story price"
).split()


def _load_synthetic(n: int = 6000, noise: float = 0.1) -> pd.DataFrame:
    """Short texts whose label is the sign of a polarity score, with label noise.

    Small, fast and learnable: tests run every model and method on it in seconds.
    """
    rng = np.random.default_rng(12345)
    texts, labels = [], []
    for i in range(n):
        n_pol = rng.integers(1, 4)
        pos = rng.integers(0, n_pol + 1)
        words = list(rng.choice(_POSITIVE, pos)) + list(rng.choice(_NEGATIVE, n_pol - pos))
        words += list(rng.choice(_NEUTRAL, rng.integers(3, 9)))
        rng.shuffle(words)
        score = 2 * pos - n_pol + rng.normal(0, 0.5)
        label = int(score > 0) if rng.random() > noise else int(rng.random() < 0.5)
        texts.append(" ".join(words) + f" #{i}")
        labels.append(label)
    return pd.DataFrame({"text": texts, "label": labels})


SOURCES = {
    "synthetic-sentiment": Source("generated polarity texts with 10% label noise (tests)",
                                  _load_synthetic),
}
