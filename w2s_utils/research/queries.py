"""The evaluation server's database access: prepared statements and the reads and writes
its routes make (budgets, the ladder's best, ideas' running totals, findings)."""

from __future__ import annotations

import json
import time
from collections import defaultdict

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from .db import AgentRow, ApiKey, FindingRow, Holdout, Idea, PackedPredictions, Submission
from .schemas import Finding, FindingIn

# The statements every submission runs, built once: building one per request (and its
# cache key, which walks the values) was a tenth of the server's CPU time.
KEY_BY_HASH = (select(ApiKey.id, ApiKey.agent, AgentRow.rate_per_minute, ApiKey.revoked)
               .join(AgentRow, AgentRow.name == ApiKey.agent)
               .where(ApiKey.key_hash == bindparam("key_hash")))
HISTORY_NEWER = (select(PackedPredictions.id, PackedPredictions.hard)
                 .where(PackedPredictions.agent == bindparam("agent"),
                        PackedPredictions.split == bindparam("split"),
                        PackedPredictions.id > bindparam("newest"),
                        PackedPredictions.writer != bindparam("writer"))
                 .order_by(PackedPredictions.id))
INSERT_PACKED = insert(PackedPredictions)
HISTORY_TOP = select(func.max(PackedPredictions.id))
INSERT_SUBMISSION = insert(Submission)
SET_BEST = (update(AgentRow).where(AgentRow.name == bindparam("agent"))
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


CONSUME = {"submissions": _consume_statement(AgentRow.used_submissions,
                                             AgentRow.max_submissions),
           "holdout": _consume_statement(AgentRow.used_holdout, AgentRow.max_holdout)}

SUBMISSION_FIELDS = ("id", "agent", "idea", "n", "accuracy", "pgr", "new_best", "flags",
                     "created")


def union(*flag_lists) -> list[str]:
    return sorted({f for flags in flag_lists for f in flags})


def count_rejection(session: Session, agent: str) -> None:
    session.execute(update(AgentRow).where(AgentRow.name == agent)
                    .values(rejected=AgentRow.rejected + 1))


def mark_agent(connection, agent: str, agent_flags: str, new: list[str]) -> list[str]:
    """Add ``new`` to the agent's flags (written only when something is new)."""
    current = json.loads(agent_flags)
    if set(new) - set(current):
        current = union(current, new)
        connection.execute(update(AgentRow).where(AgentRow.name == agent)
                           .values(flags=json.dumps(current)))
    return current


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
            "flags": json.dumps(union(json.loads(row["flags"]))),
            "last_submission": row["created"]})
        return
    merged = current.flags
    if row["flags"] != "[]":
        merged = json.dumps(union(json.loads(current.flags), json.loads(row["flags"])))
    connection.execute(_IDEA_CLIMB if better else _IDEA_COUNT, {
        "idea_id": current.id, "last_submission": row["created"], "merged": merged,
        **({"accuracy": row["accuracy"], "pgr": row["pgr"]} if better else {})})


def stored_submission(engine, key_id: int, agent: str, token: str
                      ) -> tuple[dict, int] | None:
    """The submission a key stored under ``token`` and the agent's submissions left."""
    with Session(engine) as session:
        row = session.scalar(select(Submission).where(Submission.key_id == key_id,
                                                      Submission.client_token == token))
        if row is None:
            return None
        budget = session.scalar(select(AgentRow).where(AgentRow.name == agent))
        return ({c: getattr(row, c) for c in SUBMISSION_FIELDS},
                budget.max_submissions - budget.used_submissions)


def submission_count(engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count(Submission.id)))


def idea_state(engine, agent: str, idea: str):
    """An idea's feedback totals (None: never submitted) and its holdout row id, if any."""
    with Session(engine) as session:
        totals = session.execute(select(Idea.best_pgr, Idea.best_accuracy).where(
            Idea.agent == agent, Idea.idea == idea)).first()
        done = session.scalar(select(Holdout.id).where(Holdout.agent == agent,
                                                       Holdout.idea == idea))
    return totals, done


def leaderboard_rows(engine) -> tuple[list, dict, dict]:
    """Ideas' running totals, holdout rows by (agent, idea), and each agent's flags."""
    with Session(engine) as session:
        ideas = session.execute(select(Idea.agent, Idea.idea, Idea.submissions,
                                       Idea.best_accuracy, Idea.best_pgr, Idea.flags,
                                       Idea.last_submission)).all()
        held = {(h.agent, h.idea): h for h in session.execute(
            select(Holdout.agent, Holdout.idea, Holdout.pgr, Holdout.pgr_low,
                   Holdout.pgr_high, Holdout.flags)).all()}
        agent_flags = {a.name: json.loads(a.flags) for a in session.execute(
            select(AgentRow.name, AgentRow.flags)).all()}
    return ideas, held, agent_flags


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


def add_finding(session: Session, key_id: int, agent: str, body: FindingIn, config: str,
                sub: Submission | None) -> Finding:
    """Store a finding; its response is built before the commit (no row it cannot show)."""
    row = FindingRow(key_id=key_id, agent=agent, idea=body.idea,
                     hypothesis=body.hypothesis, config=config, body=body.body,
                     submission_id=body.submission_id, created=time.time())
    session.add(row)
    session.flush()
    return finding_of(row, sub)


def recent_findings(engine, q: str | None = None, agent: str | None = None,
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


def dashboard_rows(engine) -> tuple[dict[str, list[tuple[float, float]]], list[dict]]:
    """Each agent's climbs (time, PGR), oldest first, and its budgets: O(agents + steps)."""
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
    return series, [a._asdict() for a in agents]
