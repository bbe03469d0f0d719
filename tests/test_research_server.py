"""The evaluation server over real HTTP: auth, validation, no label leaks, the ladder,
holdout rules, server-only leaderboard, hack detectors, budgets per agent, storage, admin
CLI, an API fuzz and a load test. Attacks on the scores are in test_research_attacks.py."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from w2s_utils.experiment import Experiment
from w2s_utils.research.evaldata import EvalData
from w2s_utils.research.evaluation import ServerSettings
from w2s_utils.research.runner import start_server_in_thread
from w2s_utils.research.server import create_app
from w2s_utils.splits import SplitSizes
from w2s_utils.stages import experiment_splits
from w2s_utils.train import TrainConfig

EXPERIMENT = Experiment(
    task="synthetic-sentiment",
    sizes=SplitSizes(weak_train=200, pool=400, val=100, test=300, holdout=300),
    weak_model="tfidf-logreg", strong_model="static64",
    probe=TrainConfig(epochs=10, batch_size=64, lr=2e-3, weight_decay=1e-2, warmup_frac=0.05))
MAX_BODY = 256 * 1024
AGENT_ENDPOINTS = [("GET", "/v1/task"), ("GET", "/v1/data/pool"), ("GET", "/v1/baselines"),
                   ("GET", "/v1/leaderboard"), ("GET", "/v1/findings"),
                   ("POST", "/v1/submissions"), ("POST", "/v1/holdout"), ("POST", "/v1/findings")]


@pytest.fixture(scope="module")
def data():
    return EvalData.from_experiment(EXPERIMENT, train_seeds=(0, 1))


@pytest.fixture(scope="module")
def server(data, tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('research') / 'server.sqlite'}"
    app = create_app(data, url, ServerSettings(max_body_bytes=MAX_BODY, dashboard_ttl_s=0))
    with start_server_in_thread(app) as running:
        yield running


@pytest.fixture(scope="module")
def truth():
    """Ground truth of every split an agent sees (the test plays the server's side)."""
    splits = experiment_splits(EXPERIMENT)
    return {s: splits[s].labels for s in ("pool", "val", "test", "holdout")}


def client(server, agent=None, **budgets):
    """An HTTP client with a fresh key for ``agent`` (a unique name by default)."""
    key = server.create_key(agent or f"agent-{uuid.uuid4().hex[:8]}", **budgets)
    return httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"},
                        timeout=30)


def body(data, probs=None, split="test", idea="idea", **extra) -> dict:
    ids = data.views[split].ids
    probs = np.full(len(ids), 0.7) if probs is None else np.asarray(probs)
    return {"idea": idea, "ids": list(ids), "predictions": [float(p) for p in probs], **extra}


def accuracy_pgr(data, truth, probs, split="test"):
    """Accuracy and PGR as the server releases a new best: on the ladder's grid, against
    the served (rounded) baselines."""
    from w2s_utils.research.detectors import ladder_step, on_grid

    exact = float(((np.asarray(probs) > 0.5) == truth[split]).mean())
    weak, ceiling = (round(data.baselines.weak[split], 3),
                     round(data.baselines.ceiling[split], 3))
    acc = on_grid(exact, weak, ladder_step(len(truth[split])))
    return acc, (acc - weak) / (ceiling - weak)


def assert_no_leak(payload, truth) -> None:
    """No label-like key anywhere, and no 0/1 sequence that matches a split's labels."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            assert not any(w in str(key).lower() for w in ("label", "correct", "truth"))
            assert_no_leak(value, truth)
    elif isinstance(payload, list):
        numbers = [v for v in payload if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(payload) >= 10 and len(numbers) == len(payload):
            for labels in truth.values():
                if len(labels) == len(numbers):
                    assert ((np.asarray(numbers) > 0.5) == labels).mean() < 0.95
        for value in payload:
            assert_no_leak(value, truth)


# --------------------------------------------------------------------------- auth


def test_agent_endpoints_need_a_valid_key(server):
    anonymous = httpx.Client(base_url=server.base_url, timeout=30)
    wrong = httpx.Client(base_url=server.base_url, timeout=30,
                         headers={"Authorization": "Bearer w2s_not-a-key"})
    for method, path in AGENT_ENDPOINTS:
        for http in (anonymous, wrong):
            response = http.request(method, path, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
    for path in ("/health", "/", "/docs", "/openapi.json"):
        assert anonymous.get(path).status_code == 200
    assert "/v1/submissions" in anonymous.get("/openapi.json").json()["paths"]


def test_revoked_key_is_refused(server):
    from w2s_utils.research.db import revoke_keys

    http = client(server, "revoked-agent")
    assert http.get("/v1/task").status_code == 200
    assert revoke_keys(server.app.state.engine, "revoked-agent") == 1
    assert http.get("/v1/task").status_code == 401


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("case, mutate, status, message", [
    ("short", lambda b: b.update(ids=b["ids"][:-1], predictions=b["predictions"][:-1]), 422,
     "cover 299 of the 300"),
    ("length mismatch", lambda b: b.update(predictions=b["predictions"][:-1]), 422,
     "differ in length"),
    ("duplicate", lambda b: b["ids"].__setitem__(1, b["ids"][0]), 422, "duplicate ids"),
    ("unknown", lambda b: b["ids"].__setitem__(0, "no-such-id"), 422, "not in split"),
    ("above one", lambda b: b["predictions"].__setitem__(3, 1.5), 422, "in [0, 1]"),
    ("negative", lambda b: b["predictions"].__setitem__(3, -0.1), 422, "in [0, 1]"),
    ("hard label 2", lambda b: b["predictions"].__setitem__(3, 2), 422, "in [0, 1]"),
    ("boolean", lambda b: b["predictions"].__setitem__(3, True), 422, "predictions"),
    ("string", lambda b: b["predictions"].__setitem__(3, "0.5"), 422, "predictions"),
    ("self-reported score", lambda b: b.update(accuracy=1.0), 422, "accuracy"),
    ("bad idea name", lambda b: b.update(idea="<script>"), 422, "idea"),
    ("config with NaN", lambda b: b.update(config={"x": float("nan")}), 422, "finite"),
    ("config too big", lambda b: b.update(config={"x": "y" * 30_000}), 422, "limit"),
    ("no ids", lambda b: b.pop("ids"), 422, "ids"),
])
def test_invalid_submissions_get_a_clear_4xx(server, data, case, mutate, status, message):
    agent = f"invalid-{uuid.uuid4().hex[:8]}"
    http = client(server, agent)
    submission = body(data)
    mutate(submission)
    response = http.post("/v1/submissions", content=json.dumps(submission),
                         headers={"Content-Type": "application/json"})
    assert response.status_code == status, (case, response.text)
    assert message in response.text, (case, response.text)
    assert all(e["agent"] != agent for e in http.get("/v1/leaderboard").json())


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_predictions_are_refused(server, data, token):
    http = client(server)
    text = json.dumps(body(data)).replace("0.7", token, 1)
    response = http.post("/v1/submissions", content=text,
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "NaN or infinity" in response.text


def test_malformed_and_oversized_bodies(server, data):
    http = client(server)
    headers = {"Content-Type": "application/json"}
    assert http.post("/v1/submissions", content=b"{not json", headers=headers).status_code == 422
    assert http.post("/v1/submissions", content=b"\xff\xfe", headers=headers).status_code in (
        400, 422)
    big = json.dumps({**body(data), "config": {"pad": "x" * MAX_BODY}}).encode()
    assert http.post("/v1/submissions", content=big, headers=headers).status_code == 413

    def chunks():  # no Content-Length: the limit must hold on the stream too
        for start in range(0, len(big), 65536):
            yield big[start:start + 65536]

    assert http.post("/v1/submissions", content=chunks(), headers=headers).status_code == 413
    assert http.post("/v1/submissions", json=body(data)).status_code == 201  # still serving


def test_rejections_are_counted_per_key(server, data):
    from w2s_utils.research.db import list_keys

    http = client(server, "rejected-agent")
    bad = body(data)
    bad["predictions"][0] = 7
    assert http.post("/v1/submissions", json=bad).status_code == 422
    row = next(k for k in list_keys(server.app.state.engine) if k["agent"] == "rejected-agent")
    assert row["rejected"] == 1 and row["submissions"].startswith("0/")
    page = httpx.get(f"{server.base_url}/").text  # the dashboard's agents table shows it too
    assert re.search(r'<td>rejected-agent</td>(?:(?!</tr>).)*<td class="num">1</td></tr>', page,
                     re.DOTALL)


# --------------------------------------------------------------------------- scores


def test_scores_match_ground_truth_for_probabilities_and_hard_labels(server, data, truth):
    rng = np.random.default_rng(0)
    for probs in (rng.random(300), (rng.random(300) > 0.5).astype(int)):
        http = client(server)  # a fresh agent: its first submission always climbs
        response = http.post("/v1/submissions", json=body(data, probs))
        assert response.status_code == 201, response.text
        score = response.json()
        acc, pgr = accuracy_pgr(data, truth, probs)
        assert score["new_best"] and score["step"] == pytest.approx(300**-0.5, abs=1e-6)
        assert score["accuracy"] == pytest.approx(acc, abs=1e-6)
        assert score["pgr"] == pytest.approx(pgr, abs=1e-3)
        assert set(score) == {"submission_id", "agent", "idea", "split", "n", "accuracy", "pgr",
                              "new_best", "step", "flags", "created", "submissions_left"}
        again = http.post("/v1/submissions", json=body(data, probs)).json()
        assert not again["new_best"] and again["accuracy"] == score["accuracy"]


def test_order_of_ids_does_not_matter(server, data, truth):
    http = client(server)
    submission = body(data, truth["test"] * 0.8 + 0.1)
    order = np.random.default_rng(1).permutation(300)
    shuffled = {**submission, "ids": [submission["ids"][i] for i in order],
                "predictions": [submission["predictions"][i] for i in order]}
    first = http.post("/v1/submissions", json=submission).json()
    second = http.post("/v1/submissions", json=shuffled).json()
    assert first["accuracy"] == second["accuracy"] > 0.95


def test_labels_never_leak(server, data, truth):
    http = client(server)
    responses = [http.get(f"/v1/data/{s}").json() for s in ("pool", "val", "test", "holdout")]
    for view in responses:
        assert set(view) == {"split", "ids", "texts", "features", "weak"}
        assert len(view["ids"]) == len(truth[view["split"]])
        assert (view["weak"] is not None) == (view["split"] in ("pool", "val"))
    assert http.get("/v1/data/weak_train").status_code == 422
    rng = np.random.default_rng(2)
    score = http.post("/v1/submissions", json=body(data, rng.random(300), idea="leak")).json()
    http.post("/v1/findings", json={"hypothesis": "h", "submission_id": score["submission_id"]})
    responses += [http.get(p).json() for p in ("/v1/task", "/v1/baselines", "/v1/leaderboard",
                                               "/v1/findings")]
    responses += [score, http.post("/v1/holdout", json=body(data, rng.random(300), "holdout",
                                                            idea="leak")).json()]
    for payload in responses:
        assert_no_leak(payload, truth)


# --------------------------------------------------------------------------- holdout


def test_one_holdout_scoring_per_idea(server, data, truth):
    http = client(server, max_holdout=2)
    holdout = body(data, truth["holdout"] * 0.6 + 0.2, "holdout", idea="first")
    response = http.post("/v1/holdout", json=holdout)
    assert response.status_code == 409 and "feedback" in response.text
    assert http.post("/v1/submissions", json=body(data, idea="first")).status_code == 201
    scored = http.post("/v1/holdout", json=holdout)
    assert scored.status_code == 201 and scored.json()["accuracy"] > 0.95
    assert scored.json()["pgr_low"] < scored.json()["pgr"] < scored.json()["pgr_high"]
    again = http.post("/v1/holdout", json=holdout)
    assert again.status_code == 409 and "one blind" in again.text
    for idea in ("second", "third"):
        assert http.post("/v1/submissions", json=body(data, idea=idea)).status_code == 201
    assert http.post("/v1/holdout", json={**holdout, "idea": "second"}).status_code == 201
    exhausted = http.post("/v1/holdout", json={**holdout, "idea": "third"})
    assert exhausted.status_code == 429 and "holdout budget" in exhausted.text


def test_concurrent_holdout_requests_score_once(server, data):
    key = server.create_key("racer", max_holdout=50, rate_per_minute=1000)
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.post(f"{server.base_url}/v1/submissions", json=body(data, idea="race"),
                      headers=headers).status_code == 201
    codes = []

    def attempt():
        codes.append(httpx.post(f"{server.base_url}/v1/holdout", headers=headers, timeout=30,
                                json=body(data, split="holdout", idea="race")).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] + [409] * 7


# --------------------------------------------------------------------------- leaderboard


def test_leaderboard_comes_from_server_scores_only(server, data, truth):
    http = client(server, "honest-agent")
    rng = np.random.default_rng(3)
    probs = rng.random(300)
    acc, pgr = accuracy_pgr(data, truth, probs)
    http.post("/v1/submissions", json=body(data, probs, idea="real"))
    claim = http.post("/v1/submissions", json=body(data, probs, idea="claim", pgr=1.0))
    assert claim.status_code == 422
    http.post("/v1/findings", json={"idea": "boast", "hypothesis": "PGR 1.0, trust me",
                                    "config": {"pgr": 1.0, "accuracy": 1.0}})
    mine = [e for e in http.get("/v1/leaderboard").json() if e["agent"] == "honest-agent"]
    assert [e["idea"] for e in mine] == ["real"]
    assert mine[0]["best_feedback_pgr"] == pytest.approx(pgr, abs=1e-3)
    assert mine[0]["best_feedback_accuracy"] == pytest.approx(acc, abs=1e-6)
    board = http.get("/v1/leaderboard").json()
    assert [e["rank"] for e in board] == list(range(1, len(board) + 1))
    flagged = [bool(e["flags"]) for e in board]
    assert flagged == sorted(flagged)  # clean entries rank first
    clean = [e["holdout_pgr_low"] is not None for e in board if not e["flags"]]
    assert clean == sorted(clean, reverse=True)  # then blind scores
    assert all("holdout_pgr" not in e and "holdout_accuracy" not in e for e in board)


def test_findings_forum(server, data):
    alice, bob = client(server, "forum-alice"), client(server, "forum-bob")
    score = alice.post("/v1/submissions", json=body(data, idea="forum-idea")).json()
    posted = alice.post("/v1/findings", json={
        "idea": "forum-idea", "hypothesis": "Hard labels help 100% of_the time <script>x",
        "config": {"method": "naive"}, "body": "tried it",
        "submission_id": score["submission_id"]})
    assert posted.status_code == 201
    assert posted.json()["verified"]["pgr"] == score["pgr"]
    stolen = bob.post("/v1/findings", json={"hypothesis": "x",
                                            "submission_id": score["submission_id"]})
    assert stolen.status_code == 404
    assert bob.post("/v1/findings", json={"hypothesis": ""}).status_code == 422
    assert bob.post("/v1/findings", json={"hypothesis": "x", "submission_id": 2**70}
                    ).status_code == 422
    search = {"100% of_the": [posted.json()["id"]], "help%time": [], "labels_help": []}
    for q, expected in search.items():  # % and _ are literal characters, not wildcards
        assert [f["id"] for f in bob.get("/v1/findings", params={"q": q}).json()] == expected
    assert bob.get("/v1/findings", params={"agent": "forum-bob"}).json() == []
    page = bob.get("/").text
    assert "100% of_the time &lt;script&gt;x" in page and "<script>" not in page


# --------------------------------------------------------------------------- detectors


def test_constant_submission_is_flagged(server, data):
    http = client(server, "constant-agent")
    for idea, probs in (("all-ones", np.ones(300)), ("prior", np.full(300, 0.5001))):
        score = http.post("/v1/submissions", json=body(data, probs, idea=idea)).json()
        assert "constant" in score["flags"]
    board = [e for e in http.get("/v1/leaderboard").json() if e["agent"] == "constant-agent"]
    assert all("constant" in e["flags"] for e in board)
    assert "constant" in http.get("/").text


def test_weak_ignoring_submission_is_flagged(server, data, truth):
    http = client(server, "oracle-agent")
    rng = np.random.default_rng(4)
    labels = truth["test"]
    noisy = np.where(rng.random(300) < 0.12, 1 - labels, labels)  # GT-like, not weak-like
    score = http.post("/v1/submissions", json=body(data, noisy, idea="oracle")).json()
    assert score["pgr"] > 0.5 and "ignores_weak" in score["flags"]
    assert "constant" not in score["flags"]
    weak_like = data.scored["test"].weak_hard.copy()  # a student that copied the weak model
    wrong = np.flatnonzero(weak_like != labels)
    gap = data.baselines.ceiling["test"] - data.baselines.weak["test"]
    fixed = wrong[: round(0.6 * gap * len(labels))]  # recovers ~60% of the gap
    weak_like[fixed] = labels[fixed]
    student = client(server, "student-agent")
    honest = student.post("/v1/submissions", json=body(data, weak_like, idea="student")).json()
    assert honest["pgr"] > 0.3 and honest["flags"] == []
    entry = next(e for e in http.get("/v1/leaderboard").json() if e["idea"] == "oracle")
    assert "ignores_weak" in entry["flags"]


def test_probing_burst_is_flagged(server, data):
    http = client(server, "prober", rate_per_minute=1000)
    base = (np.random.default_rng(5).random(300) > 0.5).astype(float)
    flags = []
    for i in range(6):
        probe = base.copy()
        probe[i] = 1 - probe[i]  # flip one example per submission
        flags.append(http.post("/v1/submissions", json=body(data, probe, idea="probe")
                               ).json()["flags"])
    assert "probing" not in flags[0] and "probing" in flags[-1]


def test_near_duplicates_count_small_nonzero_distances():
    from w2s_utils.research.detectors import DetectorSettings, near_duplicates, pack

    hard = (np.random.default_rng(0).random(300) > 0.5).astype(np.int64)
    flipped = [hard.copy() for _ in range(4)]
    for i, other in enumerate(flipped):
        other[: [0, 1, 3, 40][i]] ^= 1  # distances 0, 1, 3 and 40 (limit: 1% of 300 = 3)
    recent = [pack(other) for other in flipped] + [pack(hard[:100])]  # another size
    assert near_duplicates(hard, recent, DetectorSettings()) == 2
    assert near_duplicates(hard, [], DetectorSettings()) == 0


def test_prediction_history_sees_other_writers_and_the_whole_history(tmp_path):
    """The probing detector's cache must stay exact when another process writes too, and
    keep every earlier submission of the agent (not only the latest few)."""
    from w2s_utils.research.db import make_engine
    from w2s_utils.research.history import PredictionHistory

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    mine, other = PredictionHistory(make_engine(url)), PredictionHistory(
        make_engine(url))  # two server processes on one database
    rows = [np.eye(1, 16, k, dtype=np.int64)[0] for k in range(16)]
    for k in range(70):
        (mine if k % 2 else other).add("a", "test", rows[k % 16])
    other.add("b", "test", rows[0])
    other.add("a", "holdout", rows[0])
    other.flush()
    assert len(mine.rows("a", "test", 2)) == 70  # its own at once, the other's once written
    mine.add("a", "test", rows[3])
    other.add("a", "test", rows[4])
    other.flush()
    mine.flush()  # takes the other's row in its write transaction, then reads past both
    other.add("a", "test", rows[5])
    other.close()
    history = mine.rows("a", "test", 2)
    assert len(history) == 73 and (np.unpackbits(history[-1])[:16] == rows[5]).all()
    assert len(mine.rows("a", "holdout", 2)) == 1 and len(mine.rows("b", "test", 2)) == 1
    mine.close()
    restarted = PredictionHistory(make_engine(url))
    assert len(restarted.rows("a", "test", 2)) == 73  # all of it survives a restart
    restarted.close()


def test_database_files_are_private_and_hold_no_predictions_or_exact_scores(server, data,
                                                                          truth):
    """Mode 0600; the main database stores released scores only, no prediction vectors:
    least squares over its rows has nothing to work with."""
    from sqlalchemy import inspect, select
    from sqlalchemy.orm import Session

    from w2s_utils.research.db import Submission

    path = Path(server.app.state.engine.url.database)
    secret = path.with_name(path.name + ".predictions.sqlite")
    http = client(server, "storage-agent")
    rng = np.random.default_rng(9)
    exact = []
    for _ in range(5):
        probs = rng.random(300)
        exact.append(float(((probs > 0.5) == truth["test"]).mean()))
        assert http.post("/v1/submissions", json=body(data, probs)).status_code == 201
    for file in (path, secret):
        assert file.exists() and file.stat().st_mode & 0o777 == 0o600, file
    columns = {c["name"] for c in inspect(server.app.state.engine).get_columns("submissions")}
    assert not {"hard", "predictions", "weak_agreement"} & columns
    with Session(server.app.state.engine) as session:
        stored = session.scalars(select(Submission.accuracy)
                                 .where(Submission.agent == "storage-agent")).all()
    step, weak = 300**-0.5, round(data.baselines.weak["test"], 3)
    assert len(set(stored)) == 1  # the ladder's first value, repeated
    assert all(abs((a - weak) / step - round((a - weak) / step)) < 1e-4 for a in stored)


def test_feedback_holdout_gap_is_flagged(server, data, truth):
    http = client(server, "overfitter")
    http.post("/v1/submissions", json=body(data, truth["test"], idea="overfit"))
    weak = data.scored["holdout"].weak_hard
    result = http.post("/v1/holdout", json=body(data, weak, "holdout", idea="overfit")).json()
    assert result["feedback_pgr"] > 1 and "holdout_gap" in result["flags"]
    entry = next(e for e in http.get("/v1/leaderboard").json() if e["idea"] == "overfit")
    assert "holdout_gap" in entry["flags"]


# --------------------------------------------------------------------------- budgets


def test_submission_budget_and_rate_limit(server, data):
    limited = client(server, max_submissions=2, rate_per_minute=1000)
    codes = [limited.post("/v1/submissions", json=body(data)).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    slow = client(server, rate_per_minute=2)
    codes = [slow.post("/v1/submissions", json=body(data)) for _ in range(3)]
    assert [r.status_code for r in codes] == [201, 201, 429]
    assert int(codes[-1].headers["Retry-After"]) > 0


def test_retried_submission_is_stored_once(server, data):
    http = client(server, max_submissions=5)
    token = uuid.uuid4().hex
    first = http.post("/v1/submissions", json=body(data, client_token=token)).json()
    second = http.post("/v1/submissions", json=body(data, client_token=token)).json()
    assert first["submission_id"] == second["submission_id"]
    assert second["submissions_left"] == 4


# --------------------------------------------------------------------------- admin CLI


def test_admin_cli_issues_hashed_keys(data, tmp_path):
    url = f"sqlite:///{tmp_path / 'admin.sqlite'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "w2s_utils.research.admin", "--db", url]
    out = subprocess.run(command + ["create-key", "--agent", "cli-agent", "--max-submissions",
                                    "3"], capture_output=True, text=True, env=env, check=True)
    key = out.stdout.strip()
    assert key.startswith("w2s_") and len(key) > 30
    listed = subprocess.run(command + ["list-keys"], capture_output=True, text=True, env=env,
                            check=True).stdout
    assert "cli-agent" in listed and key not in listed and "0/3" in listed
    assert key not in (tmp_path / "admin.sqlite").read_bytes().decode("latin-1")
    bad = subprocess.run(command + ["create-key", "--agent", "bad name"], capture_output=True,
                         text=True, env=env)
    assert bad.returncode == 2 and "agent names" in bad.stderr
    for flag, value in (("--max-submissions", str(10**29)), ("--max-holdout", "-1"),
                        ("--rate-per-minute", str(2**31))):
        huge = subprocess.run(command + ["create-key", "--agent", "cli-agent", flag, value],
                              capture_output=True, text=True, env=env)
        assert huge.returncode == 2 and "between 0 and" in huge.stderr, huge.stderr
        assert "Traceback" not in huge.stderr
    second = subprocess.run(command + ["create-key", "--agent", "cli-agent"],
                            capture_output=True, text=True, env=env, check=True).stdout.strip()
    assert second.startswith("w2s_") and second != key
    listed = subprocess.run(command + ["list-keys"], capture_output=True, text=True, env=env,
                            check=True).stdout
    assert listed.count("0/3") == 2  # the second key shares the agent's budget
    with start_server_in_thread(create_app(data, url)) as running:
        headers = {"Authorization": f"Bearer {key}"}
        response = httpx.post(f"{running.base_url}/v1/submissions", json=body(data),
                              headers=headers)
        assert response.status_code == 201 and response.json()["submissions_left"] == 2


# --------------------------------------------------------------------------- fuzz

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
_prediction = (st.floats(allow_nan=True, allow_infinity=True) | st.integers()
               | st.booleans() | st.text(max_size=3) | st.none())


@st.composite
def _requests(draw, ids: list[str], key: str):
    """A method, path, headers and body: random, or a valid body with one mutation."""
    method, path = draw(st.sampled_from(AGENT_ENDPOINTS + [
        ("GET", "/v1/data/holdout"), ("GET", "/v1/data/weak_train"), ("GET", "/v1/data/%00"),
        ("DELETE", "/v1/submissions"), ("GET", "/"), ("GET", "/health")]))
    auth = draw(st.sampled_from([f"Bearer {key}", f"Bearer {key}", "", "Bearer", "Basic abc",
                                 f"bearer {key}x"]))
    headers = {"Authorization": auth} if auth else {}
    params = draw(st.dictionaries(st.sampled_from(["q", "agent", "idea", "limit"]),
                                  st.text(max_size=30) | st.integers().map(str), max_size=3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    valid = {"idea": draw(st.sampled_from(["fuzz", "fuzz-2"])), "ids": list(ids),
             "predictions": rng.random(len(ids)).tolist(), "hypothesis": "h"}
    if "findings" not in path:
        valid.pop("hypothesis")
    mutation = draw(st.sampled_from(["none", "drop", "replace", "extra", "random"]))
    payload = dict(valid)
    if mutation == "drop":
        payload.pop(draw(st.sampled_from(sorted(payload))))
    elif mutation == "replace":
        field = draw(st.sampled_from(sorted(payload) + ["config", "submission_id",
                                                        "client_token", "body"]))
        payload[field] = draw(_json | st.lists(_prediction, max_size=5))
    elif mutation == "extra":
        payload[draw(st.text(max_size=10))] = draw(_json)
    elif mutation == "random":
        payload = draw(_json)
    if draw(st.booleans()) and isinstance(payload, dict) and payload.get("predictions"):
        i = draw(st.integers(0, len(payload["predictions"]) - 1))
        payload["predictions"][i] = draw(_prediction)
    return method, path, headers, params, payload


@pytest.mark.slow
def test_fuzzed_requests_never_fail_or_leak(server, data, truth):
    key = server.create_key("fuzzer", max_submissions=10_000, rate_per_minute=100_000,
                            max_holdout=3)
    http = httpx.Client(base_url=server.base_url, timeout=30)
    http.post("/v1/submissions", json=body(data, idea="fuzz"),
              headers={"Authorization": f"Bearer {key}"})
    statuses = []

    @settings(max_examples=250, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=_requests(data.views["test"].ids, key))
    def check(request):
        method, path, headers, params, payload = request
        text = json.dumps(payload)  # NaN and Infinity stay in, as Python writes them
        response = http.request(method, path, headers={**headers,
                                                       "Content-Type": "application/json"},
                                params=params, content=text)
        statuses.append(response.status_code)
        assert response.status_code < 500, (method, path, text[:300], response.text[:300])
        if response.headers.get("content-type", "").startswith("application/json"):
            assert_no_leak(response.json(), truth)

    check()
    assert {200, 401, 422} <= set(statuses)


# --------------------------------------------------------------------------- load


@pytest.mark.slow
def test_sixteen_concurrent_clients_store_every_submission_once(server, data):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from w2s_utils.research.db import Submission

    clients, per_client = 16, 40  # the submissions/s benchmark is benchmarks/run.py's
    key = server.create_key("load", max_submissions=clients * per_client,
                            rate_per_minute=10**6)
    ids = data.views["test"].ids
    sent, accepted, latencies, errors = set(), [], [], []
    lock = threading.Lock()

    def work(worker: int):
        rng = np.random.default_rng(worker)
        with httpx.Client(base_url=server.base_url, timeout=60,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            for _ in range(per_client):
                token = uuid.uuid4().hex
                payload = {"idea": f"load-{worker}", "ids": ids, "client_token": token,
                           "predictions": rng.random(len(ids)).round(4).tolist()}
                start = time.perf_counter()
                response = http.post("/v1/submissions", json=payload)
                elapsed = time.perf_counter() - start
                with lock:
                    sent.add(token)
                    latencies.append(elapsed)
                    if response.status_code == 201:
                        accepted.append((response.json()["submission_id"], token))
                    else:
                        errors.append(response.text)

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    print(f"\nload: {len(accepted)} submissions by {clients} clients in {wall:.1f} s = "
          f"{len(accepted) / wall:.0f} submissions/s; latency p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    assert errors == [] and len(accepted) == clients * per_client
    with Session(server.app.state.engine) as session:
        stored = session.execute(select(Submission.id, Submission.client_token)
                                 .where(Submission.agent == "load")).all()
    assert sorted(stored) == sorted(accepted)  # every accepted one stored, exactly once
    assert {token for _, token in stored} == sent
    over = httpx.post(f"{server.base_url}/v1/submissions", headers={
        "Authorization": f"Bearer {key}"}, json={"idea": "load-0", "ids": ids,
                                                 "predictions": [0.5] * len(ids)})
    assert over.status_code == 429
