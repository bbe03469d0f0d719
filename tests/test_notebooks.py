"""Each notebook, executed by papermill on the smoke profile through the project's runner."""

import json
import shutil

import papermill
import pytest

from w2s_utils.config import NOTEBOOKS
from w2s_utils.notebooks import execute, output_path, prepare, run, up_to_date
from w2s_utils.paths import figures_dir


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_on_smoke_profile(name):
    parameters = prepare(name, "smoke")
    output = execute(name, "smoke", parameters, timeout=600)
    assert output.exists()
    assert list(figures_dir().glob(f"{name}_*.png")), "the notebook wrote no figure"
    assert up_to_date(name, "smoke", parameters)


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
