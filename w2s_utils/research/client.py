"""HTTP client for the evaluation server, used by agents, notebooks and tests.

``label_free_splits`` rebuilds the task's splits from what the server serves: texts and
ids, labels replaced by -1 (unknown), no ``weak_train`` rows. An agent trains on that
plus the weak soft labels on pool and val, so its process never holds ground truth.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx
import numpy as np

from ..tasks import SPLITS, UNKNOWN_LABEL, Split, TaskSplits


class ServerError(RuntimeError):
    """A 4xx/5xx answer from the server, with its status and detail."""

    def __init__(self, status: int, detail: Any):
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


class ResearchClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0,
                 retries: int = 3):
        api_key = api_key or os.environ.get("W2S_API_KEY")
        if not api_key:
            raise ValueError("an API key is needed: pass api_key or set W2S_API_KEY")
        self.retries = retries
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                 headers={"Authorization": f"Bearer {api_key}"})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ResearchClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        """Retries connection errors, 5xx and rate limits (submissions carry a client token,
        so a retried submission is stored once)."""
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError:
                if attempt == self.retries:
                    raise
                time.sleep(0.5 * 2**attempt)
                continue
            retry_after = response.headers.get("Retry-After")
            retryable = response.status_code >= 500 or (response.status_code == 429
                                                        and retry_after is not None)
            if retryable and attempt < self.retries:
                time.sleep(min(float(retry_after or 0.5 * 2**attempt), 60.0))
                continue
            if response.status_code >= 400:
                try:
                    detail = response.json().get("detail")
                except ValueError:
                    detail = response.text
                raise ServerError(response.status_code, detail)
            return response.json()
        raise AssertionError("unreachable")

    def health(self) -> dict:
        return self._call("GET", "/health")

    def task(self) -> dict:
        return self._call("GET", "/v1/task")

    def baselines(self) -> dict:
        return self._call("GET", "/v1/baselines")

    def data(self, split: str) -> dict:
        return self._call("GET", f"/v1/data/{split}")

    def leaderboard(self) -> list[dict]:
        return self._call("GET", "/v1/leaderboard")

    def findings(self, q: str | None = None, agent: str | None = None,
                 idea: str | None = None, limit: int = 50) -> list[dict]:
        params = {k: v for k, v in {"q": q, "agent": agent, "idea": idea}.items() if v}
        return self._call("GET", "/v1/findings", params={**params, "limit": limit})

    def submit(self, idea: str, ids, predictions, config: dict | None = None) -> dict:
        """Feedback score (accuracy, PGR, flags) of predictions for every ``test`` id."""
        return self._call("POST", "/v1/submissions", json={
            "idea": idea, "ids": [str(i) for i in ids],
            "predictions": [float(p) for p in predictions], "config": config or {},
            "client_token": uuid.uuid4().hex})

    def holdout(self, idea: str, ids, predictions, config: dict | None = None) -> dict:
        """The idea's one blind scoring on ``holdout``."""
        return self._call("POST", "/v1/holdout", json={
            "idea": idea, "ids": [str(i) for i in ids],
            "predictions": [float(p) for p in predictions], "config": config or {}})

    def report_cost(self, idea: str | None, cpu_seconds: float = 0.0, *,
                    model: str | None = None, input_tokens: int = 0,
                    output_tokens: int = 0) -> dict:
        """Report what an idea cost (429 once a CPU or dollar budget is spent)."""
        return self._call("POST", "/v1/costs", json={
            "idea": idea, "cpu_seconds": round(float(cpu_seconds), 3), "model": model,
            "input_tokens": int(input_tokens), "output_tokens": int(output_tokens)})

    def costs(self) -> dict:
        """This agent's totals and budgets."""
        return self._call("GET", "/v1/costs")

    def post_finding(self, hypothesis: str, *, idea: str | None = None,
                     config: dict | None = None, body: str = "",
                     submission_id: int | None = None) -> dict:
        return self._call("POST", "/v1/findings", json={
            "hypothesis": hypothesis, "idea": idea, "config": config or {}, "body": body,
            "submission_id": submission_id})

    def label_free_splits(self) -> tuple[TaskSplits, dict[str, np.ndarray]]:
        """The task's splits without ground truth, and the weak soft labels on pool and val."""
        task = self.task()["experiment"]
        views = {name: self.data(name) for name in ("pool", "val", "test", "holdout")}
        splits = {name: _split(view["ids"], view["texts"], view["features"])
                  for name, view in views.items()}
        width = None if views["pool"]["features"] is None else len(views["pool"]["features"][0])
        splits["weak_train"] = _split([], [], None if width is None else np.zeros((0, width)))
        weak = {name: np.asarray(views[name]["weak"], dtype=np.float32) for name in ("pool",
                                                                                     "val")}
        ordered = {name: splits[name] for name in SPLITS}
        return TaskSplits(task["task"], task["seed"], task["balanced"], ordered,
                          float("nan")), weak


def _split(ids, texts, features) -> Split:
    return Split(ids=np.asarray(ids, dtype=object), texts=list(texts),
                 labels=np.full(len(ids), UNKNOWN_LABEL, dtype=np.int64),
                 features=None if features is None else np.asarray(features, np.float32))
