"""Binary classification tasks: the registry, loading and cleaning, and the split types.

A task loads a table with ``text`` and ``label`` (0/1) columns (plus ``features`` for
tabular tasks and ``source`` for data that arrives pre-partitioned). ``splits.make_splits``
turns it into the splits of DESIGN.md: ``test`` and ``holdout`` fixed per task, the rest
drawn by a split seed, near-duplicates kept inside one split:

- ``weak_train``: ground truth, trains the weak supervisor;
- ``pool``: the student's training set (the ceiling sees its ground truth);
- ``val``: model selection (students only ever see weak labels here);
- ``test``: every reported number;
- ``holdout``: kept back for the automated researcher's blind scoring.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .registry import Registry
from .sources import files, huggingface, packaged, synthetic

SPLITS = ("weak_train", "pool", "val", "test", "holdout")
TEST_SPLITS = ("test", "holdout")  # fixed per task: drawn before, and apart from, any seed
UNKNOWN_LABEL = -1  # what a label-free view holds instead of ground truth


@dataclass(frozen=True)
class Split:
    """One split: texts, 0/1 labels, stable ids (and features for tabular tasks)."""

    ids: np.ndarray
    texts: list[str]
    labels: np.ndarray
    features: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def positive_rate(self) -> float:
        return float(self.labels.mean()) if len(self) else float("nan")


@dataclass(frozen=True)
class TaskSplits:
    task: str
    split_seed: int
    balanced: bool
    splits: dict[str, Split]
    natural_positive_rate: float

    def __getitem__(self, split: str) -> Split:
        return self.splits[split]

    def without_labels(self) -> TaskSplits:
        """The same splits with every label replaced by -1: what a student may see."""
        hidden = {name: replace(s, labels=np.full(len(s), UNKNOWN_LABEL, dtype=np.int64))
                  for name, s in self.splits.items()}
        return replace(self, splits=hidden)

    def describe(self) -> pd.DataFrame:
        """Size and class balance of every split."""
        return pd.DataFrame(
            [
                {"split": name, "n": len(s), "positive_rate": round(s.positive_rate, 3)}
                for name, s in self.splits.items()
            ]
        ).set_index("split")


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    loader: Callable[[], pd.DataFrame] = field(repr=False)
    # For pre-partitioned data: which ``source`` values each split may draw from.
    split_sources: dict[str, tuple[str, ...]] | None = None
    tabular: bool = False
    # For data the user can edit: a digest of it, so an edit means new splits and cache keys.
    version: Callable[[], str] | None = field(default=None, repr=False)
    source: str = ""  # the module its data comes from (``sources``): part of cache keys

    def load(self) -> pd.DataFrame:
        return _clean(self.loader(), self._source_priority())

    def _source_priority(self) -> tuple[str, ...]:
        """Sources in the order their splits are drawn (test first): a near-duplicate
        found in several sources stays in the first, so no split shares it."""
        if self.split_sources is None:
            return ()
        order = (*TEST_SPLITS, *(s for s in SPLITS if s not in TEST_SPLITS))
        return tuple(dict.fromkeys(src for split in order for src in self.split_sources[split]))

    def data_version(self) -> str:
        """Empty for packaged data; a digest of the files for a user's data."""
        return self.version() if self.version else ""


TASKS: Registry[Task] = Registry(
    "task", dynamic_hint=" Also: 'jsonl:<file or folder>' and 'csv:<file or folder>' for your "
    "own data (README, \"Your own data\").")


def get_task(name: str) -> Task:
    return TASKS.get(name)


def list_tasks() -> pd.DataFrame:
    return pd.DataFrame(
        [{"task": t.name, "description": t.description} for t in map(TASKS.get, TASKS)]
    ).set_index("task")


@lru_cache(maxsize=16)
def _load_cached(task: str, version: str = "") -> pd.DataFrame:
    return get_task(task).load()


def load_task(task: str) -> pd.DataFrame:
    """The task's cleaned table (cached until its data changes): text, label, id and
    near-duplicate ``group``; ``attrs["dropped_conflicting"]`` counts texts dropped for
    conflicting labels, ``attrs["label_names"]`` names class 0 and class 1."""
    spec = get_task(task)
    return _load_cached(spec.name, spec.data_version())


_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_RETWEET = re.compile(r"^(rt\b\s*)+")
_NOT_WORD = re.compile(r"[\W_]+")


def near_duplicate_key(text: str) -> str:
    """What two near-duplicate texts share: lower case without URLs, @mentions, a leading
    "RT", punctuation and repeated spaces (so a retweet and its original get one key)."""
    text = _MENTION.sub(" ", _URL.sub(" ", text.lower()))
    text = _NOT_WORD.sub(" ", text).strip()
    return _RETWEET.sub("", text).strip()


def _clean(frame: pd.DataFrame, source_priority: tuple[str, ...] = ()) -> pd.DataFrame:
    """Drop empty texts, exact duplicates, and near-duplicate groups whose labels conflict;
    add stable ids and a near-duplicate ``group`` so splitting keeps each group together.
    Pre-partitioned data (a ``source`` column) keeps a group only in its first source of
    ``source_priority``: a test text copied into a training file would leak into training.

    ``frame.attrs["dropped_conflicting"]`` counts the texts dropped for conflicting labels,
    ``attrs["dropped_across_sources"]`` the copies dropped from later sources.
    """
    label_names = frame.attrs.get("label_names", ("0", "1"))
    frame = frame.copy()
    frame["text"] = frame["text"].astype(str).str.strip()
    frame["label"] = frame["label"].astype(int)
    frame = frame[frame["text"].str.len() > 0]
    key = frame["text"].map(near_duplicate_key)
    key = key.where(key.str.len() > 0, frame["text"])  # a text of only punctuation: itself
    conflicting = frame.groupby(key)["label"].transform("nunique") > 1
    frame, key = frame[~conflicting], key[~conflicting]
    across = pd.Series(False, index=frame.index)
    if "source" in frame:  # pre-partitioned data: its partition decides the split
        rank = frame["source"].map({s: i for i, s in enumerate(source_priority)})
        rank = rank.fillna(len(source_priority))
        across = rank > rank.groupby(key).transform("min")
        frame, key = frame[~across], key[~across]
    keep = ~frame["text"].duplicated()
    frame, key = frame[keep].reset_index(drop=True), key[keep].reset_index(drop=True)
    frame["group"] = pd.factorize(key)[0]
    frame["id"] = [hashlib.sha1(t.encode()).hexdigest()[:16] for t in frame["text"]]
    frame.attrs["dropped_conflicting"] = int(conflicting.sum())
    frame.attrs["dropped_across_sources"] = int(across.sum())
    frame.attrs["label_names"] = tuple(label_names)
    return frame


for _name, _source in {**packaged.SOURCES, **synthetic.SOURCES,
                      **huggingface.SOURCES}.items():
    TASKS.add(_name, Task(_name, _source.description, _source.loader, tabular=_source.tabular,
                          source=_source.loader.__module__))


def _file_task(fmt: str, path: str) -> Task:
    """``jsonl:<path>`` / ``csv:<path>``: a file or folder of the user's (``sources.files``);
    a relative path is resolved against the current folder and the name made absolute."""
    where = files.layout(fmt, path)
    return Task(f"{fmt}:{where.path}", where.describe(), lambda: files.load(where),
                split_sources=where.split_sources, version=lambda: files.version(where),
                source=files.__name__)


def load_jsonl_folder(folder: str | Path) -> pd.DataFrame:
    """A folder of JSONL files (any layout of ``sources.files``), one ``source`` per file."""
    return files.load(files.layout("jsonl", folder))


TASKS.add_prefix("jsonl:", lambda path: _file_task("jsonl", path))
TASKS.add_prefix("csv:", lambda path: _file_task("csv", path))


def leak_check(splits: TaskSplits, near: bool = False) -> pd.DataFrame:
    """Texts shared by each pair of splits (all zeros when the splits are clean);
    ``near=True`` compares near-duplicate keys instead of exact texts."""
    names = list(splits.splits)
    key = near_duplicate_key if near else (lambda t: t)
    sets = {n: {key(t) for t in splits[n].texts} for n in names}
    return pd.DataFrame([[len(sets[a] & sets[b]) if a != b else 0 for b in names]
                         for a in names], index=names, columns=names)
