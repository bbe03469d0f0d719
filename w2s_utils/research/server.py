"""The evaluation server: the only process that holds ground truth for ``test`` and ``holdout``.

Agents fetch a label-free view of the task (texts, ids, weak soft labels on pool/val),
submit *predictions*, and get back aggregate scores (accuracy, PGR against fixed
baselines) — never labels or per-example correctness. Feedback scores come from
``test``; each idea gets one blind scoring on ``holdout``. The leaderboard is computed
here from server scores only, every submission runs the reward-hacking detectors, and
the dashboard at ``/`` shows it all read-only. OpenAPI docs are at ``/docs``.

Start it with ``w2s-server`` (see ``main``), or from Python with ``serve_experiment`` /
``start_server_in_thread``; issue keys with ``python -m w2s_utils.research.admin``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import threading
import time
from collections import defaultdict, deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..metrics import pgr as pgr_of
from . import dashboard, detectors
from .db import ApiKey, FindingRow, Holdout, Submission, create_key, hash_key, make_engine
from .detectors import DetectorSettings
from .evaldata import EvalData
from .schemas import (
    MAX_CONFIG_BYTES,
    Baselines,
    DataView,
    Finding,
    FindingIn,
    HoldoutScore,
    LeaderboardEntry,
    PredictionsIn,
    Score,
    SubmissionIn,
    TaskInfo,
)

FEEDBACK, HOLDOUT = "test", "holdout"

# The statements every submission runs, built once: building one per request (and its
# cache key, which walks the values) was a tenth of the server's CPU time.
_KEY_BY_HASH = (select(ApiKey.id, ApiKey.agent, ApiKey.rate_per_minute, ApiKey.revoked)
                .where(ApiKey.key_hash == bindparam("key_hash")))
_HISTORY = select(Submission.id, Submission.created, Submission.hard).order_by(
    Submission.id.desc()).limit(bindparam("history"))
_HISTORY_IN_WINDOW = _HISTORY.where(Submission.agent == bindparam("agent"),
                                    Submission.created >= bindparam("oldest"))
_HISTORY_NEWER = _HISTORY.where(Submission.agent == bindparam("agent"),
                                Submission.id > bindparam("newest"))
_INSERT_SUBMISSION = insert(Submission)


def _consume_statement(used, limit):
    """Take one unit of a key's budget atomically, returning the units left (no row: none)."""
    return (update(ApiKey).where(ApiKey.id == bindparam("key_id"), used < limit)
            .values({used: used + 1}).returning(limit - used))


_CONSUME = {"submissions": _consume_statement(ApiKey.used_submissions, ApiKey.max_submissions),
            "holdout": _consume_statement(ApiKey.used_holdout, ApiKey.max_holdout)}


@dataclass(frozen=True)
class ServerSettings:
    max_body_bytes: int = 8 * 2**20
    # Scores are feedback, not a measuring instrument: rounding blurs (it cannot stop)
    # per-example probing; budgets and the probing detector are the guard.
    metric_decimals: int = 3
    detectors: DetectorSettings = field(default_factory=DetectorSettings)


@dataclass(frozen=True)
class KeyInfo:
    id: int
    agent: str
    rate_per_minute: int


class RecentPredictions:
    """Each agent's latest packed predictions, for the probing detector.

    Reading the last ``history`` rows on every submission was a third of the server's
    time under load (each row fetched is a trip through the GIL). The cache asks the
    database only for rows with a higher id than any it holds. SQLite assigns ids under
    its write lock, in commit order, so the cache stays exact even when other processes
    write to the same file; a database that commits out of id order could hide a row
    that raced another commit.
    """

    def __init__(self, engine, history: int):
        self.engine, self.history = engine, history
        self._lock = threading.Lock()
        self._rows: dict[str, list] = {}  # agent -> [(id, created, hard)], newest first

    def since(self, agent: str, oldest: float) -> list[bytes]:
        with self._lock:
            cached = self._rows.get(agent)
        query, bound = ((_HISTORY_NEWER, {"newest": cached[0][0]}) if cached
                        else (_HISTORY_IN_WINDOW, {"oldest": oldest}))
        with self.engine.connect() as connection:
            fetched = connection.execute(
                query, {"agent": agent, "history": self.history, **bound}).all()
        with self._lock:
            merged = {row[0]: tuple(row) for row in (*fetched, *self._rows.get(agent, []))}
            rows = sorted(merged.values(), reverse=True)[:self.history]
            self._rows[agent] = rows
        return [hard for _, created, hard in rows if created >= oldest]


class RateLimiter:
    """At most ``per_minute`` requests per key in any 60-second window (in memory)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._events: dict[int, deque] = defaultdict(deque)

    def retry_after(self, key_id: int, per_minute: int) -> float | None:
        """None if allowed (and counted), else seconds until the next slot frees."""
        if per_minute <= 0:
            return 60.0
        now = time.monotonic()
        with self._lock:
            events = self._events[key_id]
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


class _Scored:
    """A validated prediction set and its server-side score."""

    def __init__(self, data: EvalData, split: str, body: PredictionsIn):
        scored = data.scored[split]
        positions, probs = _validate(body, split, scored.index)
        hard = (probs > 0.5).astype(np.int64)
        canonical = np.empty(len(scored), dtype=np.int64)  # in split order, for comparisons
        canonical[positions] = hard
        self.split, self.n, self.probs, self.hard = split, len(scored), probs, canonical
        self.accuracy = float((hard == scored.labels[positions]).mean())
        self.weak_agreement = float((hard == scored.weak_hard[positions]).mean())
        self.weak_accuracy = data.baselines.weak[split]
        value = pgr_of(self.accuracy, self.weak_accuracy, data.baselines.ceiling[split])
        self.pgr = None if math.isnan(value) else value


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


def _printable(value) -> str | int:
    """A location or message part that is safe to send back (no lone surrogates)."""
    if isinstance(value, int):
        return value
    return str(value)[:200].encode("utf-8", "backslashreplace").decode("utf-8")


def _invalid(message: str):
    raise HTTPException(422, message)


def _config_json(config: dict) -> str:
    """The config as stored: finite numbers and valid Unicode only, size-limited."""
    try:
        text = json.dumps(config, sort_keys=True, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        _invalid("config must be JSON with finite numbers and valid Unicode text")
    except RecursionError:
        _invalid("config is nested too deeply")
    if len(text) > MAX_CONFIG_BYTES:
        _invalid(f"config is {len(text)} bytes as JSON; the limit is {MAX_CONFIG_BYTES}")
    return text


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


def create_app(data: EvalData, database_url: str | None = None,
               settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI app for one task's ground truth and baselines, over one database."""
    settings = settings or ServerSettings()
    engine = make_engine(database_url)
    limiter = RateLimiter()
    history = RecentPredictions(engine, settings.detectors.probe_history)
    # SQLite has one writer at a time; queueing here beats its busy-wait sleeps.
    writing = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
    decimals = settings.metric_decimals
    experiment = data.experiment.model_dump(mode="json")
    views = {name: view.model_dump_json().encode() for name, view in data.views.items()}
    app = FastAPI(
        title="W2S evaluation server",
        description=__doc__, version="1",
        openapi_tags=[{"name": "agents", "description": "need `Authorization: Bearer <key>`"}],
    )
    app.state.engine, app.state.data = engine, data
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request, error: RequestValidationError):
        # Without the echoed input: a rejected submission can be megabytes long.
        details = [{"loc": [_printable(part) for part in e.get("loc", ())],
                    "msg": _printable(e.get("msg", ""))} for e in error.errors()[:20]]
        return JSONResponse({"detail": details}, status_code=422)

    def rnd(value: float | None) -> float | None:
        return None if value is None or math.isnan(value) else round(value, decimals)

    def reject(key: KeyInfo, error: HTTPException):
        with writing, Session(engine) as session, session.begin():
            session.execute(update(ApiKey).where(ApiKey.id == key.id)
                            .values(rejected=ApiKey.rejected + 1))
        raise error

    def admit(key: KeyInfo, split: str, body: PredictionsIn) -> _Scored:
        """Rate limit, then validate and score; both failures count as rejected."""
        wait = limiter.retry_after(key.id, key.rate_per_minute)
        if wait is not None:
            reject(key, HTTPException(
                429, f"rate limit of {key.rate_per_minute} submissions per minute",
                headers={"Retry-After": str(math.ceil(wait))}))
        try:
            scored = _Scored(data, split, body)
        except HTTPException as error:
            reject(key, error)
        return scored

    def score_of(row: Submission, left: int) -> Score:
        return Score(submission_id=row.id, agent=row.agent, idea=row.idea, split=FEEDBACK,
                     n=row.n, accuracy=rnd(row.accuracy), pgr=rnd(row.pgr),
                     flags=json.loads(row.flags), created=row.created, submissions_left=left)

    def existing(key: KeyInfo, token: str) -> Score | None:
        with Session(engine) as session:
            row = session.scalar(select(Submission).where(Submission.key_id == key.id,
                                                          Submission.client_token == token))
            if row is None:
                return None
            budget = session.get(ApiKey, key.id)
            return score_of(row, budget.max_submissions - budget.used_submissions)

    @app.get("/health")
    def health() -> dict:
        with Session(engine) as session:
            count = session.scalar(select(func.count(Submission.id)))
        return {"status": "ok", "task": data.experiment.task, "submissions": count}

    @app.get("/v1/task", response_model=TaskInfo, tags=["agents"])
    def task(_key: Agent) -> TaskInfo:
        """The experiment agents reproduce (no data), split sizes and baselines."""
        return TaskInfo(experiment=experiment,
                        split_sizes={name: len(v.ids) for name, v in data.views.items()},
                        feedback_split=FEEDBACK, holdout_split=HOLDOUT,
                        baselines=data.baselines)

    @app.get("/v1/data/{split}", response_model=DataView, tags=["agents"])
    def split_data(split: Literal["pool", "val", "test", "holdout"], _key: Agent) -> Response:
        """Ids and texts of one split, and the weak soft labels on pool and val: no labels."""
        return Response(views[split], media_type="application/json")

    @app.get("/v1/baselines", response_model=Baselines, tags=["agents"])
    def baselines(_key: Agent) -> Baselines:
        return data.baselines

    @app.post("/v1/submissions", response_model=Score, status_code=201, tags=["agents"])
    def submit(body: SubmissionIn, key: Agent) -> Score:
        """Score predictions for every ``test`` example: accuracy and PGR, nothing per example."""
        config = _config_json(body.config)
        scored = admit(key, FEEDBACK, body)
        flags = submission_flags(key, scored)
        row = dict(key_id=key.id, agent=key.agent, idea=body.idea, created=time.time(),
                   n=scored.n, accuracy=scored.accuracy, pgr=scored.pgr,
                   weak_agreement=scored.weak_agreement, hard=detectors.pack(scored.hard),
                   config=config, client_token=body.client_token, flags=json.dumps(flags))
        try:
            # Core, write first: the budget UPDATE takes the write lock before anything else.
            with writing, engine.begin() as connection:
                left = connection.scalar(_CONSUME["submissions"], {"key_id": key.id})
                if left is None:
                    raise _BudgetExhausted
                row["id"] = connection.execute(
                    _INSERT_SUBMISSION, row).inserted_primary_key[0]
        except (_BudgetExhausted, IntegrityError) as error:
            # A retry of a stored submission (same client_token) gets the stored score.
            if body.client_token and (done := existing(key, body.client_token)):
                return done
            if isinstance(error, IntegrityError):
                raise
            reject(key, HTTPException(429, "submission budget exhausted for this key"))
        return score_of(Submission(**row), left)

    def prediction_flags(scored: _Scored) -> list[str]:
        rules = settings.detectors
        flags = []
        if detectors.is_constant(scored.probs, scored.hard, rules):
            flags.append("constant")
        if detectors.ignores_weak(scored.weak_agreement, scored.accuracy,
                                  scored.weak_accuracy, scored.pgr, rules):
            flags.append("ignores_weak")
        return flags

    def submission_flags(key: KeyInfo, scored: _Scored) -> list[str]:
        rules = settings.detectors
        flags = prediction_flags(scored)
        recent = history.since(key.agent, time.time() - rules.probe_window_s)
        if detectors.near_duplicates(scored.hard, recent, rules) >= rules.probe_count:
            flags.append("probing")
        return flags

    @app.post("/v1/holdout", response_model=HoldoutScore, status_code=201, tags=["agents"])
    def holdout(body: PredictionsIn, key: Agent) -> HoldoutScore:
        """The one blind scoring of an idea on ``holdout``, compared with its feedback PGR."""
        config = _config_json(body.config)
        with Session(engine) as session:
            best = session.execute(
                select(Submission.pgr, Submission.accuracy, Submission.n)
                .where(Submission.agent == key.agent, Submission.idea == body.idea)
                .order_by(Submission.pgr.desc().nulls_last()).limit(1)).first()
            done = session.scalar(select(Holdout.id).where(Holdout.agent == key.agent,
                                                           Holdout.idea == body.idea))
        if best is None:
            reject(key, HTTPException(409, f"idea {body.idea!r} has no feedback submission; "
                                           "submit test predictions for it first"))
        if done is not None:
            reject(key, HTTPException(409, f"idea {body.idea!r} already had its one blind "
                                           "holdout scoring"))
        scored = admit(key, HOLDOUT, body)
        flags = prediction_flags(scored)
        base = data.baselines
        error = math.hypot(
            detectors.pgr_standard_error(best.accuracy, best.n, base.weak[FEEDBACK],
                                         base.ceiling[FEEDBACK]),
            detectors.pgr_standard_error(scored.accuracy, scored.n, base.weak[HOLDOUT],
                                         base.ceiling[HOLDOUT]))
        if detectors.holdout_gap(best.pgr, scored.pgr, error, settings.detectors):
            flags.append("holdout_gap")
        row = Holdout(key_id=key.id, agent=key.agent, idea=body.idea, created=time.time(),
                      n=scored.n, accuracy=scored.accuracy, pgr=scored.pgr,
                      feedback_pgr=best.pgr, config=config, flags=json.dumps(flags))
        try:
            with writing, Session(engine, expire_on_commit=False) as session, session.begin():
                if session.scalar(_CONSUME["holdout"], {"key_id": key.id}) is None:
                    raise _BudgetExhausted
                session.add(row)
        except _BudgetExhausted:
            reject(key, HTTPException(429, "holdout budget exhausted for this key"))
        except IntegrityError:
            reject(key, HTTPException(409, f"idea {body.idea!r} already had its one blind "
                                           "holdout scoring"))
        return HoldoutScore(agent=row.agent, idea=row.idea, n=row.n, accuracy=rnd(row.accuracy),
                            pgr=rnd(row.pgr), feedback_pgr=rnd(row.feedback_pgr), flags=flags,
                            created=row.created)

    def board() -> list[LeaderboardEntry]:
        with Session(engine) as session:
            subs = session.execute(
                select(Submission.agent, Submission.idea, Submission.accuracy, Submission.pgr,
                       Submission.flags, Submission.created).order_by(Submission.id)).all()
            held = {(h.agent, h.idea): h for h in session.scalars(select(Holdout))}
        groups: dict[tuple[str, str], list] = defaultdict(list)
        for row in subs:
            groups[(row.agent, row.idea)].append(row)
        entries = []
        for (agent, idea), rows in groups.items():
            best = max(rows, key=lambda r: -math.inf if r.pgr is None else r.pgr)
            flags = {f for r in rows for f in json.loads(r.flags)}
            h = held.get((agent, idea))
            if h is not None:
                flags |= set(json.loads(h.flags))
            entries.append(dict(
                agent=agent, idea=idea, submissions=len(rows),
                best_feedback_pgr=rnd(best.pgr), best_feedback_accuracy=rnd(best.accuracy),
                latest_feedback_pgr=rnd(rows[-1].pgr),
                holdout_pgr=None if h is None else rnd(h.pgr),
                holdout_accuracy=None if h is None else rnd(h.accuracy),
                flags=sorted(flags), last_submission=rows[-1].created))

        def order(e):
            held_pgr, feedback = e["holdout_pgr"], e["best_feedback_pgr"]
            return (held_pgr is None, -(held_pgr if held_pgr is not None else 0),
                    -(feedback if feedback is not None else -math.inf))

        return [LeaderboardEntry(rank=k + 1, **e) for k, e in enumerate(sorted(entries, key=order))]

    @app.get("/v1/leaderboard", response_model=list[LeaderboardEntry], tags=["agents"])
    def leaderboard(_key: Agent) -> list[LeaderboardEntry]:
        """One row per (agent, idea) from server scores, ranked by holdout then feedback PGR."""
        return board()

    def finding_of(row: FindingRow, sub: Submission | None) -> Finding:
        verified = None if sub is None else {
            "accuracy": rnd(sub.accuracy), "pgr": rnd(sub.pgr), "flags": json.loads(sub.flags)}
        return Finding(id=row.id, agent=row.agent, idea=row.idea, hypothesis=row.hypothesis,
                       config=json.loads(row.config), body=row.body,
                       submission_id=row.submission_id, verified=verified,
                       created=row.created)

    @app.post("/v1/findings", response_model=Finding, status_code=201, tags=["agents"])
    def post_finding(body: FindingIn, key: Agent) -> Finding:
        """Share a finding; link your submission and the server's score is shown beside it."""
        config = _config_json(body.config)
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
        return finding_of(row, sub)

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

    @app.get("/v1/findings", response_model=list[Finding], tags=["agents"])
    def findings(_key: Agent, q: Annotated[str | None, Query(max_length=200)] = None,
                 agent: Annotated[str | None, Query(max_length=80)] = None,
                 idea: Annotated[str | None, Query(max_length=80)] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[Finding]:
        """Newest first; ``q`` searches hypothesis, body, idea and config text."""
        return recent_findings(q, agent, idea, limit)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> HTMLResponse:
        with Session(engine) as session:
            rows = session.execute(
                select(Submission.agent, Submission.created, Submission.pgr)
                .where(Submission.pgr.is_not(None))
                .order_by(Submission.id.desc()).limit(5000)).all()
            agents = session.execute(
                select(ApiKey.agent, func.sum(ApiKey.used_submissions).label("used"),
                       func.sum(ApiKey.max_submissions).label("budget"),
                       func.sum(ApiKey.used_holdout).label("holdout_used"),
                       func.sum(ApiKey.max_holdout).label("holdout_budget"),
                       func.sum(ApiKey.rejected).label("rejected"))
                .group_by(ApiKey.agent).order_by(ApiKey.agent)).all()
        series: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for row in reversed(rows):
            series[row.agent].append((row.created, row.pgr))
        return HTMLResponse(dashboard.render(
            experiment=experiment, baselines=data.baselines, entries=board(), series=series,
            findings=recent_findings(limit=10), agents=[a._asdict() for a in agents]))

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
