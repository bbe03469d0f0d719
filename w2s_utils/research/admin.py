"""Admin CLI for the evaluation server's API keys (works on the database directly).

    python -m w2s_utils.research.admin create-key --agent alice [--max-submissions 500]
    python -m w2s_utils.research.admin list-keys
    python -m w2s_utils.research.admin revoke --agent alice
    python -m w2s_utils.research.admin set-cost-budget --agent alice --max-cpu-seconds 3600
    python -m w2s_utils.research.admin costs --agent alice

The plain key is printed once; only its hash is stored. Budgets and the rate limit belong
to the agent: a second key for an agent shares them (and its history); budgets given on
``create-key`` set the agent's limits, each an integer from 0 to 2^31 - 1. The cost
ledger's budgets (CPU-seconds of training, LLM dollars) are set apart, on
``set-cost-budget``: a budget left out there is unlimited.
"""

from __future__ import annotations

import argparse
import json
import math
import re

from . import ledger
from .db import (
    DEFAULT_BUDGETS,
    MAX_BUDGET,
    check_budgets,
    create_key,
    default_database_url,
    list_keys,
    make_engine,
    revoke_keys,
)
from .schemas import NAME_PATTERN


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m w2s_utils.research.admin",
        description="Manage the evaluation server's API keys and budgets.")
    parser.add_argument("--db", help="SQLAlchemy URL (default $W2S_RESEARCH_DB or the "
                                     "cache folder's research-v2.sqlite)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="issue a key and print it once")
    create.add_argument("--agent", required=True)
    create.add_argument("--rate-per-minute", type=int,
                        help=f"requests per minute (new agent: "
                             f"{DEFAULT_BUDGETS['rate_per_minute']})")
    create.add_argument("--max-submissions", type=int,
                        help=f"feedback submissions of the agent (new agent: "
                             f"{DEFAULT_BUDGETS['max_submissions']})")
    create.add_argument("--max-holdout", type=int,
                        help=f"blind holdout scorings (one per idea) the agent may spend "
                             f"(new agent: {DEFAULT_BUDGETS['max_holdout']})")
    commands.add_parser("list-keys", help="keys with their budgets (hashes are not shown)")
    revoke = commands.add_parser("revoke", help="revoke every key of an agent")
    revoke.add_argument("--agent", required=True)
    costs = commands.add_parser("set-cost-budget",
                                help="the agent's CPU-second and dollar budgets (left out: "
                                     "unlimited)")
    costs.add_argument("--agent", required=True)
    costs.add_argument("--max-cpu-seconds", type=float)
    costs.add_argument("--max-dollars", type=float)
    spent = commands.add_parser("costs", help="what an agent reported spending, and its budgets")
    spent.add_argument("--agent", required=True)
    args = parser.parse_args(argv)
    if getattr(args, "agent", None) is not None and not re.match(NAME_PATTERN, args.agent):
        parser.error(f"agent names must match {NAME_PATTERN}")
    for name in ("max_cpu_seconds", "max_dollars"):
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and value >= 0):
            parser.error(f"--{name.replace('_', '-')} must be a finite number >= 0, "
                         f"not {value}")
    if args.command == "create-key":
        budgets = {name: getattr(args, name) for name in DEFAULT_BUDGETS}
        try:
            check_budgets(**budgets)
        except ValueError as error:
            parser.error(f"{error} (budgets are integers from 0 to {MAX_BUDGET})")
    engine = make_engine(args.db or default_database_url())
    if args.command == "create-key":
        print(create_key(engine, args.agent, **budgets))
    elif args.command == "list-keys":
        for row in list_keys(engine):
            print(json.dumps(row))
    elif args.command == "set-cost-budget":
        ledger.set_budgets(engine, args.agent, max_cpu_seconds=args.max_cpu_seconds,
                           max_dollars=args.max_dollars)
        print(json.dumps(_totals(engine, args.agent)))
    elif args.command == "costs":
        print(json.dumps(_totals(engine, args.agent)))
    else:
        print(f"revoked {revoke_keys(engine, args.agent)} key(s) of {args.agent!r}")


def _totals(engine, agent: str) -> dict:
    ledger.create_tables(engine)
    with engine.connect() as connection:
        return ledger.agent_totals(connection, agent)


if __name__ == "__main__":
    main()
