"""The evaluation server's tables: agents, API keys, scored submissions, holdout scores,
running totals per idea, findings; and the secret store of packed predictions.

SQLite by default; any SQLAlchemy URL works. Keys are stored only as SHA-256 hashes
(they are 192-bit random tokens, so a plain hash cannot be brute-forced).

**Identity is the agent, not the key.** Budgets, the rate limit, the feedback ladder (the
best score released so far) and probing history belong to the agent: a second key for
the same agent shares them. Budgets are enforced with a conditional UPDATE inside the
insert's transaction, which holds under concurrent requests on any database.

**What is stored.** Scores are stored as they were released (rounded, on the ladder),
never the exact accuracy, so no computation over the stored rows can recover more than
the agents were told. Raw prediction vectors are not stored in the main database: the
probing detector needs each submission's hard labels, and those are kept, packed, in a
separate *secret* file, ``<database>.predictions.sqlite``, attached to every connection
(so they are written in the submission's own transaction). They carry no score, but next
to a copy of the scores they are what a label-recovery attack works on: keep the file
private. Both SQLite files are created with mode 0600 (their WAL files inherit it). On
other databases the table sits next to the others: restrict access to it there.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from ..paths import cache_dir

KEY_PREFIX = "w2s_"
MAX_BUDGET = 2**31 - 1  # budgets and rates are 32-bit integers in every database
DEFAULT_BUDGETS = {"rate_per_minute": 30, "max_submissions": 500, "max_holdout": 5}


class Base(DeclarativeBase):
    pass


class AgentRow(Base):
    """One agent: its budgets, the feedback ladder and agent-wide flags (e.g. probing)."""

    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    created: Mapped[float] = mapped_column(Float)
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    max_submissions: Mapped[int] = mapped_column(Integer)
    used_submissions: Mapped[int] = mapped_column(Integer, default=0)
    max_holdout: Mapped[int] = mapped_column(Integer)
    used_holdout: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)  # malformed or over budget
    best_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)  # the ladder
    flags: Mapped[str] = mapped_column(Text, default="[]")  # JSON list, on every entry


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent: Mapped[str] = mapped_column(ForeignKey("agents.name"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown by `list-keys` to tell keys apart
    created: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("key_id", "client_token"),
                      Index("ix_submissions_agent_created", "agent", "created"),
                      Index("ix_submissions_new_best_id", "new_best", "id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    agent: Mapped[str] = mapped_column(String(80))
    idea: Mapped[str] = mapped_column(String(80), index=True)
    created: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)  # as released
    pgr: Mapped[float | None] = mapped_column(Float, nullable=True)  # as released
    new_best: Mapped[bool] = mapped_column(Boolean, default=False)
    config: Mapped[str] = mapped_column(Text)
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    flags: Mapped[str] = mapped_column(Text)  # JSON list


class Idea(Base):
    """Running totals per (agent, idea), updated with each submission: the leaderboard and
    the dashboard read these, never the whole submissions table."""

    __tablename__ = "ideas"
    __table_args__ = (UniqueConstraint("agent", "idea"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    agent: Mapped[str] = mapped_column(String(80))
    idea: Mapped[str] = mapped_column(String(80))
    submissions: Mapped[int] = mapped_column(Integer, default=0)
    best_accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)  # set by idea
    best_pgr: Mapped[float | None] = mapped_column(Float, nullable=True)
    flags: Mapped[str] = mapped_column(Text, default="[]")
    last_submission: Mapped[float] = mapped_column(Float)


class Holdout(Base):
    __tablename__ = "holdout_scores"
    __table_args__ = (UniqueConstraint("agent", "idea"),)  # one blind scoring per idea
    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    agent: Mapped[str] = mapped_column(String(80))
    idea: Mapped[str] = mapped_column(String(80))
    created: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)  # coarse, as released
    pgr: Mapped[float | None] = mapped_column(Float, nullable=True)  # coarse
    pgr_low: Mapped[float | None] = mapped_column(Float, nullable=True)  # 95% interval
    pgr_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    feedback_pgr: Mapped[float | None] = mapped_column(Float, nullable=True)
    config: Mapped[str] = mapped_column(Text)
    flags: Mapped[str] = mapped_column(Text)


class FindingRow(Base):
    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    agent: Mapped[str] = mapped_column(String(80), index=True)
    idea: Mapped[str | None] = mapped_column(String(80), nullable=True)
    hypothesis: Mapped[str] = mapped_column(Text)
    config: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"),
                                                      nullable=True)
    created: Mapped[float] = mapped_column(Float, index=True)


SECRET_SCHEMA = "secret"


class PackedPredictions(Base):
    """Hard labels of every scored prediction set, packed: the secret file (module doc).

    In SQLite its table lives in a second file attached to every connection as schema
    ``secret``, so it is written in the same transaction as the submission; on other
    databases the schema name is mapped away and the table sits next to the others."""

    __tablename__ = "packed_predictions"
    __table_args__ = (Index("ix_packed_agent_split_id", "agent", "split", "id"),
                      {"schema": SECRET_SCHEMA})
    id: Mapped[int] = mapped_column(primary_key=True)
    agent: Mapped[str] = mapped_column(String(80))
    split: Mapped[str] = mapped_column(String(16))
    created: Mapped[float] = mapped_column(Float)
    hard: Mapped[bytes] = mapped_column(LargeBinary)
    writer: Mapped[str] = mapped_column(String(16))  # the server process that stored it


def default_database_url() -> str:
    return (os.environ.get("W2S_RESEARCH_DB")
            or f"sqlite:///{cache_dir() / 'research-v2.sqlite'}")


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def secret_path(path: Path) -> Path:
    """The secret file of the SQLite database at ``path``."""
    return path.with_name(path.name + ".predictions.sqlite")


def _create_private(path: Path) -> None:
    """Create the file with mode 0600 (SQLite gives its -wal and -shm files the same)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    os.chmod(path, 0o600)


def make_engine(url: str | None = None) -> Engine:
    """An engine with the tables created; SQLite gets WAL, a busy timeout for concurrency
    and the secret file attached (created 0600, as the database file itself)."""
    url = url or default_database_url()
    memory = False
    if url.startswith("sqlite"):
        path = _sqlite_path(url)
        memory = path is None
        if path is not None:
            _create_private(path)
            _create_private(secret_path(path))
        pool = {"poolclass": StaticPool} if memory else {"pool_size": 20, "max_overflow": 20}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **pool)
        attached = ":memory:" if memory else str(secret_path(path))

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute(f"ATTACH DATABASE ? AS {SECRET_SCHEMA}", (attached,))
            if not memory:  # with WAL (below): commits skip one fsync
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute(f"PRAGMA {SECRET_SCHEMA}.synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True).execution_options(
            schema_translate_map={SECRET_SCHEMA: None})
    Base.metadata.create_all(engine)
    if engine.dialect.name == "sqlite" and not memory:
        # WAL (readers never block) is stored in the file: set it once, not on every new
        # pooled connection, where it needs a lock and stalls behind concurrent writers.
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            connection.exec_driver_sql(f"PRAGMA {SECRET_SCHEMA}.journal_mode=WAL")
    return engine


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def check_budgets(**budgets: int | None) -> dict[str, int]:
    """The given budgets, each an integer in [0, MAX_BUDGET], or ValueError naming it."""
    checked = {}
    for name, value in budgets.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, not {value!r}")
        if not 0 <= value <= MAX_BUDGET:
            raise ValueError(f"{name} must be between 0 and {MAX_BUDGET}, not {value}")
        checked[name] = value
    return checked


def create_key(engine: Engine, agent: str, *, rate_per_minute: int | None = None,
               max_submissions: int | None = None, max_holdout: int | None = None) -> str:
    """A new API key for ``agent``; the plain key is returned once and never stored.

    A new agent gets the given budgets (defaults: ``DEFAULT_BUDGETS``). For an existing
    agent the key shares its budgets and history; budgets given explicitly replace the
    agent's limits (what it has used is never reset)."""
    budgets = check_budgets(rate_per_minute=rate_per_minute, max_submissions=max_submissions,
                            max_holdout=max_holdout)
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    now = time.time()
    with Session(engine) as session, session.begin():
        row = session.scalar(select(AgentRow).where(AgentRow.name == agent))
        if row is None:
            session.add(AgentRow(name=agent, created=now, **{**DEFAULT_BUDGETS, **budgets}))
            session.flush()
        elif budgets:
            session.execute(update(AgentRow).where(AgentRow.name == agent).values(**budgets))
        session.add(ApiKey(agent=agent, key_hash=hash_key(key), prefix=key[:10], created=now))
    return key


def list_keys(engine: Engine) -> list[dict]:
    with Session(engine) as session:
        rows = session.execute(select(ApiKey, AgentRow).join(
            AgentRow, AgentRow.name == ApiKey.agent).order_by(ApiKey.id)).all()
        return [{"id": k.id, "agent": k.agent, "prefix": k.prefix, "revoked": k.revoked,
                 "rate_per_minute": a.rate_per_minute,
                 "submissions": f"{a.used_submissions}/{a.max_submissions}",
                 "holdout": f"{a.used_holdout}/{a.max_holdout}", "rejected": a.rejected}
                for k, a in rows]


def revoke_keys(engine: Engine, agent: str) -> int:
    """Revoke every key of ``agent``; returns how many were active."""
    with Session(engine) as session, session.begin():
        result = session.execute(update(ApiKey).where(ApiKey.agent == agent,
                                                      ApiKey.revoked.is_(False))
                                 .values(revoked=True))
        return result.rowcount
