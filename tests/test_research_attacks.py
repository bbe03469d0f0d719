"""Attacks on the evaluation server, run over real HTTP as an adaptive agent would.

A synthetic task (tests/research_synthetic.py: 2,000 feedback and 1,000 holdout examples,
weak labels 70% and ceiling 80% accurate, no model trained) with the default budget of
500 feedback submissions. Each attack asserts the bound or the flag:

- reading labels off the score (one flip per submission; each flip hidden among re-flips
  of labels the attacker already knows; the strongest adaptive attack we know against the
  Ladder, which parks a vector exactly at the climbing threshold; a boosting attack with
  no side information): labels recovered beyond chance stay within the information
  bound, and far below what the same attacks recover without the ladder;
- holdout probing: one coarse value per idea, the budget per agent, flagged;
- a second key for the same agent: same budget, ladder and probing history;
- skipping the teacher: flagged and ranked after clean entries, while the weak labels
  themselves score PGR 0 unflagged and an honest student is not flagged;
- the nested finding: refused before it is stored; the forum keeps working.
"""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest
from research_synthetic import noisy, synthetic_data

from w2s_utils.research.detectors import ladder_bits, ladder_step
from w2s_utils.research.evaluation import ServerSettings
from w2s_utils.research.runner import start_server_in_thread
from w2s_utils.research.server import create_app

BUDGET = 500  # the default feedback budget of an agent (db.DEFAULT_BUDGETS)
N_TEST = 2000


@pytest.fixture(scope="module")
def task():
    return synthetic_data(n_test=N_TEST, n_holdout=1000)


def serve(task, tmp_path, **settings):
    data, _ = task
    app = create_app(data, f"sqlite:///{tmp_path / 'attack.sqlite'}",
                     ServerSettings(dashboard_ttl_s=0, **settings))
    return start_server_in_thread(app)


@pytest.fixture(scope="module")
def server(task, tmp_path_factory):
    with serve(task, tmp_path_factory.mktemp("attacks")) as running:
        yield running


class Agent:
    """An attacker: an HTTP client with its own key (fresh agent unless ``name`` given)."""

    counter = 0

    def __init__(self, server, data, name=None, **budgets):
        Agent.counter += 1
        self.name = name or f"attacker-{Agent.counter}"
        key = server.create_key(self.name, rate_per_minute=10**6, **budgets)
        self.http = httpx.Client(base_url=server.base_url, timeout=60,
                                 headers={"Authorization": f"Bearer {key}"})
        self.ids = {s: list(data.views[s].ids) for s in ("test", "holdout")}
        self.sent = 0

    def submit(self, hard, idea="probe", split="test"):
        path = "/v1/submissions" if split == "test" else "/v1/holdout"
        response = self.http.post(path, json={"idea": idea, "ids": self.ids[split],
                                              "predictions": [int(v) for v in hard]})
        self.sent += 1
        return response

    def score(self, hard, idea="probe"):
        response = self.submit(hard, idea)
        assert response.status_code == 201, response.text
        return response.json()


def gained(guess, start, labels) -> int:
    """Correct labels in ``guess`` beyond those ``start`` (the attacker's prior) had."""
    return int((guess == labels).sum() - (start == labels).sum())


def information_bound(n: int = N_TEST, k: int = BUDGET) -> tuple[float, float]:
    """(bits, labels): the ladder's bound in bits for k submissions, and the most correct
    labels beyond a coin flip that many bits can buy over n examples (Fano: n·(1 − H(p))
    bits are needed to name n labels with accuracy p = 1/2 + gain/n)."""
    bits = ladder_bits(n, k)
    for gain in range(n // 2 + 1):
        p = 0.5 + gain / n
        entropy = 0 if p >= 1 else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
        if n * (1 - entropy) > bits:
            return bits, gain - 1
    return bits, n // 2


# --------------------------------------------------------------------------- attacks


def one_flip(agent, base, probes):
    """The published attack: flip one example per submission, read its label off the
    score's change. Returns the attacker's final guess."""
    first = agent.score(base)["accuracy"]
    guess = base.copy()
    for i in range(probes):
        probe = base.copy()
        probe[i] ^= 1
        score = agent.score(probe)
        if score["accuracy"] > first:  # the flip fixed a mistake
            guess[i] = probe[i]
        elif score["accuracy"] < first:
            guess[i] = base[i]
    return guess


def hidden_flips(agent, base, known, probes, hide, rng):
    """Each flip hidden among ``hide`` random re-flips of labels the attacker knows (their
    effect on accuracy is known, so the probe's own effect can be read off), so that
    submissions stay far apart. ``known`` maps index → true label."""
    known_idx = np.array(sorted(known))
    start = base.copy()
    start[known_idx] = [known[i] for i in known_idx]
    reference = agent.score(start)["accuracy"]
    guess = start.copy()
    unknown = [i for i in range(len(base)) if i not in known]
    for i in unknown[:probes]:
        probe = start.copy()
        hidden = rng.choice(known_idx, hide, replace=False)
        probe[hidden] ^= 1  # each now wrong: accuracy − hide/n, known exactly
        probe[i] ^= 1
        score = agent.score(probe)
        if not score["new_best"]:  # a repeated best says nothing about this probe
            continue
        moved = score["accuracy"] - (reference - hide / len(base))
        if moved > 0.5 / len(base):
            guess[i] = probe[i]
        elif moved < -0.5 / len(base):
            guess[i] = start[i]
    return guess


def threshold(agent, base, known, budget, order=None):
    """The strongest adaptive attack we know against the Ladder. Known labels give exact
    ±1/n steps: fix them one at a time until the score climbs, which pins the vector's
    exact accuracy; then park a vector exactly at the next climbing threshold and flip
    one unknown example: a climb says it was wrong, no climb that it was right. Every
    climb raises the threshold by about one step, paid for with ~step·n more known
    fixes. Returns (final guess, labels decoded with certainty)."""
    n = len(base)
    cur = base.copy()
    fixes = [i for i in sorted(known) if cur[i] != known[i]]  # each +1/n when applied
    decoded: dict[int, int] = {}
    released = agent.score(cur)["accuracy"]
    step = 1 / math.sqrt(n)
    exact = None
    while agent.sent < budget and fixes and exact is None:  # calibrate
        i = fixes.pop()
        cur[i] = known[i]
        score = agent.score(cur)
        if score["new_best"]:
            exact = math.floor((released + step) * n + 1e-9) / n + 1 / n
            released = score["accuracy"]
    if exact is None:
        return finish(cur, known), decoded
    probes = [i for i in (order if order is not None else range(n)) if i not in known]
    while agent.sent < budget and probes:
        target = math.floor((released + step) * n + 1e-9) / n  # the highest non-climbing
        need = round((target - exact) * n)
        if need > len(fixes):
            break
        for _ in range(need):
            i = fixes.pop()
            cur[i] = known[i]
        exact = target
        i = probes.pop(0)
        probe = cur.copy()
        probe[i] ^= 1
        score = agent.score(probe)
        if score["new_best"]:  # it was wrong: keep the fix
            decoded[i] = int(probe[i])
            cur, exact, released = probe, exact + 1 / n, score["accuracy"]
        else:
            decoded[i] = int(cur[i])
    return finish(cur, known), decoded


def finish(guess, known):
    """The attacker's final guess: every label it knows, set."""
    guess = guess.copy()
    for i, label in known.items():
        guess[i] = label
    return guess


def boosting(agent, n, budget, rng):
    """Blum & Hardt's boosting attack, no side information: random label vectors, keep
    those the server scored above chance (here: the ones that climbed), majority vote."""
    kept = []
    for _ in range(budget):
        vector = rng.integers(0, 2, n)
        if agent.score(vector)["new_best"]:
            kept.append(vector)
    return (np.mean(kept, axis=0) > 0.5).astype(np.int64) if kept else rng.integers(0, 2, n)


# --------------------------------------------------------------------------- probing


def test_one_flip_probing_reads_nothing_and_is_flagged(server, task):
    data, secrets = task
    labels, base = secrets["test"]["labels"], secrets["test"]["weak"]
    agent = Agent(server, data)
    guess = one_flip(agent, base, BUDGET - 1)
    assert gained(guess, base, labels) == 0  # the score never moved
    board = [e for e in agent.http.get("/v1/leaderboard").json() if e["agent"] == agent.name]
    assert board and all("probing" in e["flags"] for e in board)


def test_one_flip_probing_without_the_ladder_reads_every_label(task, tmp_path):
    """The same attack against each submission's own score rounded to a step below 1/n,
    as the server did before the ladder: what the ladder prevents. 60 probes show it."""
    data, secrets = task
    labels, base = secrets["test"]["labels"], secrets["test"]["weak"]
    with serve(task, tmp_path, ladder=False, ladder_step=0.1 / N_TEST) as exact:
        guess = one_flip(Agent(exact, data), base, 60)
    assert gained(guess, base, labels) == int((base[:60] != labels[:60]).sum()) > 5


def test_hidden_probing_reads_nothing(server, task):
    data, secrets = task
    labels, base = secrets["test"]["labels"], secrets["test"]["weak"]
    rng = np.random.default_rng(1)
    leaked = rng.choice(N_TEST, 300, replace=False)  # labels it got from somewhere
    known = {int(i): int(labels[i]) for i in leaked}
    agent = Agent(server, data)
    guess = hidden_flips(agent, base, known, BUDGET - 1, hide=25, rng=rng)
    start = base.copy()
    start[leaked] = labels[leaked]
    assert gained(guess, start, labels) == 0


def test_adaptive_threshold_attack_stays_within_the_bound(server, task):
    """The strongest attack we know: what it reads is right, and bounded by the ladder."""
    data, secrets = task
    labels, base = secrets["test"]["labels"], secrets["test"]["weak"]
    rng = np.random.default_rng(2)
    leaked = rng.choice(N_TEST, 600, replace=False)  # generous: they pay for the climbs
    known = {int(i): int(labels[i]) for i in leaked}
    start = base.copy()
    start[leaked] = labels[leaked]
    guess, decoded = threshold(Agent(server, data), base, known, BUDGET)
    bits, beyond_chance = information_bound()
    gain = gained(guess, start, labels)
    assert all(labels[i] == v for i, v in decoded.items())  # what it reads is right...
    assert gain <= len(decoded) <= bits and gain <= beyond_chance  # ...and bounded
    climbs = math.ceil(1 / ladder_step(N_TEST)) + 1
    assert gain <= climbs
    print(f"\nthreshold attack, {BUDGET} submissions: {len(decoded)} labels decoded, "
          f"{gain} gained beyond its start (bound {bits:.0f} bits, {beyond_chance} labels "
          f"beyond chance)")


def test_boosting_attack_stays_within_the_bound(server, task):
    data, secrets = task
    labels = secrets["test"]["labels"]
    rng = np.random.default_rng(3)
    guess = boosting(Agent(server, data), N_TEST, BUDGET, rng)
    gain = int((guess == labels).sum() - N_TEST // 2)
    _, beyond_chance = information_bound()
    assert gain <= beyond_chance
    print(f"\nboosting attack, {BUDGET} submissions: {gain} labels beyond chance "
          f"(bound {beyond_chance})")


def test_holdout_probing_gets_one_coarse_value_and_is_flagged(server, task):
    data, secrets = task
    labels, weak = secrets["holdout"]["labels"], secrets["holdout"]["weak"]
    agent = Agent(server, data, max_holdout=5)
    values = []
    for k in range(6):
        agent.score(secrets["test"]["weak"], idea=f"h{k}")
        probe = weak.copy()
        probe[k] ^= 1
        response = agent.submit(probe, idea=f"h{k}", split="holdout")
        if k == 5:
            assert response.status_code == 429  # the agent's holdout budget
            break
        result = response.json()
        assert set(result) >= {"pgr", "pgr_low", "pgr_high"} and "probing" in result["flags"] \
            or k == 0
        values.append(result["accuracy"])
    assert len(set(values)) == 1  # coarse: one flip never shows
    step = ladder_step(len(labels))
    assert abs(values[0] - float((weak == labels).mean())) <= step / 2 + 1e-9
    board = [e for e in agent.http.get("/v1/leaderboard").json() if e["agent"] == agent.name]
    assert all("probing" in e["flags"] for e in board)
    assert all("holdout_pgr" not in e for e in board)  # intervals only, for everyone


def test_a_second_key_for_the_same_agent_starts_nothing_afresh(server, task):
    data, secrets = task
    base = secrets["test"]["weak"]
    first = Agent(server, data, name="two-keys", max_submissions=4)
    assert first.score(base)["new_best"]
    for i in range(3):
        probe = base.copy()
        probe[i] ^= 1
        first.score(probe)
    second = Agent(server, data, name="two-keys")  # a new key, no budgets given
    refused = second.submit(base)
    assert refused.status_code == 429 and "two-keys" in refused.text
    server.create_key("two-keys", max_submissions=6)  # the admin raises the agent's budget
    probe = base.copy()
    probe[7] ^= 1
    score = second.score(probe)
    assert not score["new_best"] and score["submissions_left"] == 1  # same ladder, budget
    assert "probing" in score["flags"]  # same history


# --------------------------------------------------------------------------- teacher


def test_skipping_the_teacher_is_flagged_and_copying_it_is_not(server, task):
    data, secrets = task
    test = secrets["test"]
    rng = np.random.default_rng(4)
    cheat = Agent(server, data).score(test["ceiling"], idea="skip-teacher")
    assert cheat["pgr"] > 0.5 and "skips_teacher" in cheat["flags"]
    # Another model trained on ground truth, its errors independent of the weak model's:
    # it agrees with the weak labels no more than independent errors would.
    other = Agent(server, data).score(noisy(test["labels"], 0.8, rng), idea="gt-model")
    assert {"ignores_weak", "skips_teacher"} & set(other["flags"])
    copy = Agent(server, data).score(test["weak"], idea="copy-teacher")
    assert copy["pgr"] == 0 and copy["flags"] == []
    # An honest student: the weak labels, some of their mistakes corrected, a few new ones.
    student = test["weak"].copy()
    wrong, right = np.flatnonzero(student != test["labels"]), np.flatnonzero(
        student == test["labels"])
    student[rng.choice(wrong, int(0.4 * len(wrong)), replace=False)] ^= 1
    student[rng.choice(right, int(0.03 * len(right)), replace=False)] ^= 1
    honest = Agent(server, data, name="honest-student").score(student, idea="student")
    assert honest["pgr"] > 0.5 and honest["flags"] == []
    board = Agent(server, data).http.get("/v1/leaderboard").json()
    ranks = {e["idea"]: e["rank"] for e in board}
    assert ranks["student"] < ranks["skip-teacher"]


def test_pgr_above_one_is_held_for_review(server, task):
    data, secrets = task
    score = Agent(server, data).score(secrets["test"]["labels"], idea="too-good")
    assert score["pgr"] > 1 and "above_ceiling" in score["flags"]


# --------------------------------------------------------------------------- forum


def test_a_nested_finding_is_refused_and_the_forum_keeps_working(server, task):
    data, _ = task
    agent = Agent(server, data)
    deep: dict = {}
    inner = deep
    for _ in range(256):
        inner["a"] = {}
        inner = inner["a"]
    response = agent.http.post("/v1/findings", json={"hypothesis": "deep", "config": deep})
    assert response.status_code == 422 and "nested deeper" in response.text
    deeper = b'{"hypothesis": "x", "config": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001
    response = agent.http.post("/v1/findings", content=deeper,
                               headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500
    ok = {"a": {"b": {"c": [1, 2, {"d": "e"}]}}}
    assert agent.http.post("/v1/findings", json={"hypothesis": "fine", "config": ok}
                           ).status_code == 201
    for params in ({}, {"q": "deep"}, {"q": "fine"}):
        listed = agent.http.get("/v1/findings", params=params)
        assert listed.status_code == 200, listed.text
    assert [f["hypothesis"] for f in agent.http.get("/v1/findings", params={"q": "fine"}).json()
            ] == ["fine"]
