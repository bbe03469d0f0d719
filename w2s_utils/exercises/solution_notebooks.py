"""Solution notebooks: an exercise notebook with its ``exercise`` cells filled in from a
solutions file (what a host hands out afterwards, and what CI executes)."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat


def with_solutions(notebook, solutions):
    """The exercise ``notebook`` with each cell tagged ``exercise`` replaced by the
    definitions of the same names in the ``solutions`` file (plus its imports): the
    solution notebook a host hands out afterwards, and what CI executes."""
    source = Path(solutions).read_text()
    tree = ast.parse(source)
    lines = source.splitlines()

    def segment(node) -> str:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        return "\n".join(lines[start - 1:node.end_lineno])

    imports = "\n".join(segment(n) for n in tree.body
                        if isinstance(n, ast.Import | ast.ImportFrom))
    definitions = {}
    for node in tree.body:
        for name in defined_names(node):
            definitions[name] = segment(node)
    book = nbformat.read(notebook, as_version=4)
    for cell in book.cells:
        if "exercise" not in cell.metadata.get("tags", []):
            continue
        names = [n for node in ast.parse(cell.source).body for n in defined_names(node)]
        missing = [n for n in names if n not in definitions]
        if missing or not names:
            raise KeyError(f"{Path(solutions).name} has no solution for {missing or cell.source!r}")
        cell.source = imports + "\n\n\n" + "\n\n\n".join(definitions[n] for n in names)
    return book


def defined_names(node) -> list[str]:
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    return []
