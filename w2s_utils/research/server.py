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

Start it with ``w2s-server`` (``cli``), or from Python with ``runner.serve_experiment`` /
``runner.start_server_in_thread``; issue keys with ``python -m w2s_utils.research.admin``.
This module is the HTTP surface: the routes, each a call into ``evaluation``. Costs
(CPU-seconds, evaluation calls, LLM tokens and dollars), their budgets and the seed gate
are kept by ``ledger`` (endpoints in ``ledger_routes``).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse

from . import ledger, ledger_routes, queries
from .db import make_engine
from .evaldata import EvalData
from .evaluation import Evaluation, ServerSettings
from .guards import Agent, BodyLimit, add_error_handlers, authenticate
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
)

# Errors each kind of endpoint can answer, declared in the OpenAPI schema with one model.
_AUTH = {401: {"model": Error, "description": "missing, invalid or revoked API key"}}
_READ = {**_AUTH, 422: {"model": Error, "description": "invalid query or path parameter"}}
_WRITE = {**_READ, 400: {"model": Error, "description": "the body is not parseable JSON"},
          413: {"model": Error, "description": "the body is over the size limit"},
          422: {"model": Error, "description": "the body failed validation"}}
_SCORING = {**_WRITE, 409: {"model": Error, "description": "conflicts with what is stored"},
            429: {"model": Error, "description": "budget spent or rate limit hit "
                                                 "(Retry-After says when to retry)"}}


async def _evaluation(request: Request) -> Evaluation:
    return request.app.state.evaluation


Served = Annotated[Evaluation, Depends(_evaluation)]
router = APIRouter()


def create_app(data: EvalData, database_url: str | None = None,
               settings: ServerSettings | None = None) -> FastAPI:
    """The FastAPI app for one task's ground truth and baselines, over one database."""
    settings = settings or ServerSettings()
    engine = make_engine(database_url)
    evaluation = Evaluation(data, engine, settings)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        evaluation.history.close()  # the last batch of packed predictions

    app = FastAPI(
        lifespan=lifespan,
        title="W2S evaluation server",
        description=__doc__, version="2",
        openapi_tags=[{"name": "agents", "description": "need `Authorization: Bearer <key>`"}],
    )
    app.state.engine, app.state.data, app.state.evaluation = engine, data, evaluation
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    add_error_handlers(app)
    app.include_router(router)
    ledger.create_tables(engine)
    app.include_router(ledger_routes.router(engine, settings.ledger, authenticate,
                                            evaluation.writing, _WRITE))
    return app


@router.get("/health", response_model=dict)
def health(served: Served) -> dict:
    return {"status": "ok", "task": served.data.experiment.task,
            "submissions": queries.submission_count(served.engine)}


@router.get("/v1/task", response_model=TaskInfo, tags=["agents"], responses=_AUTH)
def task(_key: Agent, served: Served) -> TaskInfo:
    """The experiment agents reproduce (no data), split sizes and served baselines."""
    return served.task_info()


@router.get("/v1/data/{split}", response_model=DataView, tags=["agents"], responses=_READ)
def split_data(split: Literal["pool", "val", "test", "holdout"], _key: Agent,
               served: Served) -> Response:
    """Ids and texts of one split, and the weak soft labels on pool and val: no labels."""
    return Response(served.views[split], media_type="application/json")


@router.get("/v1/baselines", response_model=Baselines, tags=["agents"], responses=_AUTH)
def baselines(_key: Agent, served: Served) -> Baselines:
    """Weak and ceiling accuracy per scored split, rounded to 3 decimals."""
    return served.scorer.served


@router.post("/v1/submissions", response_model=Score, status_code=201, tags=["agents"],
             responses=_SCORING)
def submit(body: SubmissionIn, key: Agent, served: Served) -> Score:
    """Score predictions for every ``test`` example through the Ladder: your best
    accuracy (and its PGR) so far, updated only when this beats it by one step."""
    return served.submit(key, body)


@router.post("/v1/holdout", response_model=HoldoutScore, status_code=201, tags=["agents"],
             responses=_SCORING)
def holdout(body: PredictionsIn, key: Agent, served: Served) -> HoldoutScore:
    """The one blind scoring of an idea on ``holdout``, shown only to you: a coarse PGR
    with its 95% interval, compared with the idea's feedback PGR."""
    return served.holdout(key, body)


@router.get("/v1/leaderboard", response_model=list[LeaderboardEntry], tags=["agents"],
            responses=_AUTH)
def leaderboard(_key: Agent, served: Served) -> list[LeaderboardEntry]:
    """One row per (agent, idea) from released scores: clean entries first, then by
    coarse holdout PGR (shown as its interval), then by feedback PGR."""
    return served.leaderboard()


@router.post("/v1/findings", response_model=Finding, status_code=201, tags=["agents"],
             responses={**_WRITE, 404: {"model": Error,
                                        "description": "no such submission of yours"}})
def post_finding(body: FindingIn, key: Agent, served: Served) -> Finding:
    """Share a finding; link your submission and the server's score is shown beside it."""
    return served.post_finding(key, body)


@router.get("/v1/findings", response_model=list[Finding], tags=["agents"], responses=_READ)
def findings(_key: Agent, served: Served,
             q: Annotated[str | None, Query(max_length=200)] = None,
             agent: Annotated[str | None, Query(max_length=80)] = None,
             idea: Annotated[str | None, Query(max_length=80)] = None,
             limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[Finding]:
    """Newest first; ``q`` searches hypothesis, body, idea and config text."""
    return queries.recent_findings(served.engine, q, agent, idea, limit)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(served: Served) -> HTMLResponse:
    return HTMLResponse(served.home_page())
