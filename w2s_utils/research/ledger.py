"""The cost ledger: what each agent and idea spent, its budgets, and the seed gate.

Three kinds of cost, and who measures each:

- **training CPU-seconds** are *reported by the agent* (its process time plus its
  sandboxed children's) with ``POST /v1/costs``: the server never sees the agent's
  machine, so an agent can under-report them. The organizer's re-runs (``transfer``)
  are *measured* by the process that does the work and stored with ``source="server"``:
  a reported figure far below the measured one for the same idea is the tell.
- **evaluation calls** are counted by the server itself: every scored submission and
  holdout request (``Idea.submissions`` and the holdout table); their budget is the
  agent's submission budget (``db.AgentRow.max_submissions``).
- **LLM tokens** are reported by the agent from its proposer's API usage; the *price* is
  computed here from the model name (``LedgerSettings.prices``), so an agent cannot
  report a low price, only (like CPU) fewer tokens. An unknown model is charged the
  highest known price.

Budgets on CPU-seconds and dollars (``set_budgets``; none by default) are checked when a
cost is reported and before each submission: over budget, the server answers 429 with
the budget in words, and the agent loop stops on it.

**Seed gate.** A submission's config may name its ``train_seed`` (default: the served
experiment's seed). An idea *counts* on the leaderboard, and gets a rank, only once it
has been submitted with ``min_seeds`` distinct training seeds; the seeds, like the CPU,
are the agent's word, while the transfer re-runs train every seed themselves.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Float, Integer, String, UniqueConstraint, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Mapped, mapped_column

from .db import AgentRow, Base, Holdout, Idea
from .schemas import CostIn

# $ per million (input, output) tokens; an unknown model is charged the highest.
PRICES = {"claude-sonnet-4-5": (3.0, 15.0), "claude-opus-4-1": (15.0, 75.0),
          "claude-haiku-4-5": (1.0, 5.0), "gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6)}


class LedgerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    min_seeds: int = Field(3, ge=1, description="training seeds before an idea ranks")
    prices: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(PRICES))


class BudgetExceeded(Exception):
    """An agent is over its CPU or dollar budget (the message says which)."""


class CostRow(Base):
    """One reported (``agent``) or measured (``server``) cost of one idea's training."""

    __tablename__ = "costs"
    id: Mapped[int] = mapped_column(primary_key=True)
    agent: Mapped[str] = mapped_column(String(80), index=True)
    idea: Mapped[str | None] = mapped_column(String(80), nullable=True)
    source: Mapped[str] = mapped_column(String(8))  # "agent" or "server"
    created: Mapped[float] = mapped_column(Float)
    cpu_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    model: Mapped[str | None] = mapped_column(String(80), nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    dollars: Mapped[float] = mapped_column(Float, default=0.0)


class CostBudget(Base):
    __tablename__ = "cost_budgets"
    agent: Mapped[str] = mapped_column(String(80), primary_key=True)
    max_cpu_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_dollars: Mapped[float | None] = mapped_column(Float, nullable=True)


class SeedRow(Base):
    """A training seed an idea was submitted with (the seed gate counts these)."""

    __tablename__ = "idea_seeds"
    __table_args__ = (UniqueConstraint("agent", "idea", "seed"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    agent: Mapped[str] = mapped_column(String(80))
    idea: Mapped[str] = mapped_column(String(80))
    seed: Mapped[int] = mapped_column(Integer)


TABLES = [CostRow.__table__, CostBudget.__table__, SeedRow.__table__]

# Run by every submission, so built once (see queries.py): is there a budget, and the seed.
_HAS_BUDGET = select(CostBudget.agent).where(CostBudget.agent == bindparam("agent"))
_INSERT_SEED = {"sqlite": sqlite.insert(SeedRow).on_conflict_do_nothing(),
                "postgresql": postgresql.insert(SeedRow).on_conflict_do_nothing()}


def _insert(connection: Connection, table):
    """An INSERT that can skip or update on conflict (SQLite and PostgreSQL)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def create_tables(engine: Engine) -> None:
    Base.metadata.create_all(engine, tables=TABLES)


def price(settings: LedgerSettings, model: str | None, input_tokens: int,
          output_tokens: int) -> float:
    """Dollars for the tokens at the model's price (the highest known if unknown)."""
    if not input_tokens and not output_tokens:
        return 0.0
    rates = settings.prices.get(model or "") or max(settings.prices.values(),
                                                    key=lambda r: r[0] + r[1])
    return (input_tokens * rates[0] + output_tokens * rates[1]) / 1e6


def set_budgets(engine: Engine, agent: str, *, max_cpu_seconds: float | None = None,
                max_dollars: float | None = None) -> None:
    """CPU-second and dollar budgets of ``agent`` (None: unlimited)."""
    for name, value in (("max_cpu_seconds", max_cpu_seconds), ("max_dollars", max_dollars)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    create_tables(engine)
    with engine.begin() as connection:
        connection.execute(_insert(connection, CostBudget).values(
            agent=agent, max_cpu_seconds=max_cpu_seconds, max_dollars=max_dollars)
            .on_conflict_do_update(index_elements=["agent"], set_={
                "max_cpu_seconds": max_cpu_seconds, "max_dollars": max_dollars}))


def record(connection: Connection, settings: LedgerSettings, agent: str, cost: CostIn,
           source: str, created: float) -> dict:
    """Store one cost; the agent's totals and budgets after it."""
    dollars = price(settings, cost.model, cost.input_tokens, cost.output_tokens)
    connection.execute(CostRow.__table__.insert().values(
        agent=agent, idea=cost.idea, source=source, created=created,
        cpu_seconds=cost.cpu_seconds, model=cost.model, input_tokens=cost.input_tokens,
        output_tokens=cost.output_tokens, dollars=dollars))
    return agent_totals(connection, agent)


def agent_totals(connection: Connection, agent: str) -> dict:
    """What ``agent`` reported spending, its evaluation calls and its budgets."""
    spent = connection.execute(
        select(func.coalesce(func.sum(CostRow.cpu_seconds), 0.0),
               func.coalesce(func.sum(CostRow.input_tokens + CostRow.output_tokens), 0),
               func.coalesce(func.sum(CostRow.dollars), 0.0))
        .where(CostRow.agent == agent, CostRow.source == "agent")).one()
    calls = connection.execute(select(AgentRow.used_submissions + AgentRow.used_holdout,
                                      AgentRow.max_submissions)
                               .where(AgentRow.name == agent)).first()
    budget = connection.execute(select(CostBudget.max_cpu_seconds, CostBudget.max_dollars)
                                .where(CostBudget.agent == agent)).first()
    return {"agent": agent, "cpu_seconds": round(float(spent[0]), 3), "tokens": int(spent[1]),
            "dollars": round(float(spent[2]), 6), "eval_calls": calls[0] if calls else 0,
            "max_submissions": calls[1] if calls else None,
            "max_cpu_seconds": budget[0] if budget else None,
            "max_dollars": budget[1] if budget else None}


def check(totals: dict) -> None:
    """BudgetExceeded if the totals are past a CPU or dollar budget."""
    for spent, limit, unit in (("cpu_seconds", "max_cpu_seconds", "CPU-seconds"),
                               ("dollars", "max_dollars", "dollars")):
        if totals[limit] is not None and totals[spent] > totals[limit]:
            raise BudgetExceeded(f"{unit} budget of agent {totals['agent']!r} spent: "
                                 f"{totals[spent]:g} of {totals[limit]:g}")


def over_budget(connection: Connection, agent: str) -> str | None:
    """Why ``agent`` may not spend more, or None (one indexed read when it has no budget)."""
    if connection.execute(_HAS_BUDGET, {"agent": agent}).first():
        try:
            check(agent_totals(connection, agent))
        except BudgetExceeded as error:
            return str(error)
    return None


def record_seed(connection: Connection, agent: str, idea: str, config: dict,
                default_seed: int) -> None:
    """Remember the training seed a submission declares (``config["train_seed"]``)."""
    seed = config.get("train_seed", default_seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        return  # not a seed: it counts for nothing
    connection.execute(_INSERT_SEED[connection.dialect.name],
                       {"agent": agent, "idea": idea, "seed": seed})


def per_idea(connection: Connection) -> dict[tuple[str, str], dict]:
    """Costs, calls and seeds of every (agent, idea) with a submission."""
    out: dict[tuple[str, str], dict] = {}
    for row in connection.execute(select(Idea.agent, Idea.idea, Idea.submissions)):
        out[(row.agent, row.idea)] = {"cpu_seconds": 0.0, "server_cpu_seconds": 0.0,
                                      "tokens": 0, "dollars": 0.0,
                                      "eval_calls": row.submissions, "seeds": 0}
    for row in connection.execute(select(Holdout.agent, Holdout.idea)):
        if (entry := out.get((row.agent, row.idea))) is not None:
            entry["eval_calls"] += 1
    for row in connection.execute(
            select(CostRow.agent, CostRow.idea, CostRow.source,
                   func.sum(CostRow.cpu_seconds), func.sum(CostRow.input_tokens
                                                           + CostRow.output_tokens),
                   func.sum(CostRow.dollars))
            .group_by(CostRow.agent, CostRow.idea, CostRow.source)):
        entry = out.get((row[0], row[1]))
        if entry is None:
            continue
        if row[2] == "server":
            entry["server_cpu_seconds"] += float(row[3])
        else:
            entry.update(cpu_seconds=entry["cpu_seconds"] + float(row[3]),
                         tokens=entry["tokens"] + int(row[4]),
                         dollars=entry["dollars"] + float(row[5]))
    for row in connection.execute(select(SeedRow.agent, SeedRow.idea, func.count())
                                  .group_by(SeedRow.agent, SeedRow.idea)):
        if (entry := out.get((row[0], row[1]))) is not None:
            entry["seeds"] = int(row[2])
    for entry in out.values():
        entry.update(cpu_seconds=round(entry["cpu_seconds"], 2), dollars=round(entry["dollars"], 6),
                     server_cpu_seconds=round(entry["server_cpu_seconds"], 2))
    return out


def efficiency(pgr: float | None, cpu_seconds: float, dollars: float) -> dict:
    """PGR gained per CPU-hour and per dollar (None where nothing was spent or no PGR)."""
    return {"pgr_per_cpu_hour": None if pgr is None or cpu_seconds <= 0
            else round(pgr / (cpu_seconds / 3600), 3),
            "pgr_per_dollar": None if pgr is None or dollars <= 0 else round(pgr / dollars, 3)}
