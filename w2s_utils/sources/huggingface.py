"""The published weak-to-strong tasks on the Hugging Face Hub (network needed), each
formatted into ``text`` and a 0/1 ``label``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import Source


def _coin(rng: np.random.Generator) -> bool:
    return bool(rng.random() < 0.5)


def _format_sciq(ds, rng) -> pd.DataFrame:
    rows = []
    for ex in ds:
        correct = _coin(rng)
        answer = ex["correct_answer"] if correct else ex[f"distractor{rng.integers(1, 4)}"]
        rows.append({"text": f"Q: {ex['question']} A: {answer}", "label": int(correct)})
    return pd.DataFrame(rows)


def _format_boolq(ds, rng) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [f"Passage: {e['passage']}\nQuestion: {e['question']}?" for e in ds],
            "label": [int(e["answer"]) for e in ds],
        }
    )


def _format_cosmos_qa(ds, rng) -> pd.DataFrame:
    rows = []
    for ex in ds:
        correct = _coin(rng)
        right = int(ex["label"])
        pick = right if correct else int(rng.choice([i for i in range(4) if i != right]))
        rows.append(
            {
                "text": f"Context: {ex['context']}\nQuestion: {ex['question']}\n"
                f"Answer: {ex[f'answer{pick}']}",
                "label": int(correct),
            }
        )
    return pd.DataFrame(rows)


def _format_amazon_polarity(ds, rng) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": [f"{e['title']}\n{e['content']}" for e in ds],
            "label": [int(e["label"]) for e in ds],
        }
    )


def _format_anthropic_hh(ds, rng) -> pd.DataFrame:
    # Shown as a pair: one response alone leaves every model near chance (Burns et al.).
    rows = []
    for ex in ds:
        chosen_first = _coin(rng)
        first, second = (
            (ex["chosen"], ex["rejected"]) if chosen_first else (ex["rejected"], ex["chosen"])
        )
        text = f"Conversation A:\n{first.strip()}\n\nConversation B:\n{second.strip()}"
        rows.append({"text": text, "label": int(chosen_first)})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class HuggingFaceSource:
    """A dataset on the Hugging Face Hub (or a local folder of data files)."""

    path: str
    formatter: Callable
    config: str | None = None
    max_rows: int = 20_000  # Burns et al. use up to 20k documents per task

    def __call__(self) -> pd.DataFrame:
        import datasets

        try:
            loaded = datasets.load_dataset(self.path, self.config)
        except Exception as error:  # network, missing files, bad config
            raise RuntimeError(
                f"could not load Hugging Face dataset {self.path!r}: {error}. Hub tasks need "
                "network access (or a local copy of the data files: pass its folder as path)."
            ) from error
        rows = datasets.concatenate_datasets(list(loaded.values()))
        if len(rows) > self.max_rows:
            rows = rows.shuffle(seed=0).select(range(self.max_rows))
        return self.formatter(rows, np.random.default_rng(0))


HF_TASKS = {
    "sciq": HuggingFaceSource("allenai/sciq", _format_sciq),
    "boolq": HuggingFaceSource("google/boolq", _format_boolq),
    "cosmos_qa": HuggingFaceSource("allenai/cosmos_qa", _format_cosmos_qa),
    "amazon_polarity": HuggingFaceSource("fancyzhx/amazon_polarity", _format_amazon_polarity),
    "anthropic_hh": HuggingFaceSource("Anthropic/hh-rlhf", _format_anthropic_hh),
}
SOURCES = {name: Source(f"Hugging Face {source.path} (needs network)", source)
           for name, source in HF_TASKS.items()}
