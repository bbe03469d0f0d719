"""Write the example data sets used by the README and the tests (deterministic).

    python examples/data/make_examples.py

400 short product reviews, 40% positive, with 8% of labels flipped, in every layout the
package reads (README, "Your own data"):

- ``reviews.csv``: one CSV file, labels as class names (``negative``/``positive``);
- ``reviews.jsonl``: one JSONL file, labels 0/1;
- ``reviews_split/train.jsonl`` + ``test.jsonl``: one file per side, labels true/false;
- ``reviews_split_csv/``: ``weak_train.csv``, ``pool.csv``, ``val.csv``, ``test.csv``,
  ``holdout.csv``, one file per split;
- ``reviews_w2s/``: the automated-W2S verification schema (``question``, ``choice``,
  ``label``) in ``train_label``, ``train_unlabel`` and ``test``.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
N, POSITIVE_RATE, NOISE = 400, 0.4, 0.08

PRODUCTS = ("kettle", "pair of headphones", "desk lamp", "phone case", "blender", "backpack",
            "coffee grinder", "keyboard", "rain jacket", "water bottle", "toaster", "mouse")
GOOD = ("works great", "I love it", "the battery lasts for days", "sturdy and well made",
        "would buy it again", "arrived early and works perfectly", "excellent value",
        "my kids like it too", "quiet and fast", "exactly as described")
BAD = ("it broke after a week", "a waste of money", "it stopped working", "cheap plastic",
       "I returned it", "it arrived scratched", "too loud to use", "the strap came off",
       "nothing like the photos", "support never answered")
FILLER = ("I bought it for the office.", "It came in a blue box.", "I use it every morning.",
          "It was a gift for my brother.", "I had the old model before.",
          "Delivery took three days.", "I use it in the kitchen.", "The colour is fine.")


def reviews() -> list[tuple[str, int]]:
    rng = random.Random(17)
    seen, out = set(), []
    while len(out) < N:
        label = int(rng.random() < POSITIVE_RATE)
        main, other = (GOOD, BAD) if label else (BAD, GOOD)
        parts = [f"The {rng.choice(PRODUCTS)}: {rng.choice(main)}."]
        if rng.random() < 0.5:
            parts.append(f"Only downside, {rng.choice(other)}." if label else
                         f"To be fair, {rng.choice(other)}.")
        parts.append(rng.choice(FILLER))
        if rng.random() < 0.5:
            parts.append(f"{rng.choice(main).capitalize()}.")
        rng.shuffle(parts)
        text = " ".join(parts)
        if text in seen:
            continue
        seen.add(text)
        out.append((text, 1 - label if rng.random() < NOISE else label))
    return out


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def write_csv(path: Path, rows: list[tuple[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def main() -> None:
    data = reviews()
    names = ("negative", "positive")
    write_csv(HERE / "reviews.csv", [(t, names[y]) for t, y in data])
    write_jsonl(HERE / "reviews.jsonl", [{"text": t, "label": y} for t, y in data])
    train, test = data[:240], data[240:]
    write_jsonl(HERE / "reviews_split" / "train.jsonl",
                [{"text": t, "label": bool(y)} for t, y in train])
    write_jsonl(HERE / "reviews_split" / "test.jsonl",
                [{"text": t, "label": bool(y)} for t, y in test])
    bounds = {"weak_train": (0, 80), "pool": (80, 200), "val": (200, 240), "test": (240, 360),
              "holdout": (360, 400)}
    for split, (start, end) in bounds.items():
        write_csv(HERE / "reviews_split_csv" / f"{split}.csv", data[start:end])
    verification = [{"question": f"Is this review positive? {t}", "choice": "yes",
                     "label": bool(y)} for t, y in data]
    for stem, (start, end) in {"train_label": (0, 80), "train_unlabel": (80, 240),
                               "test": (240, 400)}.items():
        write_jsonl(HERE / "reviews_w2s" / f"{stem}.jsonl", verification[start:end])


if __name__ == "__main__":
    main()
