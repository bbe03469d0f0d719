"""A short agent loop end to end: label-free data from the server, students trained with
the registered methods, submissions, findings, and one blind holdout scoring."""

import json

import numpy as np
import pytest

import w2s_utils.splits
import w2s_utils.stages
import w2s_utils.tasks
from w2s_utils.research import agent as agent_module
from w2s_utils.research.agent import Budget, ResearchAgent
from w2s_utils.research.client import ResearchClient
from w2s_utils.research.proposals import Proposal, Proposer
from w2s_utils.research.search import SearchProposer


@pytest.fixture
def no_ground_truth(monkeypatch):
    """From here on, any attempt to load the task's data (and so its labels) fails."""
    def refuse(*args, **kwargs):
        raise AssertionError("the agent process tried to load ground truth")

    for module, name in ((w2s_utils.splits, "make_splits"), (w2s_utils.tasks, "_load_cached"),
                         (w2s_utils.stages, "experiment_splits"),
                         (w2s_utils.stages, "_splits")):
        monkeypatch.setattr(module, name, refuse)


def test_agent_loop_runs_end_to_end(agent_server, no_ground_truth):
    key = agent_server.create_key("search-agent", max_submissions=20, rate_per_minute=100)
    with ResearchClient(agent_server.base_url, key) as client:
        agent = ResearchAgent(client, SearchProposer(seed=0))
        assert all((agent.splits[s].labels == -1).all() for s in ("pool", "val", "test"))
        assert len(agent.splits["weak_train"]) == 0
        report = agent.run(Budget(iterations=3, wall_seconds=300, holdout_ideas=1))
        board = client.leaderboard()
        findings = client.findings(agent="search-agent")
    assert len(report.attempts) == 3
    scored = report.scored()
    assert len(scored) >= 2 and scored[0].proposal.method == "naive"
    assert all(a.score["pgr"] is not None and a.finding_id for a in scored)
    (blind,) = report.holdout
    best = max(scored, key=lambda a: a.score["pgr"])
    assert blind["idea"] == best.proposal.idea_name() and blind["pgr"] is not None
    mine = {e["idea"]: e for e in board if e["agent"] == "search-agent"}
    assert set(mine) == {a.proposal.idea_name() for a in scored}
    assert mine[blind["idea"]]["holdout_pgr_low"] == blind["pgr_low"] < blind["pgr"]
    assert len(findings) == len(scored) + 1  # one per experiment, one for the blind check
    linked = [f for f in findings if f["submission_id"]]
    assert all(f["verified"]["pgr"] is not None and f["hypothesis"] for f in linked)
    assert {json.dumps(f["config"], sort_keys=True) for f in linked} == {
        json.dumps(a.proposal.config(), sort_keys=True) for a in scored}


class NaiveProposer(Proposer):
    """Cheap proposals: naive training, a new idea each time."""

    def propose(self, observation):
        n = len(observation.history)
        return Proposal(method="naive", params={"hard": n % 2 == 1}, idea=f"thrifty-{n}",
                        hypothesis="hard weak labels might denoise the pool")


def test_agent_stops_when_the_submission_budget_is_spent(agent_server, no_ground_truth):
    key = agent_server.create_key("thrifty-agent", max_submissions=1, rate_per_minute=100)
    with ResearchClient(agent_server.base_url, key) as client:
        report = ResearchAgent(client, NaiveProposer()).run(
            Budget(iterations=3, wall_seconds=300, holdout_ideas=0))
    assert [a.proposal.idea for a in report.scored()] == ["thrifty-0"]
    assert report.holdout == []


def test_agent_cli(agent_server, capsys):
    key = agent_server.create_key("cli-agent", max_submissions=5, rate_per_minute=100)
    agent_module.main(["--server", agent_server.base_url, "--key", key, "--iterations", "1",
                       "--holdout-ideas", "0"])
    out = json.loads(capsys.readouterr().out)
    assert len(out["attempts"]) == 1
    assert np.isfinite(out["attempts"][0]["feedback_pgr"])
