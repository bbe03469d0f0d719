"""Each notebook, executed by papermill on the smoke profile through the project's runner."""

import pytest

from w2s_utils.config import NOTEBOOKS
from w2s_utils.notebooks import execute, prepare
from w2s_utils.paths import figures_dir


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_runs_on_smoke_profile(name):
    output = execute(name, "smoke", prepare(name, "smoke"), timeout=600)
    assert output.exists()
    assert list(figures_dir().glob(f"{name}_*.png")), "the notebook wrote no figure"
