"""Run the notebooks with papermill on a profile, validating parameters first.

    python -m w2s_utils.notebooks run 01_data --profile smoke -p n_pool=200
    python -m w2s_utils.notebooks run all --profile default
    python -m w2s_utils.notebooks list

Executed copies go to ``runs/<profile>/`` (ignored by git); figures go to ``figures/`` for
the default profile and to ``runs/<profile>/figures/`` for the others.
A notebook whose executed copy is up to date (same notebook, parameters, package source
and library versions, and its figures still as written) is skipped; ``--force`` reruns it.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import time
from pathlib import Path

import yaml

from .config import NOTEBOOKS, ParameterError, load_profile, schema, validate
from .paths import BATCH_ENV, figures_dir, project_root, runs_dir

DEFAULT_TIMEOUT_S = 3600  # per cell


def notebook_path(name: str) -> Path:
    return project_root() / "notebooks" / f"{name}.ipynb"


def parse_overrides(pairs: list[str]) -> dict:
    """``name=value`` pairs; values are read as YAML (``5``, ``[0, 1]``, ``true``)."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ParameterError(f"expected -p name=value, got {pair!r}")
        out[name.strip()] = yaml.safe_load(value)
    return out


def prepare(name: str, profile: str, overrides: dict | None = None) -> dict:
    """The validated parameters for one notebook run (raises ParameterError)."""
    schema(name)  # an unknown notebook name fails first, with a suggestion
    values = {**load_profile(profile, name), **(overrides or {})}
    return validate(name, values).model_dump()


def output_path(name: str, profile: str) -> Path:
    folder = runs_dir() / profile
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.ipynb"


def figures_folder(profile: str) -> Path:
    """``figures/`` for the default profile (the committed figures); other profiles draw
    into ``runs/<profile>/figures/`` so that a smoke run never overwrites them.
    ``$W2S_FIGURES_DIR`` overrides both."""
    if profile == "default" or os.environ.get("W2S_FIGURES_DIR"):
        return figures_dir()
    folder = runs_dir() / profile / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


STAMPED_LIBRARIES = ("torch", "transformers", "scikit-learn", "numpy", "pandas", "matplotlib")


def run_stamp(name: str, profile: str, parameters: dict) -> str:
    """What an executed copy depends on: the notebook, its parameters, every source file of
    the package and the versions of the libraries that compute the numbers."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    digest.update(json.dumps([name, profile, parameters], sort_keys=True, default=str).encode())
    digest.update(notebook_path(name).read_bytes())
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode() + source.read_bytes())
    for library in STAMPED_LIBRARIES:
        digest.update(f"{library}=={importlib.metadata.version(library)}".encode())
    return digest.hexdigest()


def up_to_date(name: str, profile: str, parameters: dict) -> bool:
    """True when the executed copy was made from exactly these inputs and the figures it
    wrote are still there, unchanged."""
    output = output_path(name, profile)
    if not output.exists():
        return False
    try:  # plain JSON: importing nbformat would cost a second on every check
        record = json.loads(output.read_text())["metadata"].get("w2s", {})
    except (OSError, ValueError, KeyError, TypeError):  # unreadable: not up to date
        return False
    if record.get("stamp") != run_stamp(name, profile, parameters):
        return False
    return all(Path(path).exists() and _sha256(Path(path)) == sha
               for path, sha in record.get("figures", {}).items())


def execute(name: str, profile: str, parameters: dict, timeout: int = DEFAULT_TIMEOUT_S) -> Path:
    """Execute one notebook; the executed copy appears only when every cell succeeded.

    papermill writes its output cell by cell, so it writes to a temporary file: a failed or
    interrupted run leaves the previous copy in place and its own as ``<name>.failed.ipynb``.
    """
    import papermill

    output = output_path(name, profile)
    partial = output.with_name(f".{name}.partial.ipynb")
    figures = figures_folder(profile)
    os.environ.setdefault("W2S_HOME", str(project_root()))
    os.environ[BATCH_ENV] = "1"  # the kernel inherits it: static figures, no widgets
    saved = os.environ.get("W2S_FIGURES_DIR")
    os.environ["W2S_FIGURES_DIR"] = str(figures)  # the kernel inherits it
    started = time.time()
    try:
        papermill.execute_notebook(
            str(notebook_path(name)), str(partial), parameters=parameters,
            kernel_name="python3", cwd=str(notebook_path(name).parent),
            execution_timeout=timeout, progress_bar=False, log_output=False,
        )
    except BaseException:
        if partial.exists():
            os.replace(partial, output.with_name(f"{name}.failed.ipynb"))
        raise
    finally:
        if saved is None:
            os.environ.pop("W2S_FIGURES_DIR")
        else:
            os.environ["W2S_FIGURES_DIR"] = saved
    executed = json.loads(partial.read_text())
    executed["metadata"]["w2s"] = {
        "stamp": run_stamp(name, profile, parameters),
        "figures": {str(path): _sha256(path) for path in sorted(figures.glob(f"{name}_*"))
                    if path.suffix in (".png", ".csv") and path.stat().st_mtime >= started - 1},
    }
    partial.write_text(json.dumps(executed, indent=1, ensure_ascii=False) + "\n")
    os.replace(partial, output)
    output.with_name(f"{name}.failed.ipynb").unlink(missing_ok=True)
    return output


def run(names: list[str], profile: str, overrides: dict, timeout: int = DEFAULT_TIMEOUT_S,
        force: bool = False) -> list[str]:
    """Execute ``names`` in order, skipping up-to-date ones unless ``force``; returns the
    names that were executed."""
    # Validate every notebook before running any, so a typo fails in seconds.
    plan = [(name, prepare(name, profile, overrides)) for name in names]
    executed = []
    for name, parameters in plan:
        if not force and up_to_date(name, profile, parameters):
            print(f"[w2s] {name} ({profile}) up to date: {output_path(name, profile)} "
                  "(--force reruns it)", flush=True)
            continue
        start = time.perf_counter()
        print(f"[w2s] {name} ({profile}) ...", flush=True)
        output = execute(name, profile, parameters, timeout)
        print(f"[w2s] {name} done in {time.perf_counter() - start:.0f}s -> {output}", flush=True)
        executed.append(name)
    return executed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m w2s_utils.notebooks",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_cmd = sub.add_parser("run", help="execute notebooks with papermill")
    run_cmd.add_argument("notebook", help="a notebook name, or 'all'")
    run_cmd.add_argument("--profile", default="default")
    run_cmd.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    run_cmd.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S,
                         help="seconds per cell")
    run_cmd.add_argument("--force", action="store_true",
                         help="execute even notebooks whose executed copy is up to date")
    sub.add_parser("list", help="list notebooks and their parameters")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, model in NOTEBOOKS.items():
            print(f"{name}: {', '.join(model.model_fields)}")
        return 0
    try:
        names = list(NOTEBOOKS) if args.notebook == "all" else [args.notebook]
        overrides = parse_overrides(args.param)
        if args.notebook == "all" and overrides:
            raise ParameterError("-p overrides apply to one notebook; name it instead of 'all'")
        run(names, args.profile, overrides, args.timeout, force=args.force)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
