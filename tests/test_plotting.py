"""Figures and result files are reproducible: one results table gives the same bytes,
whatever order its runs were recorded in."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from w2s_utils.metrics import pack_correct  # noqa: E402
from w2s_utils.pipeline import pgr_table  # noqa: E402
from w2s_utils.plotting import annotated_heatmap, grouped_bars, savefig, scatter_with_fit  # noqa: E402
from w2s_utils.results import export  # noqa: E402


def _runs(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows, n = [], 400
    labels = np.ones(n, int)
    for pair in ("a → b", "a → c", "b → c"):
        for method in ("naive", "logconf", "window"):
            for s in range(4):
                accs = {"weak": 0.7, "ceiling": 0.8 if pair != "b → c" else 0.7,
                        "student": 0.74 + 0.01 * (method == "window")}
                correct = {k: rng.random(n) < a for k, a in accs.items()}
                rows.append({"task": "t", "regime": "linear_probe", "pair": pair,
                             "weak_model": pair[0], "strong_model": pair[-1], "method": method,
                             "method_params": "{}", "seed": s, "n_test": n,
                             "misfit": rng.random() * 0.2, "gain": rng.random() * 0.05,
                             "run_id": f"id{rng.integers(1e9)}", "recorded": rng.random(),
                             **{f"{k}_acc": float(v.mean()) for k, v in correct.items()},
                             **{f"{k}_test_correct": pack_correct(labels, v.astype(float))
                                for k, v in correct.items()}})
    frame = pd.DataFrame(rows)
    frame["pgr"] = (frame["student_acc"] - frame["weak_acc"]) / (
        frame["ceiling_acc"] - frame["weak_acc"])
    return frame


def _render(frame: pd.DataFrame, name: str):
    table = pgr_table(frame, by=("pair", "weak_model", "strong_model", "method"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    grouped_bars(axes[0], table, "pair", "method", "pgr")
    annotated_heatmap(axes[1], table[table["method"] == "naive"], "weak_model", "strong_model",
                      "pgr", ["a", "b"], ["b", "c"])
    scatter_with_fit(axes[2], frame, "misfit", "gain", by="method")
    path = savefig(fig, "test", name)
    plt.close(fig)
    return path.read_bytes(), export(frame, f"test_{name}").read_bytes(), table


def test_two_renders_of_one_table_are_byte_identical():
    frame = _runs()
    shuffled = frame.sample(frac=1, random_state=3).assign(
        run_id=lambda f: f["run_id"] + "x", recorded=0.0)
    png, csv, table = _render(frame, "first")
    png2, csv2, _ = _render(shuffled, "second")
    assert png == png2
    assert csv == csv2
    assert b"run_id" not in csv.splitlines()[0]
    unresolved = table[table["pair"] == "b → c"]
    assert (unresolved["pgr_note"] == "gap not resolved").all() and unresolved["pgr"].isna().all()
