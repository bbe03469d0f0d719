"""Run the notebooks with papermill on a profile, validating parameters first.

    python -m w2s_utils.notebooks run 01_data --profile smoke -p n_pool=200
    python -m w2s_utils.notebooks run all --profile default
    python -m w2s_utils.notebooks list

Executed copies go to ``runs/<profile>/`` (ignored by git); figures go to ``figures/``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from .config import NOTEBOOKS, ParameterError, load_profile, schema, validate
from .paths import project_root, runs_dir

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


def execute(name: str, profile: str, parameters: dict, timeout: int = DEFAULT_TIMEOUT_S) -> Path:
    import papermill

    output = runs_dir() / profile / f"{name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("W2S_HOME", str(project_root()))
    papermill.execute_notebook(
        str(notebook_path(name)), str(output), parameters=parameters, kernel_name="python3",
        cwd=str(notebook_path(name).parent), execution_timeout=timeout, progress_bar=False,
        log_output=False,
    )
    return output


def run(names: list[str], profile: str, overrides: dict, timeout: int) -> None:
    # Validate every notebook before running any, so a typo fails in seconds.
    plan = [(name, prepare(name, profile, overrides)) for name in names]
    for name, parameters in plan:
        start = time.perf_counter()
        print(f"[w2s] {name} ({profile}) ...", flush=True)
        output = execute(name, profile, parameters, timeout)
        print(f"[w2s] {name} done in {time.perf_counter() - start:.0f}s -> {output}", flush=True)


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
        run(names, args.profile, overrides, args.timeout)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
