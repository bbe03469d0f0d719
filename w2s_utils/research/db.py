"""The evaluation server's tables: API keys, scored submissions, holdout scores, findings.

SQLite by default; any SQLAlchemy URL works. Keys are stored only as SHA-256 hashes
(they are 192-bit random tokens, so a plain hash cannot be brute-forced). Budgets are
enforced with a conditional UPDATE inside the insert's transaction, which holds under
concurrent requests on any database.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time

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
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from ..paths import cache_dir

KEY_PREFIX = "w2s_"


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent: Mapped[str] = mapped_column(String(80), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown by `list-keys` to tell keys apart
    created: Mapped[float] = mapped_column(Float)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    rate_per_minute: Mapped[int] = mapped_column(Integer)
    max_submissions: Mapped[int] = mapped_column(Integer)
    used_submissions: Mapped[int] = mapped_column(Integer, default=0)
    max_holdout: Mapped[int] = mapped_column(Integer)
    used_holdout: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)  # malformed or over budget


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("key_id", "client_token"),
                      Index("ix_submissions_agent_created", "agent", "created"))
    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    agent: Mapped[str] = mapped_column(String(80))
    idea: Mapped[str] = mapped_column(String(80), index=True)
    created: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)
    pgr: Mapped[float | None] = mapped_column(Float, nullable=True)
    weak_agreement: Mapped[float] = mapped_column(Float)
    hard: Mapped[bytes] = mapped_column(LargeBinary)  # packed 0/1 predictions, for probing checks
    config: Mapped[str] = mapped_column(Text)
    client_token: Mapped[str | None] = mapped_column(String(64), nullable=True)
    flags: Mapped[str] = mapped_column(Text)  # JSON list


class Holdout(Base):
    __tablename__ = "holdout_scores"
    __table_args__ = (UniqueConstraint("agent", "idea"),)  # one blind scoring per idea
    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    agent: Mapped[str] = mapped_column(String(80))
    idea: Mapped[str] = mapped_column(String(80))
    created: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    accuracy: Mapped[float] = mapped_column(Float)
    pgr: Mapped[float | None] = mapped_column(Float, nullable=True)
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


def default_database_url() -> str:
    return os.environ.get("W2S_RESEARCH_DB") or f"sqlite:///{cache_dir() / 'research.sqlite'}"


def make_engine(url: str | None = None) -> Engine:
    """An engine with the tables created; SQLite gets WAL and a busy timeout for concurrency."""
    url = url or default_database_url()
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        pool = {"poolclass": StaticPool} if memory else {"pool_size": 20, "max_overflow": 20}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               **pool)

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):
            cursor = connection.cursor()
            if not memory:  # with WAL (below): commits skip one fsync
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    if engine.dialect.name == "sqlite" and not memory:
        # WAL (readers never block) is stored in the file: set it once, not on every new
        # pooled connection, where it needs a lock and stalls behind concurrent writers.
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    return engine


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(engine: Engine, agent: str, *, rate_per_minute: int = 30,
               max_submissions: int = 500, max_holdout: int = 5) -> str:
    """A new API key for ``agent``; the plain key is returned once and never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    with Session(engine) as session, session.begin():
        session.add(ApiKey(agent=agent, key_hash=hash_key(key), prefix=key[:10],
                           created=time.time(), rate_per_minute=rate_per_minute,
                           max_submissions=max_submissions, max_holdout=max_holdout))
    return key


def list_keys(engine: Engine) -> list[dict]:
    with Session(engine) as session:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
        return [{"id": r.id, "agent": r.agent, "prefix": r.prefix, "revoked": r.revoked,
                 "rate_per_minute": r.rate_per_minute,
                 "submissions": f"{r.used_submissions}/{r.max_submissions}",
                 "holdout": f"{r.used_holdout}/{r.max_holdout}", "rejected": r.rejected}
                for r in rows]


def revoke_keys(engine: Engine, agent: str) -> int:
    """Revoke every key of ``agent``; returns how many were active."""
    with Session(engine) as session, session.begin():
        result = session.execute(update(ApiKey).where(ApiKey.agent == agent,
                                                      ApiKey.revoked.is_(False))
                                 .values(revoked=True))
        return result.rowcount
