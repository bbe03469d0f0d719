"""The evaluation server: the only process that holds ground truth for ``test`` and ``holdout``.

Agents fetch a label-free view of the task (texts, ids, weak soft labels on pool/val),
submit *predictions*, and get back aggregate scores — never labels or per-example
correctness. Feedback scores come from ``test`` and are released through the Ladder
(``detectors``): a score is released only when it beats the agent's best by more than
one step, rounded to that step, so what an agent can learn about the labels is bounded.
Each idea gets one blind scoring on ``holdout``, shown only to its agent as a coarse
value with its interval. Identity is the agent, not the key: budgets, the rate limit,
the ladder and probing history are per agent. The leaderboard is computed here from
released scores only (running totals, not a rescan), every submission runs the
reward-hacking detectors, and the dashboard at ``/`` shows it all read-only. OpenAPI
docs are at ``/docs``; every error has the body ``{"detail": ...}`` (``schemas.Error``).

Costs (CPU-seconds, evaluation calls, LLM tokens and dollars), their budgets and the
seed gate are kept by ``ledger`` (endpoints in ``ledger_routes``).

Start it with ``w2s-server`` (see ``main``), or from Python with ``serve_experiment`` /
``start_server_in_thread``; issue keys with ``python -m w2s_utils.research.admin``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import secrets
import threading
import time
from collections import defaultdict, deque
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import dashboard, detectors, ledger, ledger_routes
from .db import (
    AgentRow,
    ApiKey,
    FindingRow,
    Holdout,
    Idea,
    PackedPredictions,
    Submission,
    create_key,
    hash_key,
    make_engine,
)
from .detectors import DetectorSettings
from .evaldata import EvalData
from .schemas import (
    Baselines,
    DataView,
    Error,
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

FEEDBACK, HOLDOUT = "test", "holdout"
BASELINE_DECIMALS = 3  # served baselines; PGR is computed from these, not the exact ones

# The statements every submission runs, built once: building one per request (and its
# cache key, which walks the values) was a tenth of the server's CPU time.
_KEY_BY_HASH = (select(ApiKey.id, ApiKey.agent, AgentRow.rate_per_minute, ApiKey.revoked)
                .join(AgentRow, AgentRow.name == ApiKey.agent)
                .where(ApiKey.key_hash == bindparam("key_hash")))
_HISTORY_NEWER = (select(PackedPredictions.id, PackedPredictions.hard)
                  .where(PackedPredictions.agent == bindparam("agent"),
                         PackedPredictions.split == bindparam("split"),
                         PackedPredictions.id > bindparam("newest"),
                         PackedPredictions.writer != bindparam("writer"))
                  .order_by(PackedPredictions.id))
_INSERT_SUBMISSION = insert(Submission)
_INSERT_PACKED = insert(PackedPredictions)
_SET_BEST = (update(AgentRow).where(AgentRow.name == bindparam("agent"))
             .values(best_accuracy=bindparam("best")))
_IDEA_OF = select(Idea.id, Idea.flags).where(Idea.agent == bindparam("agent"),
                                              Idea.idea == bindparam("idea"))
_INSERT_IDEA = insert(Idea)
_IDEA_COUNT = (update(Idea).where(Idea.id == bindparam("idea_id"))
               .values(submissions=Idea.submissions + 1,
                       last_submission=bindparam("last_submission"),
                       flags=bindparam("merged")))
_IDEA_CLIMB = _IDEA_COUNT.values(best_accuracy=bindparam("accuracy"),
                                 best_pgr=bindparam("pgr"))


def _consume_statement(used, limit):
    """Take one unit of an agent's budget atomically (and, in SQLite, its write lock),
    returning the units left and the ladder's best (no row: none left)."""
    return (update(AgentRow).where(AgentRow.name == bindparam("agent"), used < limit)
            .values({used: used + 1}).returning(limit - used, AgentRow.best_accuracy,
                                                AgentRow.flags))


_CONSUME = {"submissions": _consume_statement(AgentRow.used_submissions,
                                              AgentRow.max_submissions),
            "holdout": _consume_statement(AgentRow.used_holdout, AgentRow.max_holdout)}

# Errors each kind of endpoint can answer, declared in the OpenAPI schema with one model.
_AUTH = {401: {"model": Error, "description": "missing, invalid or revoked API key"}}
_READ = {**_AUTH, 422: {"model": Error, "description": "invalid query or path parameter"}}
_WRITE = {**_READ, 400: {"model": Error, "description": "the body is not parseable JSON"},
          413: {"model": Error, "description": "the body is over the size limit"},
          422: {"model": Error, "description": "the body failed validation"}}
_SCORING = {**_WRITE, 409: {"model": Error, "description": "conflicts with what is stored"},
            429: {"model": Error, "description": "budget spent or rate limit hit "
                                                 "(Retry-After says when to retry)"}}


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


@dataclass(frozen=True)
class KeyInfo:
    id: int
    agent: str
    rate_per_minute: int


class PredictionHistory:
    """Every agent's earlier packed predictions per split, for the probing detector.

    They live in the secret file (``db.PackedPredictions``), not in the main database.
    This process's own rows are kept in memory at once and written in batches by a
    background thread (every ``flush_s``: a second file in every submission's commit
    cost a third of its time); a crash loses at most that much history, never a score.
    Rows of other processes are read from the file, only those with a higher id than
    any seen: SQLite assigns ids under its write lock, in commit order, so the cache
    stays exact (a database that commits out of id order could hide a row that raced
    another commit).
    """

    def __init__(self, engine, flush_s: float = 0.25):
        self.engine, self.flush_s = engine, flush_s
        self.writer = secrets.token_hex(8)
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], tuple[int, np.ndarray]] = {}  # newest id, rows
        self._pending: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, daemon=True,
                                        name="w2s-prediction-history")
        self._thread.start()

    def rows(self, agent: str, split: str, width: int) -> np.ndarray:
        """All of the agent's packed rows of ``split`` (``width`` bytes each)."""
        with self._lock:
            newest, _ = self._rows.get((agent, split), (0, None))
        with self.engine.connect() as connection:
            fetched = connection.execute(_HISTORY_NEWER, {
                "agent": agent, "split": split, "newest": newest,
                "writer": self.writer}).all()
        with self._lock:
            newest, rows = self._rows.get((agent, split), (0, np.zeros((0, width), np.uint8)))
            fresh = [hard for i, hard in fetched if i > newest and len(hard) == width]
            if fresh:
                rows = np.concatenate([rows, np.frombuffer(b"".join(fresh), np.uint8)
                                       .reshape(len(fresh), width)])
            if fetched:
                newest = max(newest, fetched[-1][0])
            self._rows[(agent, split)] = (newest, rows)
        return rows

    def add(self, agent: str, split: str, hard: np.ndarray) -> None:
        """Remember ``hard`` now; it reaches the secret file with the next batch."""
        packed = detectors.pack(hard)
        with self._lock:
            newest, rows = self._rows.get((agent, split),
                                          (0, np.zeros((0, len(packed)), np.uint8)))
            if rows.shape[1] == len(packed):
                rows = np.concatenate([rows, np.frombuffer(packed, np.uint8)[None]])
            self._rows[(agent, split)] = (newest, rows)
            self._pending.append({"agent": agent, "split": split, "created": time.time(),
                                  "hard": packed, "writer": self.writer})

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            with self.engine.begin() as connection:
                connection.execute(_INSERT_PACKED, batch)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:  # a busy file: the rows wait for the next round
                logging.getLogger(__name__).exception("prediction history not written")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()


class RateLimiter:
    """At most ``per_minute`` requests per agent in any 60-second window (in memory)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events: dict[str, deque] = defaultdict(deque)

    def retry_after(self, agent: str, per_minute: int) -> float | None:
        """None if allowed (and counted), else seconds until the next slot frees."""
        if per_minute <= 0:
            return 60.0
        now = time.monotonic()
        with self._lock:
            events = self._events[agent]
            while events and now - events[0] >= 60:
                events.popleft()
            if len(events) >= per_minute:
                return 60 - (now - events[0])
            events.append(now)
            return None


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, declared or streamed."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            response = JSONResponse({"detail": self._message()}, status_code=413)
            return await response(scope, receive, send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"request body over the limit of {self.max_bytes} bytes"


def _served(baselines: Baselines) -> Baselines:
    """Baselines as agents see them: rounded (PGR is computed from these)."""
    return Baselines(weak={s: round(v, BASELINE_DECIMALS) for s, v in baselines.weak.items()},
                     ceiling={s: round(v, BASELINE_DECIMALS)
                              for s, v in baselines.ceiling.items()},
                     ceiling_seeds=baselines.ceiling_seeds)


class _Scored:
    """A validated prediction set and its exact server-side score (never released as is)."""

    def __init__(self, data: EvalData, split: str, body: PredictionsIn):
        scored = data.scored[split]
        positions, probs = _validate(body, split, scored.index)
        hard = (probs > 0.5).astype(np.int64)
        canonical = np.empty(len(scored), dtype=np.int64)  # in split order, for comparisons
        canonical[positions] = hard
        self.split, self.n, self.probs, self.hard = split, len(scored), probs, canonical
        self.accuracy = float((hard == scored.labels[positions]).mean())
        self.weak_agreement = float((hard == scored.weak_hard[positions]).mean())


def _validate(body: PredictionsIn, split: str, index: dict[str, int]):
    """Positions and probabilities of a complete, duplicate-free prediction set, or 422."""
    ids, values = body.ids, body.predictions
    if len(ids) != len(values):
        _invalid(f"ids ({len(ids)}) and predictions ({len(values)}) differ in length")
    if len(set(ids)) != len(ids):
        seen, dupes = set(), []
        for i in ids:
            if i in seen and len(dupes) < 5:
                dupes.append(i[:40])
            seen.add(i)
        _invalid(f"duplicate ids, e.g. {dupes}")
    unknown = [i for i in ids if i not in index]
    if unknown:
        _invalid(f"{len(unknown)} ids are not in split {split!r}, e.g. "
                 f"{[u[:40] for u in unknown[:5]]}")
    if len(ids) != len(index):
        _invalid(f"predictions cover {len(ids)} of the {len(index)} examples of split "
                 f"{split!r}; submit one prediction for every id")
    try:
        probs = np.asarray(values, dtype=np.float64)
    except OverflowError:
        _invalid("predictions must be probabilities in [0, 1] or hard labels 0/1")
    bad = np.flatnonzero(~np.isfinite(probs))
    if len(bad):
        _invalid(f"predictions must be numbers, not NaN or infinity (position {bad[0]})")
    bad = np.flatnonzero((probs < 0) | (probs > 1))
    if len(bad):
        _invalid("predictions must be probabilities in [0, 1] or hard labels 0/1 "
                 f"(position {bad[0]} is {probs[bad[0]]!r})")
    return np.fromiter((index[i] for i in ids), dtype=np.int64, count=len(ids)), probs


def _invalid(message: str):
    raise HTTPException(422, message)


def _printable(value) -> str | int:
    """A location or message part that is safe to send back (no lone surrogates)."""
    if isinstance(value, int):
        return value
    return str(value)[:200].encode("utf-8", "backslashreplace").decode("utf-8")


_bearer = HTTPBearer(auto_error=False,
                     description="a key from `python -m w2s_utils.research.admin create-key`")


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> KeyInfo:
    if credentials is None:
        raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>'",
                            headers={"WWW-Authenticate": "Bearer"})
    with request.app.state.engine.connect() as connection:  # Core: this runs on every call
        row = connection.execute(
            _KEY_BY_HASH, {"key_hash": hash_key(credentials.credentials)}).first()
    if row is None or row.revoked:
        raise HTTPException(401, "invalid or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return KeyInfo(row.id, row.agent, row.rate_per_minute)


Agent = Annotated[KeyInfo, Depends(authenticate)]


def _union(*flag_lists) -> list[str]:
    return sorted({f for flags in flag_lists for f in flags})


def create_app(data: EvalData, database_url: str | None = None,
               settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI app for one task's ground truth and baselines, over one database."""
    settings = settings or ServerSettings()
    rules = settings.detectors
    engine = make_engine(database_url)
    history = PredictionHistory(engine)
    limiter = RateLimiter()
    # SQLite has one writer at a time; queueing here beats its busy-wait sleeps.
    writing = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
    experiment = data.experiment.model_dump(mode="json")
    served = _served(data.baselines)
    steps = {s: settings.ladder_step or detectors.ladder_step(len(data.scored[s]))
             for s in (FEEDBACK, HOLDOUT)}
    views = {name: view.model_dump_json().encode() for name, view in data.views.items()}

    @asynccontextmanager
    async def lifespan(_app):
        yield
        history.close()  # the last batch of packed predictions

    app = FastAPI(
        lifespan=lifespan,
        title="W2S evaluation server",
        description=__doc__, version="2",
        openapi_tags=[{"name": "agents", "description": "need `Authorization: Bearer <key>`"}],
    )
    app.state.engine, app.state.data, app.state.history = engine, data, history
    app.state.steps = steps
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    ledger.create_tables(engine)
    app.include_router(ledger_routes.router(engine, settings.ledger, authenticate, writing,
                                            _WRITE))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException):
        headers = dict(error.headers or {})
        if error.status_code == 405:  # Allow lists every method of the path, not one route's
            path = request.url.path
            headers["Allow"] = ", ".join(sorted(
                {m for r in app.routes if isinstance(r, APIRoute) and r.path_regex.match(path)
                 for m in r.methods}))
        return JSONResponse({"detail": error.detail}, status_code=error.status_code,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request, error: RequestValidationError):
        # Without the echoed input: a rejected submission can be megabytes long.
        details = [{"loc": [_printable(part) for part in e.get("loc", ())],
                    "msg": _printable(e.get("msg", ""))} for e in error.errors()[:20]]
        return JSONResponse({"detail": details}, status_code=422)

    def pgr(accuracy: float | None, split: str) -> float | None:
        """PGR of a released accuracy against the served (rounded) baselines."""
        gap = served.ceiling[split] - served.weak[split]
        if accuracy is None or gap <= 0:
            return None
        return round((accuracy - served.weak[split]) / gap, 3)

    def reject(key: KeyInfo, error: HTTPException):
        with writing, Session(engine) as session, session.begin():
            session.execute(update(AgentRow).where(AgentRow.name == key.agent)
                            .values(rejected=AgentRow.rejected + 1))
        raise error

    def over_budget(key: KeyInfo) -> None:
        """429 once the agent's reported CPU or dollars pass its budget (``ledger``)."""
        with engine.connect() as connection:
            spent = ledger.over_budget(connection, key.agent)
        if spent:
            reject(key, HTTPException(429, spent))

    def admit(key: KeyInfo, split: str, body: PredictionsIn) -> _Scored:
        """Rate limit, then validate and score; both failures count as rejected."""
        wait = limiter.retry_after(key.agent, key.rate_per_minute)
        if wait is not None:
            reject(key, HTTPException(
                429, f"rate limit of {key.rate_per_minute} requests per minute for agent "
                     f"{key.agent!r}", headers={"Retry-After": str(math.ceil(wait))}))
        try:
            scored = _Scored(data, split, body)
        except HTTPException as error:
            reject(key, error)
        return scored

    def probing(key: KeyInfo, scored: _Scored, count: int) -> bool:
        """Near-duplicates of the agent's earlier prediction sets (label-free)."""
        width = (scored.n + 7) // 8
        found = detectors.near_duplicates(scored.hard, history.rows(key.agent, scored.split,
                                                                    width), rules)
        return found >= count

    def prediction_flags(scored: _Scored, accuracy: float | None, new_best: bool) -> list[str]:
        """Checks on the predictions and the *released* accuracy (only a new best counts:
        the flags of a submission that did not climb must not depend on its own score)."""
        flags = []
        if detectors.is_constant(scored.probs, scored.hard, rules):
            flags.append("constant")
        if not new_best:
            return flags
        split = scored.split
        released = pgr(accuracy, split)
        if detectors.ignores_weak(scored.weak_agreement, accuracy, served.weak[split],
                                  released, rules):
            flags.append("ignores_weak")
        ceiling_agreement = (data.ceiling_weak_agreement or {}).get(split)
        side = detectors.sides_with_weak(scored.hard, data.scored[split].weak_hard,
                                         (data.ceiling_hard or {}).get(split))
        if detectors.skips_teacher(scored.weak_agreement, ceiling_agreement, released, rules,
                                   side):
            flags.append("skips_teacher")
        if released is not None and released > 1:
            flags.append("above_ceiling")
        return flags

    def mark_agent(connection, agent: str, agent_flags: str, new: list[str]) -> list[str]:
        current = json.loads(agent_flags)
        if set(new) - set(current):
            current = _union(current, new)
            connection.execute(update(AgentRow).where(AgentRow.name == agent)
                               .values(flags=json.dumps(current)))
        return current

    def score_of(row: dict, left: int) -> Score:
        return Score(submission_id=row["id"], agent=row["agent"], idea=row["idea"],
                     split=FEEDBACK, n=row["n"], accuracy=row["accuracy"], pgr=row["pgr"],
                     new_best=row["new_best"], step=round(steps[FEEDBACK], 6),
                     flags=json.loads(row["flags"]), created=row["created"],
                     submissions_left=left)

    def existing(key: KeyInfo, token: str) -> Score | None:
        with Session(engine) as session:
            row = session.scalar(select(Submission).where(Submission.key_id == key.id,
                                                          Submission.client_token == token))
            if row is None:
                return None
            agent = session.scalar(select(AgentRow).where(AgentRow.name == key.agent))
            return score_of({c: getattr(row, c) for c in (
                "id", "agent", "idea", "n", "accuracy", "pgr", "new_best", "flags",
                "created")}, agent.max_submissions - agent.used_submissions)

    @app.get("/health", response_model=dict)
    def health() -> dict:
        with Session(engine) as session:
            count = session.scalar(select(func.count(Submission.id)))
        return {"status": "ok", "task": data.experiment.task, "submissions": count}

    @app.get("/v1/task", response_model=TaskInfo, tags=["agents"], responses=_AUTH)
    def task(_key: Agent) -> TaskInfo:
        """The experiment agents reproduce (no data), split sizes and served baselines."""
        return TaskInfo(experiment=experiment,
                        split_sizes={name: len(v.ids) for name, v in data.views.items()},
                        feedback_split=FEEDBACK, holdout_split=HOLDOUT,
                        baselines=served)

    @app.get("/v1/data/{split}", response_model=DataView, tags=["agents"], responses=_READ)
    def split_data(split: Literal["pool", "val", "test", "holdout"], _key: Agent) -> Response:
        """Ids and texts of one split, and the weak soft labels on pool and val: no labels."""
        return Response(views[split], media_type="application/json")

    @app.get("/v1/baselines", response_model=Baselines, tags=["agents"], responses=_AUTH)
    def baselines(_key: Agent) -> Baselines:
        """Weak and ceiling accuracy per scored split, rounded to 3 decimals."""
        return served

    @app.post("/v1/submissions", response_model=Score, status_code=201, tags=["agents"],
              responses=_SCORING)
    def submit(body: SubmissionIn, key: Agent) -> Score:
        """Score predictions for every ``test`` example through the Ladder: your best
        accuracy (and its PGR) so far, updated only when this beats it by one step."""
        config = config_json(body.config)
        over_budget(key)
        scored = admit(key, FEEDBACK, body)
        probed = probing(key, scored, rules.probe_count)
        step = steps[FEEDBACK]
        try:
            # Core, write first: the budget UPDATE takes the write lock before anything else,
            # so the ladder's read-modify-write below is atomic across processes too.
            with writing, engine.begin() as connection:
                consumed = connection.execute(_CONSUME["submissions"],
                                              {"agent": key.agent}).first()
                if consumed is None:
                    raise _BudgetExhausted
                left, best, agent_flags = consumed
                released, new_best = detectors.ladder(
                    scored.accuracy, best if settings.ladder else None, served.weak[FEEDBACK],
                    step)
                if new_best:
                    connection.execute(_SET_BEST, {"agent": key.agent, "best": released})
                flags = prediction_flags(scored, released, new_best)
                if probed:
                    flags.append("probing")
                    mark_agent(connection, key.agent, agent_flags, ["probing"])
                row = dict(key_id=key.id, agent=key.agent, idea=body.idea, created=time.time(),
                           n=scored.n, accuracy=round(released, 6),
                           pgr=pgr(released, FEEDBACK), new_best=new_best, config=config,
                           client_token=body.client_token, flags=json.dumps(flags))
                row["id"] = connection.execute(_INSERT_SUBMISSION, row).inserted_primary_key[0]
                update_idea(connection, row)
                ledger.record_seed(connection, key.agent, body.idea, config,
                                   data.experiment.seed)
                response = score_of(row, left)  # built before the commit
        except (_BudgetExhausted, IntegrityError) as error:
            # A retry of a stored submission (same client_token) gets the stored score.
            if body.client_token and (done := existing(key, body.client_token)):
                return done
            if isinstance(error, IntegrityError):
                raise
            reject(key, HTTPException(429, f"submission budget of agent {key.agent!r} "
                                           "exhausted"))
        history.add(key.agent, FEEDBACK, scored.hard)
        return response

    def update_idea(connection, row: dict) -> None:
        """The running totals the leaderboard and dashboard read (inside the write)."""
        current = connection.execute(_IDEA_OF, {"agent": row["agent"],
                                                "idea": row["idea"]}).first()
        better = row["new_best"]
        if current is None:
            connection.execute(_INSERT_IDEA, {
                "agent": row["agent"], "idea": row["idea"], "submissions": 1,
                "best_accuracy": row["accuracy"] if better else None,
                "best_pgr": row["pgr"] if better else None,
                "flags": json.dumps(_union(json.loads(row["flags"]))),
                "last_submission": row["created"]})
            return
        merged = current.flags
        if row["flags"] != "[]":
            merged = json.dumps(_union(json.loads(current.flags), json.loads(row["flags"])))
        connection.execute(_IDEA_CLIMB if better else _IDEA_COUNT, {
            "idea_id": current.id, "last_submission": row["created"], "merged": merged,
            **({"accuracy": row["accuracy"], "pgr": row["pgr"]} if better else {})})

    @app.post("/v1/holdout", response_model=HoldoutScore, status_code=201, tags=["agents"],
              responses=_SCORING)
    def holdout(body: PredictionsIn, key: Agent) -> HoldoutScore:
        """The one blind scoring of an idea on ``holdout``, shown only to you: a coarse PGR
        with its 95% interval, compared with the idea's feedback PGR."""
        config = config_json(body.config)
        with Session(engine) as session:
            idea = session.execute(select(Idea.best_pgr, Idea.best_accuracy).where(
                Idea.agent == key.agent, Idea.idea == body.idea)).first()
            done = session.scalar(select(Holdout.id).where(Holdout.agent == key.agent,
                                                           Holdout.idea == body.idea))
        if idea is None:
            reject(key, HTTPException(409, f"idea {body.idea!r} has no feedback submission; "
                                           "submit test predictions for it first"))
        if done is not None:
            reject(key, HTTPException(409, f"idea {body.idea!r} already had its one blind "
                                           "holdout scoring"))
        scored = admit(key, HOLDOUT, body)
        probed = probing(key, scored, rules.holdout_probe_count)
        step = steps[HOLDOUT]
        coarse = detectors.on_grid(scored.accuracy, served.weak[HOLDOUT], step)
        coarse_pgr = pgr(coarse, HOLDOUT)
        flags = prediction_flags(scored, coarse, True)
        error = detectors.pgr_standard_error(coarse, scored.n, served.weak[HOLDOUT],
                                             served.ceiling[HOLDOUT])
        low = high = None
        if coarse_pgr is not None and math.isfinite(error):
            low, high = round(coarse_pgr - 1.96 * error, 2), round(coarse_pgr + 1.96 * error, 2)
        feedback_error = 0.0 if idea.best_accuracy is None else detectors.pgr_standard_error(
            idea.best_accuracy, len(data.scored[FEEDBACK]), served.weak[FEEDBACK],
            served.ceiling[FEEDBACK])
        if detectors.holdout_gap(idea.best_pgr, coarse_pgr, math.hypot(error, feedback_error),
                                 rules):
            flags.append("holdout_gap")
        if probed:
            flags.append("probing")
        row = Holdout(key_id=key.id, agent=key.agent, idea=body.idea, created=time.time(),
                      n=scored.n, accuracy=round(coarse, 6), pgr=coarse_pgr, pgr_low=low,
                      pgr_high=high, feedback_pgr=idea.best_pgr, config=config,
                      flags=json.dumps(flags))
        try:
            with writing, Session(engine, expire_on_commit=False) as session, session.begin():
                consumed = session.execute(_CONSUME["holdout"], {"agent": key.agent}).first()
                if consumed is None:
                    raise _BudgetExhausted
                if probed:
                    mark_agent(session, key.agent, consumed[2], ["probing"])
                session.add(row)
                session.flush()
                response = HoldoutScore(
                    agent=row.agent, idea=row.idea, n=row.n, accuracy=row.accuracy,
                    pgr=row.pgr, pgr_low=row.pgr_low, pgr_high=row.pgr_high,
                    feedback_pgr=row.feedback_pgr, flags=flags, created=row.created)
        except _BudgetExhausted:
            reject(key, HTTPException(429, f"holdout budget of agent {key.agent!r} exhausted"))
        except IntegrityError:
            reject(key, HTTPException(409, f"idea {body.idea!r} already had its one blind "
                                           "holdout scoring"))
        history.add(key.agent, HOLDOUT, scored.hard)
        return response

    def board() -> list[LeaderboardEntry]:
        """From the running totals: one row per (agent, idea), O(ideas), not O(submissions)."""
        with Session(engine) as session:
            ideas = session.execute(select(Idea.agent, Idea.idea, Idea.submissions,
                                           Idea.best_accuracy, Idea.best_pgr, Idea.flags,
                                           Idea.last_submission)).all()
            held = {(h.agent, h.idea): h for h in session.execute(
                select(Holdout.agent, Holdout.idea, Holdout.pgr, Holdout.pgr_low,
                       Holdout.pgr_high, Holdout.flags)).all()}
            agent_flags = {a.name: json.loads(a.flags) for a in session.execute(
                select(AgentRow.name, AgentRow.flags)).all()}
            costs = ledger.per_idea(session.connection())
        entries = []
        for row in ideas:
            h = held.get((row.agent, row.idea))
            cost = costs.get((row.agent, row.idea), {})
            flags = _union(json.loads(row.flags), agent_flags.get(row.agent, []),
                           [] if h is None else json.loads(h.flags))
            entries.append((h, dict(
                agent=row.agent, idea=row.idea, submissions=row.submissions,
                best_feedback_pgr=row.best_pgr, best_feedback_accuracy=row.best_accuracy,
                holdout_pgr_low=None if h is None else h.pgr_low,
                holdout_pgr_high=None if h is None else h.pgr_high,
                flags=flags, last_submission=row.last_submission, **cost,
                counted=cost.get("seeds", 0) >= settings.ledger.min_seeds,
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

    @app.get("/v1/leaderboard", response_model=list[LeaderboardEntry], tags=["agents"],
             responses=_AUTH)
    def leaderboard(_key: Agent) -> list[LeaderboardEntry]:
        """One row per (agent, idea) from released scores: clean entries first, then by
        coarse holdout PGR (shown as its interval), then by feedback PGR."""
        return board()

    def finding_of(row: FindingRow, sub: Submission | None) -> Finding:
        verified = None if sub is None else {
            "accuracy": sub.accuracy, "pgr": sub.pgr, "new_best": sub.new_best,
            "flags": json.loads(sub.flags)}
        try:
            config = json.loads(row.config)
        except (ValueError, RecursionError):  # written by an older server: never a 500
            config = {"unreadable": True}
        return Finding(id=row.id, agent=row.agent, idea=row.idea, hypothesis=row.hypothesis,
                       config=config if isinstance(config, dict) else {"unreadable": True},
                       body=row.body, submission_id=row.submission_id, verified=verified,
                       created=row.created)

    @app.post("/v1/findings", response_model=Finding, status_code=201, tags=["agents"],
              responses={**_WRITE, 404: {"model": Error,
                                         "description": "no such submission of yours"}})
    def post_finding(body: FindingIn, key: Agent) -> Finding:
        """Share a finding; link your submission and the server's score is shown beside it."""
        config = config_json(body.config)
        with writing, Session(engine, expire_on_commit=False) as session, session.begin():
            sub = None
            if body.submission_id is not None:
                sub = session.get(Submission, body.submission_id)
                if sub is None or sub.agent != key.agent:
                    raise HTTPException(404, f"no submission {body.submission_id} of yours")
            row = FindingRow(key_id=key.id, agent=key.agent, idea=body.idea,
                             hypothesis=body.hypothesis, config=config, body=body.body,
                             submission_id=body.submission_id, created=time.time())
            session.add(row)
            session.flush()
            response = finding_of(row, sub)  # built before the commit: no row it cannot show
        return response

    def recent_findings(q: str | None = None, agent: str | None = None,
                        idea: str | None = None, limit: int = 50) -> list[Finding]:
        query = select(FindingRow, Submission).outerjoin(
            Submission, FindingRow.submission_id == Submission.id)
        if q:
            pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(*(column.ilike(pattern, escape="\\") for column in (
                FindingRow.hypothesis, FindingRow.body, FindingRow.idea, FindingRow.config))))
        if agent:
            query = query.where(FindingRow.agent == agent)
        if idea:
            query = query.where(FindingRow.idea == idea)
        with Session(engine) as session:
            rows = session.execute(query.order_by(FindingRow.id.desc()).limit(limit)).all()
            return [finding_of(f, s) for f, s in rows]

    @app.get("/v1/findings", response_model=list[Finding], tags=["agents"], responses=_READ)
    def findings(_key: Agent, q: Annotated[str | None, Query(max_length=200)] = None,
                 agent: Annotated[str | None, Query(max_length=80)] = None,
                 idea: Annotated[str | None, Query(max_length=80)] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[Finding]:
        """Newest first; ``q`` searches hypothesis, body, idea and config text."""
        return recent_findings(q, agent, idea, limit)

    page_lock, page_cache = threading.Lock(), {"at": -math.inf, "html": ""}

    def render_home() -> str:
        """O(agents + ideas + ladder steps): running totals, never a rescan."""
        with Session(engine) as session:
            rows = session.execute(
                select(Submission.agent, Submission.created, Submission.pgr)
                .where(Submission.new_best.is_(True), Submission.pgr.is_not(None))
                .order_by(Submission.id.desc()).limit(5000)).all()
            agents = session.execute(
                select(AgentRow.name.label("agent"), AgentRow.used_submissions.label("used"),
                       AgentRow.max_submissions.label("budget"),
                       AgentRow.used_holdout.label("holdout_used"),
                       AgentRow.max_holdout.label("holdout_budget"), AgentRow.rejected)
                .order_by(AgentRow.name)).all()
        series: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for row in reversed(rows):
            series[row.agent].append((row.created, row.pgr))
        return dashboard.render(
            experiment=experiment, baselines=served, entries=board(), series=series,
            findings=recent_findings(limit=10), agents=[a._asdict() for a in agents])

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> HTMLResponse:
        # One render per ttl, shared by every reader: anonymous reloads cost agents nothing.
        with page_lock:
            if time.monotonic() - page_cache["at"] > settings.dashboard_ttl_s:
                page_cache["html"], page_cache["at"] = render_home(), time.monotonic()
            html = page_cache["html"]
        return HTMLResponse(html)

    return app


class _BudgetExhausted(Exception):
    pass


# --------------------------------------------------------------------------- running


@dataclass
class RunningServer:
    """A server on a background thread; ``stop()`` (or leaving ``with``) shuts it down."""

    base_url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    def create_key(self, agent: str, **budgets) -> str:
        """A new API key in this server's database (see ``db.create_key`` for budgets)."""
        return create_key(self.app.state.engine, agent, **budgets)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.app.state.engine.dispose()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def settle_heap() -> None:
    """Take everything alive at startup (torch, the data, the app) out of the cyclic
    collector's view. Otherwise a full collection rescans that heap under traffic: a
    ~200 ms pause that every request in flight waits for (in the benchmark, 8 clients
    stalled at once: exactly the slowest 1%)."""
    gc.collect()
    gc.freeze()


def start_server_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                           timeout: float = 15.0) -> RunningServer:
    """Serve ``app`` with uvicorn on a background thread (port 0: a free one)."""
    settle_heap()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           access_log=False, timeout_keep_alive=30))
    thread = threading.Thread(target=server.run, daemon=True, name="w2s-eval-server")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the evaluation server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    return RunningServer(f"http://{bound[0]}:{bound[1]}", app, server, thread)


def serve_experiment(exp, train_seeds=(0,), database_url: str | None = None,
                     settings: ServerSettings | None = None, baselines: Baselines | None = None,
                     progress: bool = False) -> RunningServer:
    """Build the server for ``exp`` (cached pipeline stages) and run it in the background."""
    data = EvalData.from_experiment(exp, train_seeds, baselines=baselines, progress=progress)
    return start_server_in_thread(create_app(data, database_url, settings))


# --------------------------------------------------------------------------- CLI


def _experiment(args: argparse.Namespace):
    from ..pipeline import Experiment

    fields = json.loads(Path(args.experiment).read_text()) if args.experiment else {}
    for name in ("task", "seed", "weak_model", "strong_model", "regime"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.sizes:
        fields["sizes"] = json.loads(args.sizes)
    return Experiment(**fields)


def main(argv: list[str] | None = None) -> None:
    """``w2s-server``: compute (or load) baselines for one experiment and serve it."""
    from ..cache import ArtifactStore

    parser = argparse.ArgumentParser(prog="w2s-server", description=__doc__.split("\n")[0])
    parser.add_argument("--experiment", help="JSON file of Experiment fields")
    parser.add_argument("--task")
    parser.add_argument("--seed", type=int, help="the split seed (fixes test and holdout)")
    parser.add_argument("--weak-model", dest="weak_model")
    parser.add_argument("--strong-model", dest="strong_model")
    parser.add_argument("--regime", choices=["linear_probe", "finetune"])
    parser.add_argument("--sizes", help='JSON, e.g. \'{"weak_train": 1000, "pool": 4000, ...}\'')
    parser.add_argument("--train-seeds", default="0,1,2",
                        help="training seeds the ceiling is averaged over (default 0,1,2)")
    parser.add_argument("--baselines", help="JSON file of Baselines: skip training the ceiling")
    parser.add_argument("--db", help="SQLAlchemy URL (default $W2S_RESEARCH_DB or a SQLite "
                                     "file in the cache folder)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="bind address (default 127.0.0.1; others expose the server)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-body-mb", type=float, default=8.0)
    args = parser.parse_args(argv)
    try:
        exp = _experiment(args)
        seeds = [int(s) for s in args.train_seeds.split(",") if s.strip()]
        given = (Baselines.model_validate_json(Path(args.baselines).read_text())
                 if args.baselines else None)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    print(f"preparing {exp.task}: weak {exp.weak_model} → strong {exp.strong_model} "
          f"({exp.regime}), ceiling seeds {seeds} …", flush=True)
    data = EvalData.from_experiment(exp, seeds, baselines=given, store=ArtifactStore(),
                                    progress=True)
    print(f"baselines: {data.baselines.model_dump_json()}", flush=True)
    settings = ServerSettings(max_body_bytes=int(args.max_body_mb * 2**20))
    app = create_app(data, args.db, settings)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {args.host}: reachable beyond this machine; API keys are "
              "the only protection", flush=True)
    print(f"serving on http://{args.host}:{args.port} (dashboard /, docs /docs)", flush=True)
    settle_heap()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
