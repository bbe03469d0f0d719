"""The evaluation server's flows, one per route that writes or reads more than a row:
admit (rate limit, validate, score), submit through the ladder, the one blind holdout
scoring, findings, the leaderboard and the cached dashboard page.

Budgets are taken by the first statement of a write, so the ladder's read-modify-write
is atomic across processes; SQLite has one writer at a time, so writes queue on a lock
here rather than in its busy-wait sleeps.
"""

from __future__ import annotations

import json
import math
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

from fastapi import HTTPException
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import dashboard, detectors, ledger, queries
from .db import Holdout, Submission
from .detectors import DetectorSettings
from .evaldata import EvalData
from .guards import KeyInfo, RateLimiter
from .history import PredictionHistory
from .schemas import (
    Finding,
    FindingIn,
    HoldoutScore,
    LeaderboardEntry,
    PredictionsIn,
    Score,
    SubmissionIn,
    TaskInfo,
    config_json,
)
from .scoring import FEEDBACK, HOLDOUT, ScoredPredictions, Scorer


@dataclass(frozen=True)
class ServerSettings:
    max_body_bytes: int = 8 * 2**20
    # None: the Ladder's step is 1/sqrt(n) of the scored split (see detectors.ladder_step).
    ladder_step: float | None = None
    # False releases every submission's own score, rounded to the step: no leakage bound
    # (for comparisons only: the attack tests show what it gives away).
    ladder: bool = True
    dashboard_ttl_s: float = 2.0  # the rendered dashboard is reused this long
    detectors: DetectorSettings = field(default_factory=DetectorSettings)
    ledger: ledger.LedgerSettings = field(default_factory=ledger.LedgerSettings)


class _BudgetExhausted(Exception):
    """Rolls a submission's write back; the message is the 429's (None: the stock one)."""


class Evaluation:
    """One task's ground truth and baselines served over one database."""

    def __init__(self, data: EvalData, engine, settings: ServerSettings):
        self.data, self.engine, self.settings = data, engine, settings
        self.rules = settings.detectors
        self.scorer = Scorer(data, self.rules, settings.ladder_step, settings.ladder)
        self.history = PredictionHistory(engine)
        self.limiter = RateLimiter()
        self.writing = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        self.experiment = data.experiment.model_dump(mode="json")
        self.views = {name: view.model_dump_json().encode()
                      for name, view in data.views.items()}
        self._page_lock, self._page = threading.Lock(), {"at": -math.inf, "html": ""}

    def task_info(self) -> TaskInfo:
        return TaskInfo(experiment=self.experiment,
                        split_sizes={name: len(v.ids) for name, v in self.data.views.items()},
                        feedback_split=FEEDBACK, holdout_split=HOLDOUT,
                        baselines=self.scorer.served)

    def reject(self, key: KeyInfo, error: HTTPException):
        """Count a refused request against the agent, then raise ``error``."""
        with self.writing, Session(self.engine) as session, session.begin():
            queries.count_rejection(session, key.agent)
        raise error

    def admit(self, key: KeyInfo, split: str, body: PredictionsIn) -> ScoredPredictions:
        """Rate limit, then validate and score; both failures count as rejected."""
        wait = self.limiter.retry_after(key.agent, key.rate_per_minute)
        if wait is not None:
            self.reject(key, HTTPException(
                429, f"rate limit of {key.rate_per_minute} requests per minute for agent "
                     f"{key.agent!r}", headers={"Retry-After": str(math.ceil(wait))}))
        try:
            scored = self.scorer.score(split, body)
        except HTTPException as error:
            self.reject(key, error)
        return scored

    def probing(self, key: KeyInfo, scored: ScoredPredictions, count: int) -> bool:
        """Near-duplicates of the agent's earlier prediction sets (label-free)."""
        width = (scored.n + 7) // 8
        found = detectors.near_duplicates(
            scored.hard, self.history.rows(key.agent, scored.split, width), self.rules)
        return found >= count

    def score_of(self, row: dict, left: int) -> Score:
        return Score(submission_id=row["id"], agent=row["agent"], idea=row["idea"],
                     split=FEEDBACK, n=row["n"], accuracy=row["accuracy"], pgr=row["pgr"],
                     new_best=row["new_best"], step=round(self.scorer.steps[FEEDBACK], 6),
                     flags=json.loads(row["flags"]), created=row["created"],
                     submissions_left=left)

    def submit(self, key: KeyInfo, body: SubmissionIn) -> Score:
        """Score ``test`` predictions and release them through the agent's ladder."""
        config = config_json(body.config)
        scored = self.admit(key, FEEDBACK, body)
        probed = self.probing(key, scored, self.rules.probe_count)
        try:
            # Core, write first: the budget UPDATE takes the write lock before anything else,
            # so the ladder's read-modify-write below is atomic across processes too.
            with self.writing, self.engine.begin() as connection:
                consumed = connection.execute(queries.CONSUME["submissions"],
                                              {"agent": key.agent}).first()
                if consumed is None:
                    raise _BudgetExhausted
                # CPU and dollar budgets (``ledger``), read in the same transaction.
                if spent := ledger.over_budget(connection, key.agent):
                    raise _BudgetExhausted(spent)
                left, best, agent_flags = consumed
                released, new_best = self.scorer.climb(scored, best)
                if new_best:
                    connection.execute(queries.SET_BEST, {"agent": key.agent, "best": released})
                flags = self.scorer.flags(scored, released, new_best)
                if probed:
                    flags.append("probing")
                    queries.mark_agent(connection, key.agent, agent_flags, ["probing"])
                row = dict(key_id=key.id, agent=key.agent, idea=body.idea, created=time.time(),
                           n=scored.n, accuracy=round(released, 6),
                           pgr=self.scorer.pgr(released, FEEDBACK), new_best=new_best,
                           config=config, client_token=body.client_token,
                           flags=json.dumps(flags))
                row["id"] = connection.execute(queries.INSERT_SUBMISSION,
                                               row).inserted_primary_key[0]
                queries.update_idea(connection, row)
                ledger.record_seed(connection, key.agent, body.idea, body.config,
                                   self.data.experiment.seed)
                response = self.score_of(row, left)  # built before the commit
        except (_BudgetExhausted, IntegrityError) as error:
            # A retry of a stored submission (same client_token) gets the stored score.
            if body.client_token and (done := queries.stored_submission(
                    self.engine, key.id, key.agent, body.client_token)):
                return self.score_of(*done)
            if isinstance(error, IntegrityError):
                raise
            self.reject(key, HTTPException(429, error.args[0] if error.args else
                                           f"submission budget of agent {key.agent!r} "
                                           "exhausted"))
        self.history.add(key.agent, FEEDBACK, scored.hard)
        return response

    def holdout(self, key: KeyInfo, body: PredictionsIn) -> HoldoutScore:
        """An idea's one blind scoring on ``holdout``: a coarse value with its interval."""
        config = config_json(body.config)
        idea, done = queries.idea_state(self.engine, key.agent, body.idea)
        if idea is None:
            self.reject(key, HTTPException(409, f"idea {body.idea!r} has no feedback "
                                                "submission; submit test predictions for it "
                                                "first"))
        if done is not None:
            self.reject(key, HTTPException(409, f"idea {body.idea!r} already had its one "
                                                "blind holdout scoring"))
        scored = self.admit(key, HOLDOUT, body)
        probed = self.probing(key, scored, self.rules.holdout_probe_count)
        release = self.scorer.holdout(scored, idea.best_pgr, idea.best_accuracy)
        flags = release.flags + ["probing"] * probed
        row = Holdout(key_id=key.id, agent=key.agent, idea=body.idea, created=time.time(),
                      n=scored.n, accuracy=round(release.accuracy, 6), pgr=release.pgr,
                      pgr_low=release.pgr_low, pgr_high=release.pgr_high,
                      feedback_pgr=idea.best_pgr, config=config, flags=json.dumps(flags))
        try:
            with (self.writing, Session(self.engine, expire_on_commit=False) as session,
                  session.begin()):
                consumed = session.execute(queries.CONSUME["holdout"],
                                           {"agent": key.agent}).first()
                if consumed is None:
                    raise _BudgetExhausted
                if probed:
                    queries.mark_agent(session, key.agent, consumed[2], ["probing"])
                session.add(row)
                session.flush()
                response = HoldoutScore(
                    agent=row.agent, idea=row.idea, n=row.n, accuracy=row.accuracy,
                    pgr=row.pgr, pgr_low=row.pgr_low, pgr_high=row.pgr_high,
                    feedback_pgr=row.feedback_pgr, flags=flags, created=row.created)
        except _BudgetExhausted:
            self.reject(key, HTTPException(429, f"holdout budget of agent {key.agent!r} "
                                                "exhausted"))
        except IntegrityError:
            self.reject(key, HTTPException(409, f"idea {body.idea!r} already had its one "
                                                "blind holdout scoring"))
        self.history.add(key.agent, HOLDOUT, scored.hard)
        return response

    def leaderboard(self) -> list[LeaderboardEntry]:
        """From the running totals: one row per (agent, idea), O(ideas), not O(submissions)."""
        ideas, held, agent_flags = queries.leaderboard_rows(self.engine)
        with self.engine.connect() as connection:
            costs = ledger.per_idea(connection)
        min_seeds = self.settings.ledger.min_seeds
        entries = []
        for row in ideas:
            h = held.get((row.agent, row.idea))
            cost = costs.get((row.agent, row.idea), {})
            flags = queries.union(json.loads(row.flags), agent_flags.get(row.agent, []),
                                  [] if h is None else json.loads(h.flags))
            entries.append((h, dict(
                agent=row.agent, idea=row.idea, submissions=row.submissions,
                best_feedback_pgr=row.best_pgr, best_feedback_accuracy=row.best_accuracy,
                holdout_pgr_low=None if h is None else h.pgr_low,
                holdout_pgr_high=None if h is None else h.pgr_high,
                flags=flags, last_submission=row.last_submission, **cost,
                counted=cost.get("seeds", 0) >= min_seeds,
                **ledger.efficiency(row.best_pgr, cost.get("cpu_seconds", 0.0),
                                    cost.get("dollars", 0.0)))))

        def order(item):
            h, e = item
            coarse = None if h is None else h.pgr
            feedback = e["best_feedback_pgr"]
            return (not e["counted"], bool(e["flags"]), coarse is None,
                    -(coarse if coarse is not None else 0),
                    -(feedback if feedback is not None else -math.inf), e["agent"], e["idea"])

        return [LeaderboardEntry(rank=k + 1, **e)
                for k, (_, e) in enumerate(sorted(entries, key=order))]

    def post_finding(self, key: KeyInfo, body: FindingIn) -> Finding:
        config = config_json(body.config)
        with (self.writing, Session(self.engine, expire_on_commit=False) as session,
              session.begin()):
            sub = None
            if body.submission_id is not None:
                sub = session.get(Submission, body.submission_id)
                if sub is None or sub.agent != key.agent:
                    raise HTTPException(404, f"no submission {body.submission_id} of yours")
            return queries.add_finding(session, key.id, key.agent, body, config, sub)

    def home_page(self) -> str:
        """One render per ttl, shared by every reader: anonymous reloads cost agents nothing."""
        with self._page_lock:
            if time.monotonic() - self._page["at"] > self.settings.dashboard_ttl_s:
                self._page["html"], self._page["at"] = self._render_home(), time.monotonic()
            return self._page["html"]

    def _render_home(self) -> str:
        """O(agents + ideas + ladder steps): running totals, never a rescan."""
        series, agents = queries.dashboard_rows(self.engine)
        return dashboard.render(
            experiment=self.experiment, baselines=self.scorer.served,
            entries=self.leaderboard(), series=series,
            findings=queries.recent_findings(self.engine, limit=10), agents=agents)
