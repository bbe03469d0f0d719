"""Your own data: JSONL or CSV files read into the task table (``text``, ``label``, ``source``).

Two layouts (README, "Your own data"):

- **one file** (``jsonl:reviews.jsonl``, ``csv:reviews.csv``): the package draws every split;
- **a folder** (``jsonl:<folder>``, ``csv:<folder>``) of files named after the splits they
  feed (``SPLIT_FILES``): ``train`` + ``test``, the five split names, or the automated-W2S
  names ``train_label``, ``train_unlabel``, ``test``.

Three record schemas: plain ``{text, label}``; verification ``{question, choice, label}``;
chat preference ``{prompt, first, second, label: "A"|"B"}``. A label is 0/1, a boolean
(``true``/``false`` in CSV too) or one of two class names; names are mapped in sorted order
(the first to 0) and the mapping is reported. Every bad value is named with its file and
line, all of them in one error.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

FORMATS = {"jsonl": ".jsonl", "csv": ".csv"}

# The files a split may draw from, first match wins: a folder with ``train`` and ``test``
# draws weak_train, pool and val from train; the automated-W2S folder (train_label,
# train_unlabel, test) draws val, test and holdout from test.
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "weak_train": ("weak_train", "train_label", "train"),
    "pool": ("pool", "train_unlabel", "train"),
    "val": ("val", "validation", "train", "test"),
    "test": ("test",),
    "holdout": ("holdout", "test"),
}
KNOWN_STEMS = tuple(dict.fromkeys(s for stems in SPLIT_FILES.values() for s in stems))
MAX_SHOWN = 8  # problems listed in one error; the rest are counted


class DataError(Exception):
    """Data that cannot be used as given; the message names every problem found.

    Not a ValueError, so that pydantic passes it through unwrapped: building an
    ``Experiment`` on bad data shows this message alone."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file or folder that is not there (its resolved path is in the message)."""


@dataclass(frozen=True)
class Layout:
    """Where a file task's data lives: one file, or the file each split draws from."""

    fmt: str
    path: Path
    split_files: dict[str, Path] | None  # None: one file, splits drawn by the package

    @property
    def files(self) -> list[Path]:
        if self.split_files is None:
            return [self.path]
        return sorted(set(self.split_files.values()))

    @property
    def split_sources(self) -> dict[str, tuple[str, ...]] | None:
        if self.split_files is None:
            return None
        return {split: (file.stem,) for split, file in self.split_files.items()}

    def describe(self) -> str:
        if self.split_files is None:
            return f"{self.fmt.upper()} file {self.path} (splits drawn by the package)"
        feeds = "; ".join(f"{s} ← {f.name}" for s, f in self.split_files.items())
        return f"{self.fmt.upper()} files in {self.path}: {feeds}"


def layout(fmt: str, path: str | Path) -> Layout:
    """Find the data behind ``<fmt>:<path>``; a relative path is taken from the current
    folder. Fails at once, naming the resolved path, if nothing usable is there."""
    suffix = FORMATS[fmt]
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise MissingDataError(f"{fmt}:{path}: no such file or folder")
    if path.is_file():
        if path.suffix.lower() != suffix:
            raise DataError(f"{fmt}:{path}: expected a {suffix} file; for a {path.suffix} file "
                            f"use the matching prefix ({', '.join(f'{k}:' for k in FORMATS)})")
        return Layout(fmt, path, None)
    present = {f.stem: f for f in path.glob(f"*{suffix}")}
    unknown = sorted(set(present) - set(KNOWN_STEMS))
    split_files, missing = {}, []
    for split in SPLIT_FILES:
        stem = next((s for s in SPLIT_FILES[split] if s in present), None)
        if stem is None:
            missing.append(f"{split} (from {' or '.join(s + suffix for s in SPLIT_FILES[split])})")
        else:
            split_files[split] = present[stem]
    if missing:
        found = ", ".join(sorted(f.name for f in present.values())) or f"no {suffix} files"
        hint = (f"; unrecognised: {', '.join(s + suffix for s in unknown)}" if unknown else "")
        raise MissingDataError(
            f"{fmt}:{path}: no file for split {', '.join(missing)}. Found {found}{hint}. "
            f"A folder holds train{suffix} + test{suffix}, a file per split, or the "
            f"automated-W2S train_label/train_unlabel/test{suffix}; for one file with "
            f"everything, pass the file itself")
    if unknown:
        raise DataError(f"{fmt}:{path}: unrecognised files {', '.join(s + suffix for s in unknown)}"
                        f"; file names (without {suffix}) must be among {', '.join(KNOWN_STEMS)}")
    return Layout(fmt, path, split_files)


def version(layout: Layout) -> str:
    """A digest of the data files' bytes: an edited file gives new splits and new cache keys."""
    stats = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in layout.files)
    return _digest(stats)


@lru_cache(maxsize=64)
def _digest(stats: tuple[tuple[str, int, int], ...]) -> str:
    """Hashed once per file state (path, size, modification time)."""
    digest = hashlib.sha256()
    for path, _, _ in stats:
        digest.update(Path(path).name.encode() + b"\0" + Path(path).read_bytes())
    return digest.hexdigest()[:16]


def load(layout: Layout) -> pd.DataFrame:
    """The table of every file (``text``, ``label`` 0/1, ``source`` = file stem);
    ``attrs["label_names"]`` holds the class name of label 0 and of label 1."""
    rows, raw_labels, problems, schemas = [], [], [], set()
    for file in layout.files:
        for line, record in _records(file, layout.fmt, problems):
            where = f"{file.name}:{line}"
            try:
                text, label, schema = _text_and_label(record)
            except DataError as error:
                problems.append(f"{where}: {error}")
                continue
            rows.append({"text": text, "source": file.stem})
            schemas.add(schema)
            raw_labels.append((where, label))
    labels, names = _map_labels(raw_labels, problems)
    if schemas == {"chat preference"}:
        names = ("B preferred", "A preferred")
    if problems:
        shown = problems[:MAX_SHOWN]
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        raise DataError(f"{layout.fmt}:{layout.path}: {len(problems)} problem(s) in the data:\n  "
                        + "\n  ".join(shown) + more)
    frame = pd.DataFrame(rows, columns=["text", "source"])
    frame["label"] = labels
    if layout.split_files is None:
        frame = frame.drop(columns="source")
    frame.attrs["label_names"] = names
    return frame


def _records(file: Path, fmt: str, problems: list[str]):
    """(line number, record) pairs; unreadable lines are added to ``problems``."""
    try:
        content = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(f"{file.name}: not UTF-8 text (byte {error.start}); save it as UTF-8")
        return
    except OSError as error:
        problems.append(f"{file.name}: cannot be read ({error.strerror})")
        return
    if fmt == "jsonl":
        for line, raw in enumerate(content.split("\n"), 1):  # not splitlines: JSON strings
            # may hold U+2028 and other characters that it would split on
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as error:
                problems.append(f"{file.name}:{line}: not valid JSON ({error.msg})")
                continue
            if not isinstance(record, dict):
                problems.append(f"{file.name}:{line}: expected a JSON object, got {raw[:40]!r}")
                continue
            yield line, record
        return
    reader = csv.DictReader(io.StringIO(content, newline=""))
    if not reader.fieldnames:
        problems.append(f"{file.name}: empty (a CSV file needs a header row: text,label)")
        return
    start = 2  # line 1 is the header
    for record in reader:
        if None in record:  # more fields than the header names
            problems.append(f"{file.name}:{start}: {len(reader.fieldnames) + len(record[None])} "
                            f"fields, but the header has {len(reader.fieldnames)}")
        else:
            yield start, record
        start = reader.line_num + 1


def _text_and_label(record: dict) -> tuple[str, object, str]:
    """The text, the raw label and the schema's name of one record."""
    keys = record.keys()
    if "text" in keys:
        text = record["text"]
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"text must be a non-empty string, got {text!r}")
        return text, _required_label(record), "plain"
    if {"prompt", "first", "second"} <= keys:
        label = _required_label(record)
        if label not in ("A", "B"):
            raise DataError(f"chat-preference label must be 'A' or 'B', got {label!r}")
        text = (f"{record['prompt']}\n\nResponse A:\n{record['first']}\n\n"
                f"Response B:\n{record['second']}")
        return text, int(label == "A"), "chat preference"  # 1: the first is preferred
    if {"question", "choice"} <= keys:
        label = _truth_value(_required_label(record))
        if label is None:
            raise DataError(f"verification label must be true/false or 1/0, "
                            f"got {record['label']!r}")
        return f"{record['question']}\nAnswer: {record['choice']}", label, "verification"
    raise DataError(f"expected columns text,label (or the automated-W2S keys question,choice,"
                    f"label or prompt,first,second,label); got {sorted(keys)}")


def _required_label(record: dict):
    label = record.get("label")
    if label is None or (isinstance(label, str) and not label.strip()):
        raise DataError("label is missing")
    return label.strip() if isinstance(label, str) else label


_TRUE, _FALSE = ("1", "true"), ("0", "false")


def _truth_value(value) -> int | None:
    """0/1 for a boolean, 0, 1, "0", "1", "true" or "false"; None for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return int(value.lower() in _TRUE)
    return None


def _map_labels(raw: list[tuple[str, object]], problems: list[str]
                ) -> tuple[list[int], tuple[str, str]]:
    """Labels as 0/1, with the names of class 0 and class 1.

    0/1 and booleans keep their meaning; two class names are sorted, the first becoming 0.
    """
    truth = [_truth_value(v) for _, v in raw]
    if all(t is not None for t in truth):
        return truth, ("0", "1")
    names = [v for _, v in raw if isinstance(v, str)]
    first_line: dict[str, str] = {}
    for where, value in raw:
        if not isinstance(value, str):
            problems.append(f"{where}: label {value!r} is neither 0/1, a boolean nor a class "
                            "name")
        else:
            first_line.setdefault(value, where)
    numeric = [(where, v) for (where, v), t in zip(raw, truth) if t is not None and
               not isinstance(v, str)]
    if numeric and names:
        problems.append(f"{numeric[0][0]}: label {numeric[0][1]!r} is a number, but "
                        f"{first_line[names[0]]} has the class name {names[0]!r}; use one kind")
    classes = sorted(first_line)
    if len(classes) > 2:
        counts = pd.Series(names).value_counts()
        seen = ", ".join(f"{c!r} ×{counts[c]} (first at {first_line[c]})" for c in classes[:6])
        problems.append(f"labels must have two classes, found {len(classes)}: {seen}"
                        + (" ..." if len(classes) > 6 else ""))
    if len(classes) != 2 or problems:
        if len(classes) < 2 and not problems:
            problems.append(f"only one class in the labels: {classes}")
        return [0] * len(raw), ("0", "1")
    return [classes.index(v) for _, v in raw], (classes[0], classes[1])
