"""What stands between a request and the scorer: API-key authentication, the per-agent
rate limit, the body size limit, and error bodies that echo nothing large or unsafe."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from .db import hash_key
from .queries import KEY_BY_HASH


@dataclass(frozen=True)
class KeyInfo:
    id: int
    agent: str
    rate_per_minute: int


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
            KEY_BY_HASH, {"key_hash": hash_key(credentials.credentials)}).first()
    if row is None or row.revoked:
        raise HTTPException(401, "invalid or revoked API key",
                            headers={"WWW-Authenticate": "Bearer"})
    return KeyInfo(row.id, row.agent, row.rate_per_minute)


Agent = Annotated[KeyInfo, Depends(authenticate)]


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


def add_error_handlers(app: FastAPI) -> None:
    """Every error as ``{"detail": ...}``; a 405 lists every method its path allows."""

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


def _printable(value) -> str | int:
    """A location or message part that is safe to send back (no lone surrogates)."""
    if isinstance(value, int):
        return value
    return str(value)[:200].encode("utf-8", "backslashreplace").decode("utf-8")
