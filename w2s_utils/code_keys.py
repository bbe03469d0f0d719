"""Which source files a cached artifact's key hashes: the modules its code can reach.

A stage's key hashes the package modules reachable by imports (top-level and inside
functions) from the module that computes it, so editing a plot, a notebook helper or
the results table retrains nothing, while editing the training loop, a learner or the
split drawing retrains every stage. Methods and data sources are keyed apart: a
student's key adds its method's modules (and a notebook-defined class's source), a
stage's data config adds its task's source module, so a new method or an edited
Hugging Face formatter leaves other caches warm.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import sys
from functools import lru_cache
from pathlib import Path

PACKAGE = "w2s_utils"
ROOT = Path(__file__).resolve().parent
STAGES = f"{PACKAGE}.stages"  # weak labels, ceiling and student are computed here
KEYED_APART = (f"{PACKAGE}.methods", f"{PACKAGE}.sources")


def module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    files = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join((PACKAGE, *parts))] = path
    return files


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Package modules one import statement names (``from . import x``: module x)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    source = (node.module or "") if node.level == 0 else ".".join(
        p for p in (base, node.module) if p)
    submodules = {f"{source}.{alias.name}" for alias in node.names} & known
    return submodules or {source} & known


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


@lru_cache(maxsize=1)
def import_graph() -> dict[str, frozenset[str]]:
    """Module → the package modules it imports, anywhere in its body."""
    files = module_files()
    known = set(files)
    graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        graph[module] = frozenset(
            target for node in _runtime_nodes(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for target in _imported(node, module, is_package, known) if target != module)
    return graph


def reachable(roots: tuple[str, ...], skip: tuple[str, ...] = ()) -> set[str]:
    """``roots`` and every module they reach, not entering modules under ``skip``."""
    graph, seen, todo = import_graph(), set(), list(roots)
    while todo:
        module = todo.pop()
        if module in seen or (module not in roots and module.startswith(skip)):
            continue
        seen.add(module)
        todo.extend(graph.get(module, ()))
    return seen


def _digest(modules: set[str]) -> str:
    files = module_files()
    digest = hashlib.sha256()
    for module in sorted(modules):
        digest.update(module.encode())
        digest.update(files[module].read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def stage_code() -> str:
    """The version of the code that computes every stage (methods and sources apart)."""
    return _digest(reachable((STAGES,), KEYED_APART))


@lru_cache(maxsize=64)
def source_code(module: str) -> str:
    """The version of a data source: its module and what it reaches (not other sources)."""
    return _digest(reachable((module,), KEYED_APART))


def method_code(method: type) -> str:
    """The version of a method: the package modules its classes reach, plus the source of
    classes that have no file (defined in a notebook), so editing such a class and
    rerunning trains again instead of returning the old definition's cached student."""
    modules, unfiled = set(), ""
    for cls in method.__mro__:
        if cls is object:
            continue
        if cls.__module__.startswith(f"{PACKAGE}."):
            modules.add(cls.__module__)
        elif not getattr(sys.modules.get(cls.__module__), "__file__", None):
            try:
                unfiled += inspect.getsource(cls)
            except (OSError, TypeError):  # no source to hash: never reuse another definition's
                unfiled += f"{cls.__qualname__}@{id(cls)}"
        else:  # a method in a file of its own, outside the package
            unfiled += Path(sys.modules[cls.__module__].__file__).read_text()
    version = _digest(reachable(tuple(sorted(modules)), (f"{PACKAGE}.sources",)))
    if not unfiled:
        return version
    return version + hashlib.sha256(unfiled.encode()).hexdigest()[:16]
