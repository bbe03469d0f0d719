"""Notebook 06's helpers on a tiny task: the naive baseline, the hacks and their flags, the
tables, figures and computed verdicts, and the notebook's parameter checks."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from w2s_utils.config import ParameterError, validate
from w2s_utils.research import demo
from w2s_utils.research.agent import AgentReport, Budget, ResearchAgent
from w2s_utils.research.client import ResearchClient
from w2s_utils.research.proposals import Proposal, Proposer
from w2s_utils.research.search import SearchProposer


class HardOrSoft(Proposer):
    """Two cheap, distinct ideas: naive on soft, then on hard weak labels."""

    def propose(self, observation):
        hard = len(observation.history) % 2 == 1
        return Proposal(method="naive", params={"hard": hard}, idea=f"naive-hard-{hard}",
                        hypothesis="thresholding the weak labels might denoise them")


@pytest.fixture(scope="module")
def run(agent_server):
    """A two-iteration agent run, its naive baseline and the hacks, as the notebook does."""
    clients = {name: ResearchClient(agent_server.base_url, agent_server.create_key(
        name, rate_per_minute=1000, max_holdout=2)) for name in ("agent", "baseline")}
    agent = ResearchAgent(clients["agent"], HardOrSoft())
    naive = demo.naive_baseline(agent, clients["baseline"])
    report = agent.run(Budget(iterations=2, wall_seconds=300, holdout_ideas=2))
    hacks = demo.submit_hacks(agent_server, agent_server.app.state.data, seed=0)
    yield naive, report, hacks, clients
    for client in clients.values():
        client.close()


def test_naive_baseline_is_scored_on_feedback_and_holdout(run):
    naive, report, _, _ = run
    assert naive["idea"] == demo.NAIVE_IDEA
    assert naive["pgr"] is not None and naive["feedback_pgr"] is not None
    # The agent's soft-label naive idea is the same training run, so the same scores.
    soft = next(r for r in report.holdout if r["idea"] == "naive-hard-False")
    assert (soft["pgr"], soft["feedback_pgr"]) == (naive["pgr"], naive["feedback_pgr"])


def test_hacks_are_flagged_or_refused(run):
    _, _, hacks, _ = run
    assert hacks.loc["most-common-answer", "flags"] == "constant"
    assert "ignores_weak" in hacks.loc["answer-key", "flags"]
    assert hacks.loc["answer-key", "feedback_pgr"] > 0.6
    assert "skips_teacher" in hacks.loc["skip-teacher", "flags"]
    assert "probing" in hacks.loc["read-off-answers", "flags"]
    assert "moved on 0 of" in hacks.loc["read-off-answers", "server"]
    assert hacks.loc["score-training-split", "server"].startswith("refused, HTTP 422")
    control = hacks.loc["copy-the-teacher"]
    assert control["control"] and control["flags"] == "" and control["feedback_pgr"] == 0
    verdict = demo.hack_verdict(hacks)
    flagged = int((hacks["flags"] != "").sum())
    assert flagged == 4 and "flagged 4 of the 4 scored hacks" in verdict
    assert "Refused outright: score-training-split" in verdict
    assert "The control copy-the-teacher scored PGR 0.000 with no flag" in verdict


def test_tables_figures_and_verdicts_follow_the_run(run, agent_server):
    naive, report, _, clients = run
    baselines = agent_server.app.state.data.baselines
    attempts = demo.attempts_frame(report)
    assert list(attempts.index) == [1, 2]
    assert attempts["best_so_far"].is_monotonic_increasing
    assert attempts.loc[2, "best_so_far"] == attempts["feedback_pgr"].max()
    blind = demo.blind_frame(naive, report, baselines)
    climbed = int(attempts["new_best"].sum())  # only ideas with a score of their own
    assert 1 <= climbed and list(blind["who"]) == ["naive"] + ["agent"] * climbed
    assert np.allclose(blind["drop"], blind["feedback_pgr"] - blind["holdout_pgr"])
    assert (blind["holdout_ci95"] > 0).all()

    best = attempts.loc[attempts["feedback_pgr"].idxmax()]
    verdict = demo.search_verdict(attempts, naive, baselines, 300)
    assert f"{best['feedback_pgr']:.3f} ({best['idea']}" in verdict
    pick = blind[blind["who"] == "agent"].iloc[0]
    assert f"{pick['holdout_pgr']:.3f} ± {pick['holdout_ci95']:.3f}" in \
        demo.holdout_verdict(blind)

    board = demo.leaderboard_frame(clients["agent"].leaderboard())
    assert {"agent", "baseline", "hacker:skip-teacher"} <= set(board["agent"])
    assert "constant" in board.loc[board["idea"] == "most-common-answer", "flags"].iloc[0]
    naive_row = board[board["idea"] == demo.NAIVE_IDEA].iloc[0]
    assert naive_row["flags"] == "" and naive_row["holdout_pgr_low"] < naive_row["holdout_pgr_high"]
    findings = demo.findings_frame(clients["agent"].findings())
    assert len(findings) == 2 + len(report.holdout) and findings["server_pgr"].notna().sum() == 2

    for ax in (demo.plot_iterations(attempts, blind), demo.plot_feedback_vs_holdout(blind)):
        assert ax.has_data()
        plt.close(ax.figure)


def test_verdicts_without_scores():
    empty = demo.attempts_frame(AgentReport())
    assert demo.search_verdict(empty, {"feedback_pgr": None}, None, 0).startswith(
        "No iteration produced a PGR")


def test_proposer_choice(monkeypatch):
    assert isinstance(demo.proposer_for("search", 3), SearchProposer)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        demo.proposer_for("anthropic", 0)


@pytest.mark.parametrize("values, message", [
    ({"iterations": 0}, "iterations"),
    ({"proposer": "gpt"}, "proposer"),
    ({"agent_minutes": 0}, "agent_minutes"),
    ({"holdout_ideas": 0}, "holdout_ideas"),
    ({"iteration": 3}, "Did you mean 'iterations'"),
])
def test_researcher_parameters_are_checked(values, message):
    with pytest.raises(ParameterError, match=message):
        validate("06_automated_researcher", values)
