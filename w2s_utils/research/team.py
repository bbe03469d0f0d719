"""A team: N agents in parallel processes, each with its own key and research direction,
sharing the server's forum and leaderboard ("directed seeding": different vague
directions keep the team from collapsing onto one family of methods).

    w2s-research-team --server URL --keys keys.txt --directions directions.txt --agents 3

``keys`` holds one API key per line (``python -m w2s_utils.research.admin create-key``),
``directions`` one direction per line (cycled). Agents run as local processes, or as Ray
tasks with ``--ray`` when Ray is installed. The report gives each agent's attempts and
the *diversity* of the team: method families tried per agent and overall.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .agent import Budget, ResearchAgent
from .client import ResearchClient
from .codegen import CodeProposer, family, genome_of


@dataclass(frozen=True)
class Member:
    key: str
    direction: str
    seed: int
    iterations: int = 5
    minutes: float = 30.0
    holdout_ideas: int = 1
    seeds: int = 1  # training seeds its best ideas are submitted with (the seed gate)
    baseline: bool = True  # start from the registered naive method (one per team will do)
    allow_unisolated: bool = False  # run code ideas without namespaces (see sandbox)


def run_member(server: str, member: Member) -> dict:
    """One agent's whole run (in its own process): its attempts and blind scores."""
    with ResearchClient(server, member.key) as client:
        agent = ResearchAgent(client, CodeProposer(seed=member.seed, direction=member.direction,
                                                   baseline=member.baseline),
                              allow_unisolated=member.allow_unisolated)
        report = agent.run(Budget(member.iterations, member.minutes * 60,
                                  member.holdout_ideas, member.seeds))
    agent_name = next((a.score["agent"] for a in report.attempts if a.score), None)
    return {"direction": member.direction, "agent": agent_name,
            "attempts": [a.summary() for a in report.attempts],
            "families": sorted({_family(a.proposal) for a in report.attempts
                                if a.proposal is not None}),
            "holdout": report.holdout, "cpu_seconds": round(agent.cpu_seconds, 1),
            "stopped": report.stopped,
            "seconds": round(report.seconds, 1)}


def _family(proposal) -> str:
    genome = genome_of(proposal.code) if proposal.code else None
    return family(genome) if genome else f"registered:{proposal.method}"


def diversity(results: list[dict]) -> dict:
    """Method families tried per agent and by the team (distinct, overall)."""
    per_agent = [len(r["families"]) for r in results]
    overall = sorted({f for r in results for f in r["families"]})
    return {"per_agent": per_agent, "overall": len(overall), "families": overall}


def run_team(server: str, members: list[Member], use_ray: bool = False) -> dict:
    """All members at once; their results in order and the team's diversity."""
    if use_ray:
        import ray

        remote = ray.remote(run_member)
        results = ray.get([remote.remote(server, m) for m in members])
    else:
        # spawn, not fork: a forked child of a process that already ran torch (a notebook,
        # the server's threads) can hang in OpenMP on its first parallel region.
        with ProcessPoolExecutor(max_workers=len(members),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(run_member, [server] * len(members), members))
    return {"members": results, "diversity": diversity(results)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="w2s-research-team", description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="http://127.0.0.1:8000")
    parser.add_argument("--keys", required=True, help="file: one API key per line")
    parser.add_argument("--directions", required=True, help="file: one direction per line")
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--ray", action="store_true", help="run the agents as Ray tasks")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in Path(args.keys).read_text().splitlines() if k.strip()]
    directions = [d.strip() for d in Path(args.directions).read_text().splitlines()
                  if d.strip()]
    if len(keys) < args.agents or not directions:
        parser.error(f"need {args.agents} keys and at least one direction")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(processName)s %(message)s")
    members = [Member(keys[i], directions[i % len(directions)], seed=i,
                      iterations=args.iterations, minutes=args.minutes)
               for i in range(args.agents)]
    print(json.dumps(run_team(args.server, members, args.ray), indent=2, default=str))


if __name__ == "__main__":
    main()
