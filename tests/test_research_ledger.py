"""The cost ledger (CPU-seconds, evaluation calls, LLM tokens and their price; budgets that
stop an agent with a clear 429), the seed gate, and the transfer table."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from w2s_utils.experiment import Experiment
from w2s_utils.metrics import paired_test
from w2s_utils.research import ledger
from w2s_utils.research.agent import Budget, ResearchAgent
from w2s_utils.research.client import ResearchClient
from w2s_utils.research.codegen import GENES, method_name, write_source
from w2s_utils.research.evaldata import EvalData
from w2s_utils.research.llm import AnthropicProposer
from w2s_utils.research.proposals import Proposal, Proposer
from w2s_utils.research.sandbox import namespaces_available
from w2s_utils.research.team_report import transfer_per_seed
from w2s_utils.research.transfer import transfer_table
from w2s_utils.splits import SplitSizes
from w2s_utils.train import TrainConfig

PROBE = TrainConfig(epochs=5, batch_size=64, lr=2e-3, weight_decay=1e-2, warmup_frac=0.05)


class Naive(Proposer):
    def propose(self, observation):
        return Proposal(method="naive", idea=f"naive-{len(observation.history)}",
                        hypothesis="the plain weak-label student")


def http(server, agent, **budgets):
    key = server.create_key(agent, rate_per_minute=1000, **budgets)
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"},
                        timeout=30), key


def entries(server, agent) -> dict:
    client, _ = http(server, "reader")
    return {e["idea"]: e for e in client.get("/v1/leaderboard").json() if e["agent"] == agent}


def test_a_cpu_budget_stops_the_agent_with_a_clear_error(agent_server):
    ledger.set_budgets(agent_server.app.state.engine, "frugal", max_cpu_seconds=0.001)
    client, key = http(agent_server, "frugal")
    with ResearchClient(agent_server.base_url, key) as research:
        report = ResearchAgent(research, Naive()).run(Budget(iterations=3, holdout_ideas=0))
    assert report.attempts == []  # the first training went over: nothing was submitted
    spent = client.get("/v1/costs").json()
    assert spent["cpu_seconds"] > 0.001 and spent["max_cpu_seconds"] == 0.001
    refused = client.post("/v1/costs", json={"idea": "more", "cpu_seconds": 1.0})
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("CPU-seconds budget of agent 'frugal' spent")
    ids = client.get("/v1/data/test").json()["ids"]
    submit = client.post("/v1/submissions", json={"idea": "late", "ids": ids,
                                                  "predictions": [0.5] * len(ids)})
    assert submit.status_code == 429 and "CPU-seconds budget" in submit.json()["detail"]
    bad = client.post("/v1/costs", json={"cpu_seconds": -1})
    assert bad.status_code == 422


def test_the_admin_cli_sets_cost_budgets_the_server_enforces(agent_server):
    url = str(agent_server.app.state.engine.url)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    admin = [sys.executable, "-m", "w2s_utils.research.admin", "--db", url]
    done = subprocess.run(admin + ["set-cost-budget", "--agent", "capped",
                                   "--max-cpu-seconds", "2"],
                          capture_output=True, text=True, env=env, check=True)
    assert json.loads(done.stdout)["max_cpu_seconds"] == 2.0
    client, _ = http(agent_server, "capped")
    assert client.post("/v1/costs", json={"idea": "a", "cpu_seconds": 1.5}).status_code == 201
    refused = client.post("/v1/costs", json={"idea": "b", "cpu_seconds": 1.0})
    assert refused.status_code == 429 and "CPU-seconds budget" in refused.json()["detail"]
    spent = subprocess.run(admin + ["costs", "--agent", "capped"], capture_output=True,
                           text=True, env=env, check=True)
    assert json.loads(spent.stdout)["cpu_seconds"] == 2.5
    lifted = subprocess.run(admin + ["set-cost-budget", "--agent", "capped"],
                            capture_output=True, text=True, env=env, check=True)
    assert json.loads(lifted.stdout)["max_cpu_seconds"] is None
    assert client.post("/v1/costs", json={"idea": "c", "cpu_seconds": 1.0}).status_code == 201
    for flag, value in (("--max-cpu-seconds", "-1"), ("--max-dollars", "nan")):
        bad = subprocess.run(admin + ["set-cost-budget", "--agent", "capped", flag, value],
                             capture_output=True, text=True, env=env)
        assert bad.returncode == 2 and "finite number >= 0" in bad.stderr
        assert "Traceback" not in bad.stderr


def anthropic_stub(input_tokens: int, output_tokens: int) -> httpx.MockTransport:
    def reply(_request):
        text = json.dumps({"idea": "llm-naive", "hypothesis": "plain", "method": "naive",
                           "params": {}})
        return httpx.Response(200, json={
            "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}})
    return httpx.MockTransport(reply)


def test_tokens_are_recorded_priced_and_budgeted(agent_server):
    engine = agent_server.app.state.engine
    ledger.set_budgets(engine, "rich", max_dollars=1.0)
    ledger.set_budgets(engine, "poor", max_dollars=0.01)
    dollars = (1000 * 3.0 + 500 * 15.0) / 1e6  # claude-sonnet-4-5: $3 / $15 per Mtok
    for agent, attempts in (("rich", 1), ("poor", 0)):
        _, key = http(agent_server, agent)
        proposer = AnthropicProposer(model="claude-sonnet-4-5", base_url="http://llm",
                                     api_key="k")
        proposer.http = httpx.Client(transport=anthropic_stub(1000, 500))
        with ResearchClient(agent_server.base_url, key) as research:
            report = ResearchAgent(research, proposer).run(Budget(iterations=1,
                                                                  holdout_ideas=0))
            spent = research.costs()
        assert len(report.attempts) == attempts  # "poor" went over at its first report
        assert spent["tokens"] == 1500 and spent["dollars"] == pytest.approx(dollars)
    entry = entries(agent_server, "rich")["llm-naive"]
    assert entry["tokens"] == 1500 and entry["dollars"] == pytest.approx(dollars)
    assert entry["eval_calls"] == 1 and entry["cpu_seconds"] > 0
    if entry["best_feedback_pgr"] is not None:
        assert entry["pgr_per_dollar"] == pytest.approx(entry["best_feedback_pgr"] / dollars,
                                                        abs=1e-3)


def test_offline_proposers_report_no_tokens():
    assert Naive().usage().input_tokens == 0 and Naive().usage().output_tokens == 0
    assert ledger.price(ledger.LedgerSettings(), "unknown-model", 10**6, 0) == 15.0


def test_the_seed_gate(agent_server):
    client, _ = http(agent_server, "seeded")
    ids = client.get("/v1/data/test").json()["ids"]
    rng = np.random.default_rng(0)

    def submit(idea, seed):
        probs = rng.random(len(ids))
        response = client.post("/v1/submissions", json={
            "idea": idea, "ids": ids, "predictions": probs.tolist(),
            "config": {"train_seed": seed}})
        assert response.status_code == 201

    for seed in (0, 1, 1):  # a repeated seed counts once
        submit("two-seeds", seed)
    for seed in (0, 1, 2):
        submit("three-seeds", seed)
    mine = entries(agent_server, "seeded")
    assert (mine["two-seeds"]["seeds"], mine["two-seeds"]["counted"]) == (2, False)
    assert (mine["three-seeds"]["seeds"], mine["three-seeds"]["counted"]) == (3, True)
    assert mine["three-seeds"]["rank"] < mine["two-seeds"]["rank"]
    counted = [e["counted"] for e in client.get("/v1/leaderboard").json()]
    assert counted == sorted(counted, reverse=True)  # every counted idea ranks first


def test_an_agent_confirms_its_best_idea_on_enough_seeds(agent_server):
    _, key = http(agent_server, "confirmer")
    with ResearchClient(agent_server.base_url, key) as research:
        ResearchAgent(research, Naive()).run(Budget(iterations=1, holdout_ideas=1, seeds=3))
    entry = entries(agent_server, "confirmer")["naive-0"]
    assert entry["seeds"] == 3 and entry["counted"]
    assert entry["eval_calls"] == 3 + 1  # three seeds' submissions and the holdout


def small(task: str) -> Experiment:
    return Experiment(task=task, sizes=SplitSizes(weak_train=200, pool=400, val=100, test=300,
                                                  holdout=300),
                      weak_model="tfidf-logreg", strong_model="static64",
                      regime="linear_probe", probe=PROBE)


def test_transfer_table_shape_and_intervals(agent_server):
    search = EvalData.from_experiment(small("synthetic-sentiment"))
    heldout = EvalData.from_experiment(small("tweets-sentiment"))
    genome = {gene: options[0] for gene, options in GENES.items()}
    # A code idea trains in the sandbox, where the held-out task's data package is masked.
    ideas = {("a", "naive"): Proposal(method="naive", hypothesis="baseline"),
             ("b", "code"): Proposal(method=method_name(genome), code=write_source(genome),
                                     hypothesis="a written plug-in")}
    table = transfer_table(ideas, search, heldout, seeds=[0, 1],
                           engine=agent_server.app.state.engine,
                           allow_unisolated=not namespaces_available())
    assert list(table["idea"]) == ["naive", "code"] and (table["seeds"] == 2).all()
    assert set(table["search_task"]) == {"synthetic-sentiment"}
    assert set(table["heldout_task"]) == {"tweets-sentiment"}
    for side in ("search", "heldout"):
        for _, row in table.iterrows():
            if row[f"{side}_resolved"]:
                assert row[f"{side}_pgr_low"] <= row[f"{side}_pgr"] <= row[f"{side}_pgr_high"]
            else:  # a gap that is not resolved gets no PGR
                assert math.isnan(row[f"{side}_pgr"])
            assert row[f"{side}_cpu_seconds"] > 0
    assert (table["transferred"] == (table["search_resolved"] & (table["search_pgr_low"] > 0)
                                     & table["heldout_resolved"]
                                     & (table["heldout_pgr_low"] > 0))).all()
    per_seed = transfer_per_seed(table, [0, 1])
    assert len(per_seed) == 2 * 2 * 2 and set(per_seed["seed"]) == {0, 1}
    for _, row in table.iterrows():  # the paired test reads exactly these numbers
        mine = per_seed[per_seed["idea"] == row["idea"]].pivot(index="seed", columns="role",
                                                               values="pgr")
        gaps = mine["search"] - mine["heldout"]
        expected = paired_test(gaps)["p_t"] if gaps.notna().all() else float("nan")
        assert row["task_gap_p"] == pytest.approx(expected, nan_ok=True)
