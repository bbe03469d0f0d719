import json

import numpy as np
import pandas as pd
import pytest

from w2s_utils.registry import UnknownNameError
from w2s_utils.sources.files import DataError
from w2s_utils.sources.huggingface import HuggingFaceSource
from w2s_utils.splits import make_splits
from w2s_utils.tasks import SPLITS, TASKS, leak_check, load_jsonl_folder, near_duplicate_key

SIZES = {"weak_train": 100, "pool": 200, "val": 50, "test": 100, "holdout": 50}


@pytest.mark.parametrize("task", ["tweets-sentiment", "bbc-news", "sklearn-breast-cancer",
                                  "synthetic-sentiment"])
def test_offline_tasks_split_disjoint_balanced_and_deterministic(task):
    sizes = {k: v // 2 for k, v in SIZES.items()} if task != "tweets-sentiment" else SIZES
    first = make_splits(task, sizes, split_seed=3)
    again = make_splits(task, sizes, split_seed=3)
    other = make_splits(task, sizes, split_seed=4)
    assert leak_check(first).to_numpy().sum() == 0
    for split in SPLITS:
        assert len(first[split]) == sizes[split]
        assert abs(first[split].positive_rate - 0.5) <= 0.5 / sizes[split] + 1e-9
        assert list(first[split].ids) == list(again[split].ids)
    assert list(first["pool"].ids) != list(other["pool"].ids)


def test_test_and_holdout_are_fixed_whatever_the_split_seed():
    sizes = {**SIZES, "test": 400}
    first, other = (make_splits("tweets-sentiment", sizes, split_seed=s) for s in (0, 7))
    for split in ("test", "holdout"):
        assert list(first[split].ids) == list(other[split].ids)
    smaller = make_splits("tweets-sentiment", {**sizes, "test": 200}, split_seed=5)
    assert set(smaller["test"].ids) <= set(first["test"].ids)


def test_near_duplicates_share_a_split_and_conflicting_groups_are_dropped(monkeypatch):
    import w2s_utils.tasks as tasks

    rows = [(f"RT @user{i % 7}: Flight {i} was GREAT!! http://t.co/{i}", 1) for i in range(40)]
    rows += [(f"flight {i} was great", 1) for i in range(40)]          # near-copies
    rows += [(f"plain text number {i}", i % 2) for i in range(400)]
    rows += [("Delayed again.", 0), ("delayed again!!", 1)]            # conflicting pair
    loader = lambda: pd.DataFrame(rows, columns=["text", "label"])  # noqa: E731
    monkeypatch.setitem(TASKS._items, "near-dups", tasks.Task("near-dups", "test", loader))
    tasks._load_cached.cache_clear()
    frame = tasks._load_cached("near-dups")
    assert frame.attrs["dropped_conflicting"] == 2
    assert near_duplicate_key("RT @a: Flight 3 was GREAT!! http://t.co/x") == "flight 3 was great"
    for seed in range(3):
        splits = make_splits("near-dups", {"weak_train": 40, "pool": 60, "val": 20,
                                           "test": 60, "holdout": 20}, split_seed=seed,
                             balanced=False)
        where = {near_duplicate_key(t): s for s in SPLITS for t in splits[s].texts}
        for s in SPLITS:
            assert all(where[near_duplicate_key(t)] == s for t in splits[s].texts)
    tasks._load_cached.cache_clear()


def test_natural_balance_keeps_the_tweets_minority_rate():
    splits = make_splits("tweets-sentiment", {**SIZES, "test": 2000}, split_seed=0, balanced=False)
    assert 0.25 < splits["test"].positive_rate < 0.35
    assert splits.natural_positive_rate == pytest.approx(0.3, abs=0.01)


def test_too_large_split_says_how_many_there_are_and_what_fits():
    with pytest.raises(DataError, match=r"pool=2000.*: need \d+ of each, but the data has "
                                        r"\d+ of class 0 and \d+ of class 1\n.*sizes that fit: "
                                        r"weak_train=\d+, pool=\d+.*balanced=False"):
        make_splits("bbc-news", {**SIZES, "pool": 2000}, split_seed=0)


def test_unknown_task_lists_valid_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'tweets-sentiment'.*bbc-news"):
        TASKS.get("tweet-sentiment")


def test_tabular_task_carries_features():
    splits = make_splits("sklearn-breast-cancer", {k: 20 for k in SPLITS}, split_seed=0)
    assert splits["pool"].features.shape == (20, 30)


HF_ROWS = {
    "sciq": [{"question": f"q{i}", "correct_answer": "yes", "distractor1": "a",
              "distractor2": "b", "distractor3": "c", "support": ""} for i in range(40)],
    "boolq": [{"question": f"is it {i}", "passage": "text", "answer": i % 2 == 0}
              for i in range(40)],
    "cosmos_qa": [{"context": "c", "question": f"q{i}", "answer0": "w0", "answer1": "right",
                   "answer2": "w2", "answer3": "w3", "label": 1} for i in range(40)],
    "amazon_polarity": [{"title": f"t{i}", "content": "c", "label": i % 2} for i in range(40)],
    "anthropic_hh": [{"chosen": f"Human: hi {i}\n\nAssistant: hello",
                      "rejected": f"Human: hi {i}\n\nAssistant: go away"} for i in range(40)],
}


@pytest.mark.parametrize("name", sorted(HF_ROWS))
def test_hugging_face_loaders_on_local_files(name, tmp_path):
    from w2s_utils.sources.huggingface import HF_TASKS

    rows = HF_ROWS[name]
    for split, part in (("train", rows[:30]), ("test", rows[30:])):
        with open(tmp_path / f"{split}.jsonl", "w") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in part)
    source = HuggingFaceSource(str(tmp_path), HF_TASKS[name].formatter)
    frame = source()
    assert len(frame) == 40 and set(frame["label"]) == {0, 1}
    if name == "anthropic_hh":  # shown as a pair, the preferred one in either position
        assert all("Conversation A" in t and "Conversation B" in t for t in frame["text"])
        first_is_chosen = frame["text"].str.split("Conversation B").str[0].str.contains("hello")
        assert (first_is_chosen.astype(int) == frame["label"]).all()
    if name == "sciq":  # label 1 exactly when the correct answer is shown
        assert ((frame["text"].str.endswith("A: yes")).astype(int) == frame["label"]).all()


def test_hugging_face_loader_without_network_explains(tmp_path):
    source = HuggingFaceSource(str(tmp_path / "nowhere"), lambda ds, rng: pd.DataFrame())
    with pytest.raises(RuntimeError, match="network"):
        source()


def _write_jsonl(folder, stem, records):
    (folder / f"{stem}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_jsonl_chat_preference_and_verification(tmp_path):
    chat = tmp_path / "chat"
    chat.mkdir()
    for stem, n in (("train_label", 30), ("train_unlabel", 40), ("test", 60)):
        _write_jsonl(chat, stem, [{"prompt": f"{stem} {i}", "first": "x", "second": "y",
                                   "label": "AB"[i % 2]} for i in range(n)])
    frame = load_jsonl_folder(chat)
    assert frame.groupby("source").size().to_dict() == {"test": 60, "train_label": 30,
                                                        "train_unlabel": 40}
    splits = make_splits(f"jsonl:{chat}", {"weak_train": 20, "pool": 30, "val": 10,
                                           "test": 30, "holdout": 10}, split_seed=0)
    assert all(t.startswith("train_label") for t in splits["weak_train"].texts)
    assert all(t.startswith("train_unlabel") for t in splits["pool"].texts)
    assert all(t.startswith("test") for t in splits["holdout"].texts)

    verify = tmp_path / "math"
    verify.mkdir()
    for stem in ("train_label", "train_unlabel", "test"):
        _write_jsonl(verify, stem, [{"question": f"{stem} 1+{i}", "choice": str(i + 1),
                                     "label": bool(i % 2), "consistency_id": i}
                                    for i in range(10)])
    assert np.array_equal(load_jsonl_folder(verify)["label"].to_numpy()[:4], [0, 1, 0, 1])


def test_jsonl_bad_records_name_file_and_line(tmp_path):
    for stem in ("train_label", "train_unlabel", "test"):
        _write_jsonl(tmp_path, stem, [{"prompt": "p", "first": "a", "second": "b",
                                       "label": "A"}])
    _write_jsonl(tmp_path, "test", [{"prompt": "p", "first": "a", "second": "b",
                                     "label": "A"}, {"prompt": "p", "first": "a",
                                                     "second": "b", "label": "C"}])
    with pytest.raises(DataError, match=r"test.jsonl:2: .*'A' or 'B', got 'C'"):
        load_jsonl_folder(tmp_path)
    (tmp_path / "test.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="test.jsonl"):
        load_jsonl_folder(tmp_path)
