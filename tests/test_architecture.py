"""The package's shape: no import circles, a torch-free model table, and cache keys that
hash only the code that computes each stage (both directions: a relevant edit retrains,
an irrelevant one retrains nothing)."""

import graphlib
import shutil
import subprocess
import sys

import pytest

from w2s_utils import code_keys
from w2s_utils.experiment import Experiment
from w2s_utils.stages import ceiling_key, student_key, weak_key


def test_package_imports_form_no_cycle():
    """Every import counts, inside functions too (only ``if TYPE_CHECKING:`` blocks, which
    never run, are left out); a circle fails naming its modules."""
    graph = code_keys.import_graph()
    assert "w2s_utils.experiment" in graph["w2s_utils.config"]  # a function-level import
    try:
        graphlib.TopologicalSorter({m: set(deps) for m, deps in graph.items()}).prepare()
    except graphlib.CycleError as error:
        pytest.fail("import circle: " + " -> ".join(error.args[1]))


def test_model_and_task_names_validate_without_torch():
    script = (
        "import sys\n"
        "from pydantic import TypeAdapter\n"
        "from w2s_utils.names import ModelName, TaskName\n"
        "TypeAdapter(ModelName).validate_python('minilm-l6')\n"
        "TypeAdapter(TaskName).validate_python('synthetic-sentiment')\n"
        "from w2s_utils.models import packaged_requirements\n"
        "packaged_requirements('offline')\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


EXP = Experiment(task="synthetic-sentiment", weak_model="tfidf-logreg",
                 strong_model="static64", method="logconf",
                 sizes={"weak_train": 100, "pool": 120, "val": 40, "test": 150, "holdout": 10})


def _keys(exp: Experiment = EXP) -> dict[str, str]:
    return {"weak": weak_key(exp), "ceiling": ceiling_key(exp), "student": student_key(exp)}


@pytest.fixture
def edit(tmp_path, monkeypatch):
    """``edit("train.py")`` appends a comment to a copy of the package's file; the keys
    are then computed from that copy."""
    copy = tmp_path / "w2s_utils"
    shutil.copytree(code_keys.ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(code_keys, "ROOT", copy)

    def clear():
        for cached in (code_keys.import_graph, code_keys.stage_code, code_keys.source_code):
            cached.cache_clear()

    def apply(relative: str) -> None:
        with open(copy / relative, "a") as handle:
            handle.write("\n# an edit\n")
        clear()

    clear()
    yield apply
    monkeypatch.undo()
    clear()


def _changed(before: dict, after: dict) -> set[str]:
    return {stage for stage in before if before[stage] != after[stage]}


@pytest.mark.parametrize("relative, stages", [
    ("train.py", {"weak", "ceiling", "student"}),  # the loop every stage trains with
    ("splits.py", {"weak", "ceiling", "student"}),  # the data every stage sees
    ("sources/synthetic.py", {"weak", "ceiling", "student"}),  # this task's data
    ("losses.py", {"student"}),  # logconf's loss
    ("methods/logconf.py", {"student"}),
    ("methods/naive.py", set()),  # another method
    ("sources/huggingface.py", set()),  # another task's formatter
    ("plotting.py", set()),
    ("tables.py", set()),  # notebook helpers
    ("metrics.py", set()),  # scoring is recomputed each run, never cached
    ("pipeline.py", set()),
    ("research/agent.py", set()),
])
def test_an_edit_changes_exactly_the_keys_it_affects(edit, relative, stages):
    before = _keys()
    edit(relative)
    assert _changed(before, _keys()) == stages


def test_a_notebook_defined_method_is_keyed_by_its_source(monkeypatch):
    from w2s_utils.methods import METHODS, Method, get_method, register

    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))  # registered for this test

    def define(power: int) -> type:
        namespace: dict = {"Method": Method, "__name__": "__notebook__"}
        exec(f"class Sharp(Method):\n    name = 'sharp-test'\n    power = {power}\n",
             namespace)
        return register(namespace["Sharp"], replace=True)

    define(1)
    first = student_key(EXP.with_(method="sharp-test"))
    define(2)
    assert get_method("sharp-test").power == 2
    assert student_key(EXP.with_(method="sharp-test")) != first
