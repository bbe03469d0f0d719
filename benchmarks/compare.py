"""Before/after: one benchmark section on this tree and on an older revision, interleaved.

    python benchmarks/compare.py d39cba0 --section server --rounds 3
    python benchmarks/compare.py 65cc35e --section embedding_long --rounds 3
    python benchmarks/compare.py main --section training --after-options '{"dtype": "bf16"}'

The older revision is checked out into a temporary git worktree; the section's own
subprocess (the code being measured) imports the package from there, while the
measuring side stays the same. Rounds alternate before/after so that machine noise
hits both alike. ``--after-options`` (training only) sets TrainConfig fields on the new
side, for an opt-in path against the old default. Prints the medians and appends them to
``benchmarks/before_after.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402  (the sections live in benchmarks/run.py)

# Sections whose measured code runs in a subprocess, so PYTHONPATH can swap it.
SECTIONS = {"server": run.bench_server, "embedding_long": run.bench_embedding_long,
            "training": run.bench_training_loop, "decoder_load": run.bench_decoder_load,
            "sandbox": run.bench_sandbox, "embedding_cold": run.bench_embedding_cold}
KEYS = {"server": ("server_submissions_per_s", "server_p50_ms", "server_p99_ms",
                   "server_cpu_ms_per_submission"),
        "embedding_long": ("long_texts_per_s",), "training": ("train_examples_per_s",),
        "decoder_load": ("decoder_first_load_s", "decoder_load_s", "decoder_first_load_peak_gb",
                         "decoder_load_peak_gb"),
        "sandbox": ("sandbox_first_idea_s", "sandbox_idea_s"),
        "embedding_cold": ("minilm-l6_cold_texts_per_s", "mpnet-base_cold_texts_per_s")}


@contextmanager
def worktree(revision: str):
    with tempfile.TemporaryDirectory(prefix="w2s-before-") as folder:
        subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach", "-q",
                        folder, revision], check=True)
        try:
            yield folder
        finally:
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force",
                            folder], check=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revision", help="the 'before' git revision")
    parser.add_argument("--section", choices=sorted(SECTIONS), default="server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="", help="what changed, for the record")
    parser.add_argument("--after-options", type=json.loads, default=None,
                        help="training: TrainConfig fields for the new side (JSON)")
    args = parser.parse_args(argv)
    runs = {"before": [], "after": []}
    with worktree(args.revision) as before:
        for round_ in range(args.rounds):
            for label, path in (("before", before), ("after", None)):
                extra = ({"options": args.after_options}
                         if label == "after" and args.after_options else {})
                runs[label].append(SECTIONS[args.section](pythonpath=path, **extra))
                print(f"round {round_} {label}: "
                      + ", ".join(f"{k}={runs[label][-1][k]:.1f}" for k in KEYS[args.section]),
                      flush=True)
    revision = subprocess.run(["git", "-C", str(HERE.parent), "rev-parse", "--short",
                               args.revision], capture_output=True, text=True).stdout.strip()
    record = {"section": args.section, "before_revision": revision or args.revision,
              "label": args.label,
              **({"options_of_after": args.after_options} if args.after_options else {}),
              "rounds": args.rounds, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
              **{f"{label}_{key}": float(np.median([r[key] for r in runs[label]]))
                 for label in runs for key in KEYS[args.section]},
              # each round's after/before, paired in time: the machine's noise cancels
              **{f"ratio_{key}": float(np.median([a[key] / b[key] for a, b in
                                                  zip(runs["after"], runs["before"])]))
                 for key in KEYS[args.section]}}
    log = HERE / "before_after.json"
    history = json.loads(log.read_text()) if log.exists() else []
    log.write_text(json.dumps(history + [record], indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
