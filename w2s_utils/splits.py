"""Drawing a task's five weak-to-strong splits, and the sizes they may have.

``make_splits`` gives the splits of DESIGN.md: ``test`` and ``holdout`` fixed per task,
the rest drawn by a split seed, near-duplicates kept inside one split, classes balanced
by default. ``SplitSizes`` is the one schema of split sizes (defaults and bounds) that
experiments and notebook parameters share; ``"auto"`` sizes divide what a task holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .sources.files import FORMATS, DataError
from .tasks import SPLITS, TEST_SPLITS, Split, TaskSplits, get_task, load_task

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
    suffix = FORMATS.get(spec.name.partition(":")[0], "")
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


MIN_SIZE = 2  # a balanced split needs one example of each class


class SplitSizes(BaseModel):
    """Examples in each of the five splits (``make_splits``).

    ``Experiment(sizes="auto")`` (or ``"auto"`` for some splits) divides the data the task
    has: see ``resolve_sizes``. Building an ``Experiment`` checks that every size
    fits the task's data and names all that do not, with sizes that would.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    weak_train: int = Field(1000, ge=MIN_SIZE,
                            description="ground truth that trains the weak supervisor")
    pool: int = Field(4000, ge=MIN_SIZE, description="the student's training texts: weak "
                      "labels for the student, ground truth for the ceiling")
    val: int = Field(500, ge=MIN_SIZE,
                     description="model selection; students see only weak labels")
    test: int = Field(3000, ge=MIN_SIZE, description="every reported number; fixed per task, "
                      "the same examples for every seed")
    holdout: int = Field(1000, ge=MIN_SIZE, description="fixed per task; kept back for the "
                         "automated researcher's blind scoring")


def _document_fields(model: type[BaseModel]) -> None:
    """Append each field's description to the docstring, so ``help()`` shows them."""
    lines = [f"    {name} (default {f.default}): {f.description}"
             for name, f in model.model_fields.items()]
    model.__doc__ = (model.__doc__ or "").rstrip() + "\n\n    Fields:\n" + "\n".join(lines)


_document_fields(SplitSizes)
