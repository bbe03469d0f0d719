"""The ledger's endpoints: agents report what an idea cost them, and read their totals.

``create_app`` includes ``router(...)``; the accounting itself is in ``ledger``.
"""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from . import ledger
from .schemas import CostIn, CostTotals, Error


def router(engine, settings: ledger.LedgerSettings, authenticate, writing,
           write_errors: dict) -> APIRouter:
    """Routes over ``engine``; ``authenticate`` is the server's key dependency, ``writing``
    its write lock (SQLite has one writer), ``write_errors`` the errors its writes declare.
    No postponed annotations in this module: FastAPI must see the local ``Agent``
    dependency itself, not its name."""
    Agent = Annotated[Any, Depends(authenticate)]
    routes = APIRouter(tags=["agents"])
    over = {429: {"model": Error, "description": "a CPU or dollar budget is spent"}}

    @routes.post("/v1/costs", response_model=CostTotals, status_code=201,
                 responses={**write_errors, **over})
    def report_cost(body: CostIn, key: Agent) -> CostTotals:
        """Report one idea's training CPU-seconds and LLM tokens (priced here). The cost
        is recorded even when it goes over a budget: it was spent; the answer is 429."""
        with writing, engine.begin() as connection:
            totals = ledger.record(connection, settings, key.agent, body, "agent", time.time())
        try:
            ledger.check(totals)
        except ledger.BudgetExceeded as error:
            raise HTTPException(429, str(error)) from None
        return CostTotals(**totals)

    @routes.get("/v1/costs", response_model=CostTotals, responses={401: {"model": Error}})
    def my_costs(key: Agent) -> CostTotals:
        """Your totals and budgets."""
        with engine.connect() as connection:
            return CostTotals(**ledger.agent_totals(connection, key.agent))

    return routes
