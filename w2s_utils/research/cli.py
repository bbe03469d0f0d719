"""``w2s-server``: compute (or load) the baselines of one experiment and serve it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn

from .evaldata import EvalData
from .evaluation import ServerSettings
from .runner import settle_heap
from .schemas import Baselines
from .server import create_app


def _experiment(args: argparse.Namespace):
    from ..experiment import Experiment

    fields = json.loads(Path(args.experiment).read_text()) if args.experiment else {}
    for name in ("task", "seed", "weak_model", "strong_model", "regime"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.sizes:
        fields["sizes"] = json.loads(args.sizes)
    return Experiment(**fields)


def main(argv: list[str] | None = None) -> None:
    """``w2s-server``: compute (or load) baselines for one experiment and serve it."""
    from ..cache import ArtifactStore

    parser = argparse.ArgumentParser(
        prog="w2s-server", description="The evaluation server: the only process that holds "
                                       "ground truth for ``test`` and ``holdout``.")
    parser.add_argument("--experiment", help="JSON file of Experiment fields")
    parser.add_argument("--task")
    parser.add_argument("--seed", type=int, help="the split seed (fixes test and holdout)")
    parser.add_argument("--weak-model", dest="weak_model")
    parser.add_argument("--strong-model", dest="strong_model")
    parser.add_argument("--regime", choices=["linear_probe", "finetune"])
    parser.add_argument("--sizes", help='JSON, e.g. \'{"weak_train": 1000, "pool": 4000, ...}\'')
    parser.add_argument("--train-seeds", default="0,1,2",
                        help="training seeds the ceiling is averaged over (default 0,1,2)")
    parser.add_argument("--baselines", help="JSON file of Baselines: skip training the ceiling")
    parser.add_argument("--db", help="SQLAlchemy URL (default $W2S_RESEARCH_DB or a SQLite "
                                     "file in the cache folder)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="bind address (default 127.0.0.1; others expose the server)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-body-mb", type=float, default=8.0)
    args = parser.parse_args(argv)
    try:
        exp = _experiment(args)
        seeds = [int(s) for s in args.train_seeds.split(",") if s.strip()]
        given = (Baselines.model_validate_json(Path(args.baselines).read_text())
                 if args.baselines else None)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    print(f"preparing {exp.task}: weak {exp.weak_model} → strong {exp.strong_model} "
          f"({exp.regime}), ceiling seeds {seeds} …", flush=True)
    data = EvalData.from_experiment(exp, seeds, baselines=given, store=ArtifactStore(),
                                    progress=True)
    print(f"baselines: {data.baselines.model_dump_json()}", flush=True)
    settings = ServerSettings(max_body_bytes=int(args.max_body_mb * 2**20))
    app = create_app(data, args.db, settings)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {args.host}: reachable beyond this machine; API keys are "
              "the only protection", flush=True)
    print(f"serving on http://{args.host}:{args.port} (dashboard /, docs /docs)", flush=True)
    settle_heap()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
