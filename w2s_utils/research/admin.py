"""Admin CLI for the evaluation server's API keys (works on the database directly).

    python -m w2s_utils.research.admin create-key --agent alice [--max-submissions 500]
    python -m w2s_utils.research.admin list-keys
    python -m w2s_utils.research.admin revoke --agent alice

The plain key is printed once; only its hash is stored.
"""

from __future__ import annotations

import argparse
import json
import re

from .db import create_key, default_database_url, list_keys, make_engine, revoke_keys
from .schemas import NAME_PATTERN


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m w2s_utils.research.admin",
                                     description="Manage the evaluation server's API keys.")
    parser.add_argument("--db", help="SQLAlchemy URL (default $W2S_RESEARCH_DB or the "
                                     "cache folder's research.sqlite)")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-key", help="issue a key and print it once")
    create.add_argument("--agent", required=True)
    create.add_argument("--rate-per-minute", type=int, default=30)
    create.add_argument("--max-submissions", type=int, default=500)
    create.add_argument("--max-holdout", type=int, default=5,
                        help="blind holdout scorings (one per idea) this key may spend")
    commands.add_parser("list-keys", help="keys with their budgets (hashes are not shown)")
    revoke = commands.add_parser("revoke", help="revoke every key of an agent")
    revoke.add_argument("--agent", required=True)
    args = parser.parse_args(argv)
    engine = make_engine(args.db or default_database_url())
    if args.command == "create-key":
        if not re.match(NAME_PATTERN, args.agent):
            parser.error(f"agent names must match {NAME_PATTERN}")
        if min(args.rate_per_minute, args.max_submissions, args.max_holdout) < 0:
            parser.error("budgets must be non-negative")
        print(create_key(engine, args.agent, rate_per_minute=args.rate_per_minute,
                         max_submissions=args.max_submissions, max_holdout=args.max_holdout))
    elif args.command == "list-keys":
        for row in list_keys(engine):
            print(json.dumps(row))
    else:
        print(f"revoked {revoke_keys(engine, args.agent)} key(s) of {args.agent!r}")


if __name__ == "__main__":
    main()
