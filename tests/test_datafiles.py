"""Your own data: every layout and format end to end, bad values named, checks before compute."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from w2s_utils.config import ParameterError, size_auto
from w2s_utils.experiment import Experiment
from w2s_utils.pipeline import run_seeds
from w2s_utils.sources.files import DataError, MissingDataError
from w2s_utils.splits import SplitSizes, resolve_sizes
from w2s_utils.stages import experiment_splits, weak_key
from w2s_utils.tasks import SPLITS, get_task, leak_check, load_task

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "data"

# Every accepted format, each a layout of the same 400 reviews in examples/data.
FORMATS = {
    "csv-one-file-class-names": "csv:reviews.csv",
    "jsonl-one-file-0-1": "jsonl:reviews.jsonl",
    "jsonl-train-test-booleans": "jsonl:reviews_split",
    "csv-file-per-split": "csv:reviews_split_csv",
    "jsonl-automated-w2s-verification": "jsonl:reviews_w2s",
}


def example(name: str) -> str:
    fmt, _, path = name.partition(":")
    return f"{fmt}:{EXAMPLES / path}"


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_pipeline_end_to_end_on_each_format(name):
    task = example(FORMATS[name])
    exp = Experiment(task=task, sizes="auto", weak_model="tfidf-logreg",
                     strong_model="static64", regime="linear_probe")
    runs = run_seeds(exp, seeds=[0, 1], progress=False)
    assert len(runs) == 2 and runs[["weak_acc", "student_acc", "ceiling_acc"]].gt(0.5).all().all()
    first, second = (experiment_splits(exp.replicate(s)) for s in (0, 1))
    assert list(first["test"].ids) == list(second["test"].ids)  # fixed test set
    assert list(first["pool"].ids) != list(second["pool"].ids)
    assert leak_check(first, near=True).to_numpy().sum() == 0
    for split in SPLITS:
        assert len(first[split]) == getattr(exp.sizes, split)
        assert abs(first[split].positive_rate - 0.5) <= 0.5 / len(first[split]) + 1e-9


def test_split_files_feed_their_splits():
    w2s = experiment_splits(Experiment(task=example(FORMATS["jsonl-automated-w2s-verification"]),
                                       sizes="auto"))
    texts = {stem: {json.loads(line)["question"] for line in
                    (EXAMPLES / "reviews_w2s" / f"{stem}.jsonl").read_text().splitlines()}
             for stem in ("train_label", "train_unlabel", "test")}
    for split, stem in (("weak_train", "train_label"), ("pool", "train_unlabel"),
                        ("val", "test"), ("test", "test"), ("holdout", "test")):
        assert {t.split("\nAnswer:")[0] for t in w2s[split].texts} <= texts[stem], split


def test_class_names_are_mapped_and_reported():
    frame = load_task(example(FORMATS["csv-one-file-class-names"]))
    assert frame.attrs["label_names"] == ("negative", "positive")
    numeric = load_task(example(FORMATS["jsonl-one-file-0-1"]))
    assert numeric.attrs["label_names"] == ("0", "1")
    assert dict(zip(frame["text"], frame["label"])) == dict(zip(numeric["text"], numeric["label"]))


def test_every_bad_value_is_named_with_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\ngood one,pos\nbad one,neg\nodd one,maybe\n"
                    "empty label,\n,pos\nanother odd,unsure\n")
    with pytest.raises(DataError) as error:
        load_task(f"csv:{path}")
    message = str(error.value)
    for expected in ("bad.csv:5: label is missing", "bad.csv:6: text must be a non-empty",
                     "found 4: 'maybe' ×1 (first at bad.csv:4)",
                     "'unsure' ×1 (first at bad.csv:7)"):
        assert expected in message
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": 0.5}\nnot json\n'
                     '{"question": "q", "choice": "c", "label": "perhaps"}\n')
    with pytest.raises(DataError) as error:
        load_task(f"jsonl:{jsonl}")
    for expected in ("bad.jsonl:2: label 0.5", "bad.jsonl:3: not valid JSON",
                     "bad.jsonl:4: verification label must be true/false or 1/0, got 'perhaps'"):
        assert expected in str(error.value)


def test_verification_and_chat_labels_accept_what_users_write(tmp_path):
    lines = [{"question": f"q{i}", "choice": "c", "label": [0, 1, "true", False][i % 4]}
             for i in range(8)]
    (tmp_path / "one.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert list(load_task(f"jsonl:{tmp_path / 'one.jsonl'}")["label"]) == [0, 1, 1, 0] * 2
    chat = tmp_path / "chat.csv"
    chat.write_text("prompt,first,second,label\np1,x,y,A\np2,x,y,B\n")
    frame = load_task(f"csv:{chat}")
    assert list(frame["label"]) == [1, 0]
    assert frame.attrs["label_names"] == ("B preferred", "A preferred")


def test_missing_or_misnamed_data_fails_when_named_with_the_resolved_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingDataError, match=f"jsonl:{tmp_path}/nowhere: no such file"):
        Experiment(task="jsonl:nowhere")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"text": "a", "label": 1}\n')
    (tmp_path / "data" / "tset.jsonl").write_text('{"text": "a", "label": 1}\n')
    with pytest.raises(MissingDataError, match=r"no file for split test .*unrecognised: tset"):
        get_task("jsonl:data")
    with pytest.raises(DataError, match="expected a .csv file"):
        get_task("csv:data/train.jsonl")


def test_relative_paths_resolve_against_the_callers_folder(monkeypatch):
    monkeypatch.chdir(EXAMPLES)
    exp = Experiment(task="csv:reviews.csv", sizes="auto")
    assert exp.task == f"csv:{EXAMPLES / 'reviews.csv'}"


def test_an_oversized_request_names_every_problem_at_once():
    task = example(FORMATS["jsonl-automated-w2s-verification"])
    with pytest.raises(DataError) as error:
        Experiment(task=task)  # the default sizes: 1000 / 4000 / 500 / 3000 / 1000
    message = str(error.value)
    for split in SPLITS:
        assert f"{split}=" in message
    assert "train_label.jsonl" in message and "train_unlabel.jsonl" in message
    assert "test.jsonl" in message and "sizes that fit" in message
    fitting = message.split("sizes that fit: ")[1].split(" (or")[0]
    sizes = {**SplitSizes().model_dump(),
             **{k: int(v) for k, v in (part.split("=") for part in fitting.split(", "))}}
    assert Experiment(task=task, sizes=sizes).sizes.model_dump() == sizes  # they do fit


def test_auto_sizes_divide_each_source_and_keep_explicit_ones():
    task = example(FORMATS["jsonl-train-test-booleans"])
    sizes = resolve_sizes(task, dict.fromkeys(SPLITS, "auto"))
    frame = load_task(task)
    train = frame[frame["source"] == "train"]["label"].value_counts().min() * 2
    assert sizes["weak_train"] + sizes["pool"] + sizes["val"] <= train
    assert sizes["pool"] > sizes["weak_train"] > sizes["val"]
    partial = resolve_sizes(task, {**sizes, "pool": "auto", "weak_train": 20})
    assert partial["weak_train"] == 20 and partial["pool"] > sizes["pool"]
    tweets = resolve_sizes("tweets-sentiment", dict.fromkeys(SPLITS, "auto"))
    assert (tweets["weak_train"], tweets["pool"], tweets["val"]) == (1000, 4000, 500)  # capped


def test_notebook_parameters_check_every_split_naming_parameters_and_their_origin():
    from w2s_utils.notebooks import prepare

    task = example(FORMATS["jsonl-automated-w2s-verification"])
    with pytest.raises(ParameterError) as error:
        prepare("01_data", "smoke", {"task": task, "n_pool": 500})
    message = str(error.value)
    assert "n_pool=500" in message and "probe_test=200" in message
    assert "from -p: n_pool" in message
    assert "from profile 'smoke': n_weak_train, n_val, n_test, n_holdout, probe_train, " \
           "probe_test" in message
    assert " test=" not in message and "--sizes auto" in message  # parameters, not splits
    auto = prepare("01_data", "smoke", {"task": task, **size_auto("01_data")})
    assert all(isinstance(auto[k], int) for k in ("n_pool", "probe_test"))


def test_an_edited_file_gets_new_splits_and_cache_keys(tmp_path):
    path = tmp_path / "data.csv"
    rows = (EXAMPLES / "reviews.csv").read_text().splitlines()
    path.write_text("\n".join(rows[:300]) + "\n")
    before = Experiment(task=f"csv:{path}", sizes="auto")
    key = weak_key(before)
    path.write_text("\n".join(rows) + "\n")
    after = Experiment(task=f"csv:{path}", sizes="auto")
    assert weak_key(after) != key and after.sizes != before.sizes
    assert len(experiment_splits(after)["pool"]) == after.sizes.pool


def test_packaged_tasks_keep_their_cache_keys():
    exp = Experiment(task="synthetic-sentiment", sizes=dict(weak_train=100, pool=100, val=20,
                                                            test=100, holdout=20))
    assert get_task(exp.task).data_version() == ""
    assert "data_version" not in json.dumps(exp.model_dump())


def test_split_sizes_help_shows_what_each_field_means():
    assert "pool (default 4000): the student's training texts" in SplitSizes.__doc__


def test_progress_bars_are_quiet_when_nobody_watches(monkeypatch):
    from w2s_utils import progress

    monkeypatch.setenv("W2S_BATCH", "1")
    bar = progress.progress_bar(total=3)
    assert bar.mininterval == progress.QUIET_INTERVAL_S
    bar.close()


def test_runner_error_is_short_with_the_traceback_in_a_file(monkeypatch, tmp_path, capsys):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from w2s_utils import notebooks

    monkeypatch.setenv("W2S_RUNS_DIR", str(tmp_path / "runs"))

    def failing(source, output, parameters, **_):
        Path(output).write_text("{}")
        raise PapermillExecutionError(
            cell_index=13, exec_count=7, source="probe_splits = make_splits(...)\nmore",
            ename="ValueError", evalue="no data", traceback=["\x1b[0;31mTraceback\x1b[0m"] * 120)

    monkeypatch.setattr(papermill, "execute_notebook", failing)
    assert notebooks.main(["run", "01_data", "--profile", "smoke"]) == 1
    err = capsys.readouterr().err
    assert "01_data failed in cell [7] (probe_splits = make_splits(...) ...)" in err
    assert "ValueError: no data" in err and len(err.splitlines()) <= 6
    saved = Path(err.split("full traceback: ")[1].splitlines()[0])
    assert saved.read_text().count("Traceback") == 120 and "\x1b" not in saved.read_text()


@pytest.mark.slow
@pytest.mark.notebook
def test_runner_works_from_any_folder_on_your_own_data(tmp_path):
    """The CLI from a folder outside the repository, a relative csv path, --sizes auto."""
    (tmp_path / "reviews.csv").write_bytes((EXAMPLES / "reviews.csv").read_bytes())
    env = {k: v for k, v in os.environ.items() if k != "W2S_HOME"}
    result = subprocess.run(
        [sys.executable, "-m", "w2s_utils.notebooks", "run", "01_data", "--profile", "smoke",
         "-p", "task=csv:reviews.csv", "-p", "ladder=[tfidf-logreg, static64]", "--sizes", "auto"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    text = (Path(os.environ["W2S_RUNS_DIR"]) / "smoke" / "01_data.ipynb").read_text()
    assert f"csv:{tmp_path / 'reviews.csv'}" in text and "'negative'" in text


def test_a_test_text_copied_into_a_training_file_stays_only_in_test(tmp_path):
    train = [{"text": f"review number {i}", "label": i % 2} for i in range(40)]
    test = [{"text": f"other review {i}", "label": i % 2} for i in range(40)]
    train += [{"text": "GREAT kettle!!", "label": 1}, {"text": "Broke at once", "label": 0}]
    test += [{"text": "great kettle", "label": 1}, {"text": "broke at once.", "label": 1}]
    for stem, rows in (("train", train), ("test", test)):
        (tmp_path / f"{stem}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    frame = load_task(f"jsonl:{tmp_path}")
    assert frame.attrs["dropped_across_sources"] == 1  # the copy in train
    assert frame.attrs["dropped_conflicting"] == 2     # "broke at once": labelled both ways
    assert set(frame.loc[frame["text"].str.contains("kettle"), "source"]) == {"test"}


def test_multiline_csv_fields_and_unicode_line_separators_keep_line_numbers(tmp_path):
    path = tmp_path / "multi.csv"
    path.write_text('text,label\n"first line\nsecond line",pos\nplain,neg\nlast,what\n')
    with pytest.raises(DataError, match=r"'what' ×1 \(first at multi.csv:5\)"):
        load_task(f"csv:{path}")
    jsonl = tmp_path / "sep.jsonl"
    jsonl.write_text(json.dumps({"text": "a\u2028b", "label": 1}, ensure_ascii=False) + "\n"
                     + json.dumps({"text": "c", "label": 0}) + "\n")
    assert list(load_task(f"jsonl:{jsonl}")["label"]) == [1, 0]
