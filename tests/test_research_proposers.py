"""Proposers: the offline Optuna search, and the LLM proposers against local stubs that
speak the Anthropic Messages and OpenAI chat-completions wire formats (no network)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from w2s_utils.experiment import Experiment
from w2s_utils.research.llm import AnthropicProposer, OpenAICompatibleProposer, parse_proposal
from w2s_utils.research.proposals import (
    Attempt,
    MethodSpace,
    Observation,
    Proposal,
    ProposalError,
)
from w2s_utils.research.search import SearchProposer

EXPERIMENT = Experiment(task="synthetic-sentiment", weak_model="tfidf-logreg",
                        strong_model="static64", sizes="auto")  # the defaults exceed its 6,000
GOOD = {"idea": "hard-naive", "hypothesis": "Thresholded weak labels denoise the pool.",
        "method": "naive", "params": {"hard": True}, "train": {"weight_decay": 0.02}}


class Stub:
    """A local HTTP server that records requests and answers from a script of replies."""

    def __init__(self, replies):
        self.replies, self.requests = list(replies), []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                stub.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "json": json.loads(self.rfile.read(length))})
                status, payload = stub.replies.pop(0)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def anthropic_reply(text: str) -> tuple[int, dict]:
    return 200, {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                 "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                 "usage": {"input_tokens": 10, "output_tokens": 10}}


def openai_reply(text: str) -> tuple[int, dict]:
    return 200, {"id": "c1", "object": "chat.completion", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": text},
         "finish_reason": "stop"}]}


@pytest.fixture
def observation():
    space = MethodSpace.for_experiment(EXPERIMENT)
    earlier = Proposal(method="naive", params={}, hypothesis="soft labels baseline",
                       idea="naive-soft")
    return Observation(
        space=space,
        history=[Attempt(earlier, score={"pgr": 0.4321, "accuracy": 0.8, "flags": []})],
        leaderboard=[{"rank": 1, "agent": "rival", "idea": "rival-logconf",
                      "best_feedback_pgr": 0.6, "holdout_pgr": 0.55, "flags": []}],
        findings=[{"agent": "rival", "idea": "rival-logconf", "config": {"method": "logconf"},
                   "hypothesis": "confidence loss lets the student overrule the teacher",
                   "verified": {"pgr": 0.6, "accuracy": 0.82, "flags": []}}],
        task={"experiment": EXPERIMENT.model_dump(mode="json")})


def assert_prompt_carries_context(text: str) -> None:
    assert "0.4321" in text  # its own scored result
    assert "rival-logconf" in text  # the leaderboard
    assert "overrule the teacher" in text  # the findings forum
    assert '"naive"' in text and "train_knobs" in text  # the method space


def test_anthropic_proposer_speaks_the_messages_api(observation):
    stub = Stub([anthropic_reply("Here is my plan:\n```json\n" + json.dumps(GOOD) + "\n```")])
    try:
        proposer = AnthropicProposer(model="claude-test", base_url=stub.url, api_key="sk-test")
        proposal = proposer.propose(observation)
    finally:
        stub.close()
    assert proposal == Proposal(**GOOD)
    (request,) = stub.requests
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == "sk-test"
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    sent = request["json"]
    assert sent["model"] == "claude-test" and sent["max_tokens"] > 0
    assert "JSON object" in sent["system"]
    assert [m["role"] for m in sent["messages"]] == ["user"]
    assert_prompt_carries_context(sent["messages"][0]["content"])


def test_openai_compatible_proposer_speaks_chat_completions(observation):
    stub = Stub([openai_reply(json.dumps(GOOD))])
    try:
        proposer = OpenAICompatibleProposer(model="local-model", base_url=f"{stub.url}/v1",
                                            api_key="sk-local")
        proposal = proposer.propose(observation)
    finally:
        stub.close()
    assert proposal.method == "naive" and proposal.params == {"hard": True}
    (request,) = stub.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-local"
    messages = request["json"]["messages"]
    assert request["json"]["model"] == "local-model"
    assert [m["role"] for m in messages] == ["system", "user"]
    assert_prompt_carries_context(messages[1]["content"])


def test_unusable_replies_are_sent_back_with_the_problem(observation):
    bad = {**GOOD, "method": "telepathy"}
    stub = Stub([openai_reply("I think " + json.dumps(bad)), openai_reply(json.dumps(GOOD))])
    try:
        proposal = OpenAICompatibleProposer(model="m", base_url=stub.url).propose(observation)
    finally:
        stub.close()
    assert proposal.idea == "hard-naive"
    retry = stub.requests[1]["json"]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert "unknown method 'telepathy'" in retry[-1]["content"]
    assert "Authorization" not in stub.requests[0]["headers"]  # no key: none sent


def test_out_of_range_knobs_and_bad_params_are_refused(observation):
    space = observation.space
    with pytest.raises(ValueError, match="outside"):
        space.validate(Proposal(**{**GOOD, "train": {"weight_decay": 10.0}}))
    with pytest.raises(ValueError, match="unknown training knob"):
        space.validate(Proposal(**{**GOOD, "train": {"momentum": 0.9}}))
    with pytest.raises(ValueError, match="unknown training knob 'lr'"):  # L-BFGS: no lr
        space.validate(Proposal(**{**GOOD, "train": {"lr": 1e-3}}))
    finetune = MethodSpace.for_experiment(EXPERIMENT.with_(strong_model="minilm-l6",
                                                           regime="finetune"))
    assert set(finetune.train) == {"lr", "epochs", "weight_decay"}
    with pytest.raises(ValueError):
        space.validate(Proposal(**{**GOOD, "params": {"hard": "maybe"}}))
    assert "weak_ensemble" not in space.methods  # it would need weak_train ground truth


def test_http_errors_retry_or_fail_clearly(observation):
    stub = Stub([(429, {"error": {"type": "rate_limit_error"}}),
                 anthropic_reply(json.dumps(GOOD)),
                 (401, {"error": {"type": "authentication_error"}}),
                 (200, {"unexpected": True})])
    try:
        proposer = AnthropicProposer(base_url=stub.url, api_key="k", backoff=0.01)
        assert proposer.propose(observation).idea == "hard-naive"
        with pytest.raises(ProposalError, match="HTTP 401"):
            proposer.propose(observation)
        with pytest.raises(ProposalError, match="unexpected Anthropic reply"):
            proposer.propose(observation)
    finally:
        stub.close()
    assert len(stub.requests) == 4


def test_keys_and_models_come_from_the_environment(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        AnthropicProposer()
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    proposer = AnthropicProposer(model="claude-x")
    assert (proposer.api_key, proposer.base_url, proposer.model) == (
        "env-key", "http://127.0.0.1:9", "claude-x")
    monkeypatch.delenv("W2S_OPENAI_MODEL", raising=False)
    with pytest.raises(ValueError, match="model"):
        OpenAICompatibleProposer()


def test_parse_proposal_tolerates_prose_and_fences():
    text = "Sure! {not json} then:\n```json\n" + json.dumps(GOOD) + "\n```\nGood luck {x}."
    assert parse_proposal(text).idea == "hard-naive"
    with pytest.raises(ValueError):
        parse_proposal("no object here")


def test_search_proposer_starts_from_naive_and_never_repeats(observation):
    proposer = SearchProposer(seed=0)
    observation.history = []
    first = proposer.propose(observation)
    defaults = observation.space.train_defaults
    assert first.method == "naive" and first.params == {"hard": False}
    assert first.train == pytest.approx(defaults)
    proposer.tell(first, 0.5)
    seen = {first.idea_name()}
    for value in (0.4, None, 0.6, 0.3, 0.7):
        proposal = proposer.propose(observation)
        assert observation.space.validate(proposal) is proposal
        assert proposal.idea_name() not in seen and proposal.hypothesis
        seen.add(proposal.idea_name())
        proposer.tell(proposal, value)
    assert len(proposer.study.trials) == 6
