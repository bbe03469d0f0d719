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
import re
import sys
import time
from pathlib import Path
from unittest.mock import patch

import yaml

from .config import NOTEBOOKS, ParameterError, load_profile, schema, size_auto, validate
from .paths import BATCH_ENV, figures_dir, project_root, runs_dir
from .tasks import get_task

DEFAULT_TIMEOUT_S = 3600  # per cell
KERNEL_START_TIMEOUT_S = 300  # papermill's 60 s is too short on a busy 2-core machine


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
    """The validated parameters for one notebook run (raises ParameterError), its task's
    data checked against every split size. A relative ``jsonl:``/``csv:`` path is made
    absolute here, from the caller's folder (the kernel runs in ``notebooks/``)."""
    schema(name)  # an unknown notebook name fails first, with a suggestion
    overrides = overrides or {}
    from_profile = load_profile(profile, name)
    origin = {**{k: f"profile {profile!r}" for k in from_profile}, **dict.fromkeys(overrides, "-p")}
    return validate(name, {**from_profile, **overrides}, origin).model_dump()


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
    if "task" in parameters:  # a user's data file: its digest (packaged data: "")
        digest.update(get_task(parameters["task"]).data_version().encode())
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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class NotebookFailed(RuntimeError):
    """A cell raised: the message is the notebook, the cell and its exception; the full
    traceback is in the file named by ``traceback_path``."""

    def __init__(self, message: str, traceback_path: Path):
        super().__init__(message)
        self.traceback_path = traceback_path

    @classmethod
    def from_papermill(cls, name: str, error, failed: Path) -> NotebookFailed:
        path = failed.with_name(f"{name}.traceback.txt")
        trace = _ANSI.sub("", "\n".join(error.traceback))
        path.write_text(f"{name}, cell {error.exec_count}:\n{error.source}\n\n{trace}\n")
        first = next((line for line in error.source.splitlines() if line.strip()), "")
        message = (f"{name} failed in cell [{error.exec_count}] ({first.strip()[:80]}"
                   f"{' ...' if len(error.source.splitlines()) > 1 else ''}):\n"
                   f"  {error.ename}: {error.evalue}\n"
                   f"full traceback: {path}\nexecuted cells: {failed}")
        return cls(message, path)


def execute(name: str, profile: str, parameters: dict, timeout: int = DEFAULT_TIMEOUT_S) -> Path:
    """Execute one notebook; the executed copy appears only when every cell succeeded.

    papermill writes its output cell by cell, so it writes to a temporary file: a failed or
    interrupted run leaves the previous copy in place and its own as ``<name>.failed.ipynb``.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    output = output_path(name, profile)
    partial = output.with_name(f".{name}.partial.ipynb")
    figures = figures_folder(profile)
    os.environ.setdefault("W2S_HOME", str(project_root()))
    # The kernel inherits these: where figures go, and no one at the kernel (quiet
    # progress bars in progress.py, static figures instead of widgets in widgets.py).
    kernel_env = {"W2S_FIGURES_DIR": str(figures), BATCH_ENV: "1"}
    started = time.time()
    try:
        with patch.dict(os.environ, kernel_env):
            papermill.execute_notebook(
                str(notebook_path(name)), str(partial), parameters=parameters,
                kernel_name="python3", cwd=str(notebook_path(name).parent),
                execution_timeout=timeout, log_output=False,
                start_timeout=KERNEL_START_TIMEOUT_S,
                progress_bar={"desc": name, "mininterval": 1 if sys.stderr.isatty() else 60},
                # ipykernel warns on every start that local TCP is unencrypted; that is noise
                # for a kernel bound to 127.0.0.1, and its real errors surface in the cells.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
    except BaseException as error:
        failed = output.with_name(f"{name}.failed.ipynb")
        if partial.exists():
            os.replace(partial, failed)
        if isinstance(error, PapermillExecutionError):
            raise NotebookFailed.from_papermill(name, error, failed) from None
        raise
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
        force: bool = False, auto_sizes: bool = False) -> list[str]:
    """Execute ``names`` in order, skipping up-to-date ones unless ``force``; returns the
    names that were executed. ``auto_sizes`` sets every split size to ``"auto"``.

    Prints what will run, then per notebook its place, elapsed time and an estimate of
    what remains (from the last run's times on this profile, kept in
    ``runs/<profile>/timings.json``); papermill's cell bar shows progress inside one.
    """
    # Validate every notebook (and its data) before running any, so a typo fails in seconds.
    plan = [(name, prepare(name, profile, {**(size_auto(name) if auto_sizes else {}),
                                           **overrides}))
            for name in names]
    todo = [(n, p) for n, p in plan if force or not up_to_date(n, profile, p)]
    for name, _ in plan:
        if all(name != n for n, _ in todo):
            print(f"[w2s] {name} ({profile}) up to date: {output_path(name, profile)} "
                  "(--force reruns it)", flush=True)
    timings = _timings(profile)
    print(f"[w2s] {profile}: {len(todo)} of {len(plan)} notebooks to run"
          + (f", {_estimate(timings, [n for n, _ in todo])}" if todo else ""), flush=True)
    executed, begun = [], time.perf_counter()
    for i, (name, parameters) in enumerate(todo, 1):
        start = time.perf_counter()
        last = f" (last run {_clock(timings[name])})" if name in timings else ""
        print(f"[w2s] [{i}/{len(todo)}] {name}{last} ...", flush=True)
        output = execute(name, profile, parameters, timeout)
        timings[name] = time.perf_counter() - start
        _save_timings(profile, timings)
        rest = [n for n, _ in todo[i:]]
        print(f"[w2s] [{i}/{len(todo)}] {name} done in {_clock(timings[name])} -> {output}; "
              f"elapsed {_clock(time.perf_counter() - begun)}"
              + (f", {_estimate(timings, rest)}" if rest else ""), flush=True)
        executed.append(name)
    return executed


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _estimate(timings: dict[str, float], names: list[str]) -> str:
    known = [timings[n] for n in names if n in timings]
    if not known:
        return "no estimate yet (first run on this profile)"
    text = f"about {_clock(sum(known))} left"
    if len(known) < len(names):
        text += f" (+{len(names) - len(known)} never timed)"
    return text


def _timings_path(profile: str) -> Path:
    return runs_dir() / profile / "timings.json"


def _timings(profile: str) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(_timings_path(profile).read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _save_timings(profile: str, timings: dict[str, float]) -> None:
    path = _timings_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(".timings.partial.json")
    partial.write_text(json.dumps(timings, indent=1, sort_keys=True))
    os.replace(partial, path)


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
    run_cmd.add_argument("--sizes", choices=["auto"],
                         help="'auto': every split size chosen from the task's data "
                              "(splits.resolve_sizes), for your own data")
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
        run(names, args.profile, overrides, args.timeout, force=args.force,
            auto_sizes=args.sizes == "auto")
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NotebookFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
