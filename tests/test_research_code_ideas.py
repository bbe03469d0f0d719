"""Proposers that write code, driven end to end through the agent loop and the server:
a stub LLM (a real local HTTP server) returns good code, broken code, a forbidden import,
an infinite loop and an attempt to read labels; each costs one attempt with its own error,
the loop and the server stay up, and good code is scored with its source in the forum."""

import json

import pytest
from test_research_proposers import Stub, anthropic_reply, observation, openai_reply  # noqa: F401

from w2s_utils.research.agent import Budget, ResearchAgent
from w2s_utils.research.client import ResearchClient
from w2s_utils.research.codegen import CodeProposer, genome_of, write_source
from w2s_utils.research.llm import AnthropicProposer, OpenAICompatibleProposer, parse_proposal
from w2s_utils.research.sandbox import SandboxLimits, check_source, namespaces_available

pytestmark = pytest.mark.skipif(not namespaces_available(),
                                reason="needs Linux user namespaces (unshare)")
LIMITS = SandboxLimits(cpu_seconds=20, memory_mb=1024, wall_seconds=150)


def plugin(name: str, targets: str, imports: str = "") -> str:
    return f"""{imports}
import numpy as np
from w2s_utils.methods.base import Method


class Idea(Method):
    name = "{name}"

    def targets(self, ctx):
        {targets}
"""


def reply(idea: str, code: str) -> str:
    head = json.dumps({"idea": idea, "method": idea, "hypothesis": f"{idea} should help",
                       "params": {}, "parent": None})
    return f"Here is my idea.\n{head}\n```python\n{code}```\n"


CASES = {  # idea → (source, the error kind it must give; None: scored)
    "good-hardened": (plugin("good_hardened", 'return (ctx.weak["pool"] > 0.5) * 1.0'), None),
    "broken": (plugin("broken", "return ctx.weak['pool'] +"), "syntax"),
    "forbidden": (plugin("forbidden", "return ctx.weak['pool']", "import os"),
                  "forbidden_import"),
    "spinner": (plugin("spinner", "while True:\n            pass"), "cpu_limit"),
    "label-reader": (plugin("label_reader", "return np.load('/work/server.sqlite.npy')"),
                     "forbidden_access"),
}


def test_parse_proposal_takes_the_fenced_source():
    proposal = parse_proposal(reply("good-hardened", CASES["good-hardened"][0]))
    assert proposal.code.strip().endswith("> 0.5) * 1.0")
    assert proposal.config()["code_sha256"] and proposal.idea_name() == "good-hardened"


def test_offline_code_proposer_writes_valid_plugins():
    source = write_source({"targets": "sharpen:2", "subset": "confident:0.5",
                           "weights": "confidence", "loss": "logconf:0.5"})
    check_source(source)
    assert genome_of(source)["loss"] == "logconf:0.5"


def test_the_openai_compatible_proposer_returns_the_code_it_was_sent(observation):  # noqa: F811
    """The loop below runs on the Anthropic wire format; what differs for OpenAI-compatible
    servers is only how the text arrives, so that is all this checks."""
    text = reply("good-hardened", CASES["good-hardened"][0])
    stub = Stub([openai_reply(text)])
    try:
        proposal = OpenAICompatibleProposer(model="m", base_url=stub.url,
                                            attempts=1).propose(observation)
    finally:
        stub.close()
    assert proposal.code == parse_proposal(text).code and proposal.idea == "good-hardened"


@pytest.mark.slow
def test_llm_code_ideas_through_the_loop(agent_server):
    kind = "anthropic"
    replies = [reply(idea, source) for idea, (source, _) in CASES.items()]
    # A syntax error or forbidden import is refused before it runs and sent back once;
    # the stub then answers with the next case, so every case reaches the agent.
    stub = Stub([anthropic_reply(text) for text in replies] * 2)
    try:
        proposer = AnthropicProposer(base_url=stub.url, api_key="k", attempts=1)
        key = agent_server.create_key(f"coder-{kind}", max_submissions=20, rate_per_minute=100)
        with ResearchClient(agent_server.base_url, key) as client:
            agent = ResearchAgent(client, proposer, sandbox=LIMITS)
            report = agent.run(Budget(iterations=len(CASES), wall_seconds=900,
                                      holdout_ideas=1))
            findings = client.findings(agent=f"coder-{kind}")
            board = client.leaderboard()  # the server is still up
    finally:
        stub.close()
    errors = [a.error or "" for a in report.attempts]
    assert any(e["agent"] == f"coder-{kind}" for e in board), errors
    assert report.attempts[0].score is not None, errors
    assert "syntax" in errors[1] and "forbidden_import" in errors[2]
    assert "CodeError[cpu_limit]" in errors[3] and "CodeError[forbidden_access]" in errors[4]
    assert report.holdout and report.holdout[0]["idea"] == "good-hardened"
    coded = [f for f in findings if f["config"].get("code")]
    assert any(f["verified"] and f["idea"] == "good-hardened" for f in coded)
    assert all(f["config"]["code_sha256"] for f in coded)


def test_offline_code_proposer_through_the_loop(agent_server):
    key = agent_server.create_key("offline-coder", max_submissions=20, rate_per_minute=100)
    with ResearchClient(agent_server.base_url, key) as client:
        agent = ResearchAgent(client, CodeProposer(seed=1, direction="filtering"),
                              sandbox=LIMITS)
        report = agent.run(Budget(iterations=3, wall_seconds=900, holdout_ideas=1))
        findings = client.findings(agent="offline-coder")
    assert all(a.error is None for a in report.attempts), [a.error for a in report.attempts]
    code = [f for f in findings if f["config"].get("code") and f["verified"]]
    assert len(code) == 2 and all(genome_of(f["config"]["code"]) for f in code)
    assert code[0]["config"]["parent"] in (None, code[1]["idea"], "naive-baseline")
