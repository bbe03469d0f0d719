"""Each notebook, executed by papermill on the smoke profile through the project's runner."""

import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import papermill
import pytest

from w2s_utils.config import NOTEBOOKS
from w2s_utils.notebooks import execute, output_path, prepare, run, up_to_date
from w2s_utils.paths import figures_dir
from w2s_utils.pipeline import pgr_table


def _seeds(parameters: dict, regime: str) -> list[int]:
    return parameters.get("finetune_seeds", parameters["seeds"]) if regime == "finetune" \
        else parameters["seeds"]


RUN_PLANS = {  # notebook → the (regime, method) pairs of the runs behind its figures
    "00_quickstart": lambda p: {(p["regime"], "naive")},
    "02_weak_supervisor": lambda p: {("linear_probe", "naive")},
    "03_strong_student": lambda p: {(regime, "naive") for regime in p["regimes"]},
    "04_methods": lambda p: {("linear_probe", m) for m in p["probe_methods"]}
    | {("finetune", m) for m in p["finetune_methods"]},
    "05_analysis": lambda p: {("linear_probe", m) for m in p["probe_methods"]}
    | {("finetune", m) for m in p["finetune_methods"] if p["finetune_pairs"]},
}
SETTING = ("regime", "method", "method_params", "weak_model", "strong_model")


def check_results_table(name: str, parameters: dict):
    """The per-seed rows a notebook exports: the planned runs, each setting on the
    profile's seeds, accuracies in (0, 1], and a PGR table of finite gaps whose PGR is
    finite wherever the gap is resolved."""
    frame = pd.read_csv(figures_dir() / f"{name}_results.csv")
    assert set(zip(frame["regime"], frame["method"])) == RUN_PLANS[name](parameters)
    for setting, runs in frame.groupby(list(SETTING)):
        assert sorted(runs["seed"]) == sorted(_seeds(parameters, setting[0])), setting
    accuracies = frame[["weak_acc", "student_acc", "ceiling_acc"]].to_numpy()
    assert np.isfinite(accuracies).all() and (accuracies > 0).all() and (accuracies <= 1).all()
    table = pgr_table(frame, by=SETTING)
    assert len(table) == frame.groupby(list(SETTING)).ngroups
    assert np.isfinite(table[["gap", "gap_low", "gap_high"]].to_numpy()).all()
    resolved = table[table["resolved"]]
    assert np.isfinite(resolved[["pgr", "pgr_low", "pgr_high"]].to_numpy()).all()


def printed(output: Path, source: str) -> str:
    """What the executed notebook's cell containing ``source`` printed or displayed."""
    book = nbformat.read(output, as_version=4)
    (cell,) = [c for c in book.cells if c.cell_type == "code" and source in c.source]
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "")
                   for o in cell.outputs)


def check_ladder(output: Path, parameters: dict):
    """01's ladder: one row per model of the profile's ladder, with a test accuracy."""
    text = printed(output, "ladder = ladder_accuracy(")
    for model in parameters["ladder"]:
        row = re.search(rf"^{re.escape(model)}\s+[\d.]+\s+([\d.]+)\s", text, re.M)
        assert row and 0 < float(row.group(1)) <= 1, (model, text)


def check_agent_run(output: Path, parameters: dict):
    """06's agent: between one and the profile's iterations, all scored by the server."""
    found = re.search(r"^(\d+) iterations in \d+s", printed(output, "agent.run(Budget("), re.M)
    assert found and 1 <= int(found.group(1)) <= parameters["iterations"]


def check_team_run(output: Path, parameters: dict):
    """07's team: its agents' ideas reach the leaderboard."""
    board = printed(output, "board = leaderboard_costs(entries)")
    assert any(f"agent-{i}" in board for i in range(parameters["agents"])), board


def _results_check(name: str):
    return lambda output, parameters: check_results_table(name, parameters)


CHECKS = {**{name: _results_check(name) for name in RUN_PLANS}, "01_data": check_ladder,
          "06_automated_researcher": check_agent_run,
          "07_research_team": check_team_run}  # what each executed notebook must show


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_on_smoke_profile(name):
    parameters = prepare(name, "smoke")
    output = execute(name, "smoke", parameters, timeout=600)
    assert list(figures_dir().glob(f"{name}_*.png")), "the notebook wrote no figure"
    assert up_to_date(name, "smoke", parameters)
    assert name in CHECKS, f"add to CHECKS what the executed {name} must show"
    CHECKS[name](output, parameters)


@pytest.fixture
def fake_papermill(tmp_path, monkeypatch):
    """papermill without a kernel: copies the notebook and writes one figure per run."""
    monkeypatch.setenv("W2S_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("W2S_FIGURES_DIR", str(tmp_path / "figures"))
    calls = []

    def fake(source, output, parameters, **_):
        calls.append(parameters)
        shutil.copy(source, output)
        (figures_dir() / "01_data_fake.png").write_text(json.dumps(parameters))
        if parameters.get("split_seed") == 99:
            raise RuntimeError("cell failed")

    monkeypatch.setattr(papermill, "execute_notebook", fake)
    return calls


def test_runner_skips_up_to_date_notebooks(fake_papermill):
    assert run(["01_data"], "smoke", {}) == ["01_data"]
    assert run(["01_data"], "smoke", {}) == []
    assert run(["01_data"], "smoke", {}, force=True) == ["01_data"]
    assert run(["01_data"], "smoke", {"split_seed": 1}) == ["01_data"]  # other parameters
    assert run(["01_data"], "smoke", {"split_seed": 1}) == []
    (figures_dir() / "01_data_fake.png").write_text("edited by hand")
    assert run(["01_data"], "smoke", {"split_seed": 1}) == ["01_data"]
    (figures_dir() / "01_data_fake.png").unlink()
    assert run(["01_data"], "smoke", {"split_seed": 1}) == ["01_data"]
    assert len(fake_papermill) == 5


def test_failed_run_keeps_the_previous_copy(fake_papermill):
    run(["01_data"], "smoke", {})
    before = output_path("01_data", "smoke").read_bytes()
    with pytest.raises(RuntimeError, match="cell failed"):
        run(["01_data"], "smoke", {"split_seed": 99})
    assert output_path("01_data", "smoke").read_bytes() == before
    assert output_path("01_data", "smoke").with_name("01_data.failed.ipynb").exists()
    assert not list(output_path("01_data", "smoke").parent.glob(".*partial*"))


def test_a_corrupt_copy_is_not_up_to_date(fake_papermill):
    run(["01_data"], "smoke", {})
    output_path("01_data", "smoke").write_text("{not json")
    assert not up_to_date("01_data", "smoke", prepare("01_data", "smoke"))
    assert run(["01_data"], "smoke", {}) == ["01_data"]


def test_only_the_default_profile_draws_into_figures(monkeypatch, tmp_path):
    from w2s_utils.notebooks import figures_folder
    from w2s_utils.paths import project_root

    monkeypatch.delenv("W2S_FIGURES_DIR")
    monkeypatch.setenv("W2S_RUNS_DIR", str(tmp_path))
    assert figures_folder("smoke") == tmp_path / "smoke" / "figures"
    assert figures_folder("default") == project_root() / "figures"


def test_runner_shows_progress_and_estimates_from_the_last_run(fake_papermill, capsys):
    names = ["00_quickstart", "01_data"]
    run(names, "smoke", {}, force=True)
    first = capsys.readouterr().out
    assert "2 of 2 notebooks to run, no estimate yet" in first
    assert "[1/2] 00_quickstart" in first and "[2/2] 01_data done in" in first
    assert "elapsed" in first
    run(names, "smoke", {}, force=True)
    second = capsys.readouterr().out
    assert "2 of 2 notebooks to run, about" in second and "left" in second
    assert "[1/2] 00_quickstart (last run" in second
