"""The repository's promises: mirrored dependency lists, clean notebooks, matching profiles."""

import ast
import json
import re
from pathlib import Path

import papermill
import pytest
import tomllib
import yaml

from w2s_utils.config import NOTEBOOKS, PROFILES, load_profile

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_FILES = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement, maxsplit=1)[0].lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    mirrored = sorted(r for r in pip_section if not r.startswith("-e"))
    assert mirrored == sorted(project["dependencies"])
    assert "-e ." in pip_section


def test_every_notebook_has_a_schema_and_the_reverse():
    assert sorted(p.stem for p in NOTEBOOK_FILES) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_notebook_committed_without_outputs(path):
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_one_parameters_cell_matching_schema_and_profiles(path):
    notebook = json.loads(path.read_text())
    tagged = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    declared = set(papermill.inspect_notebook(str(path)))
    assert declared == set(NOTEBOOKS[path.stem].model_fields)
    for profile in PROFILES:
        assert set(load_profile(profile, path.stem, ROOT)) == declared, profile


@pytest.mark.parametrize("path", NOTEBOOK_FILES, ids=lambda p: p.stem)
def test_parameters_cell_values_are_the_default_profile(path):
    """Run All in JupyterLab must reproduce ``make figures`` (and reuse its cache)."""
    cell = {name: ast.literal_eval(p["default"])
            for name, p in papermill.inspect_notebook(str(path)).items()}
    profile = load_profile("default", path.stem, ROOT)
    differ = {k: (cell[k], profile[k]) for k in cell if cell[k] != profile[k]}
    assert not differ, f"parameters cell vs params/default.yaml (cell, profile): {differ}"


def test_every_make_command_a_file_names_exists():
    """A ``make <target>`` in the docs that the Makefile lacks strands a new user."""
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M))
    named = set()
    for path in [ROOT / "README.md", ROOT / "environment.yml", ROOT / "Makefile",
                 *sorted((ROOT / "notebooks").rglob("*.ipynb")), *sorted(ROOT.glob("*.md"))]:
        named |= set(re.findall(r"`make ([a-z][a-z-]*)", path.read_text()))
        named |= set(re.findall(r"^\s*(?:\$ )?make ([a-z][a-z-]*)", path.read_text(), flags=re.M))
    assert named, "no make command found: the pattern is wrong"
    assert named <= targets, f"named but not in the Makefile: {sorted(named - targets)}"
