"""The dashboard at `/_dashboard/`: its static shell, the login-code exchange and the
Health page's figures. Everything else the dashboard shows comes from `_system/`
functions over the sync protocol, under the admin key."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import orjson
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from reactor.runtime.auth import AuthenticationError
from reactor.runtime.functions import FunctionKind
from reactor.runtime.outcome import Outcome
from reactor.server.identity import Authenticator
from reactor.server.login_codes import LoginCodes

STATIC: Final = Path(__file__).resolve().parent / "dashboard_static"
# The shell is public; it holds no data. These headers keep other sites from framing it.
_HEADERS: Final = {"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                   "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:;"
                   " img-src 'self' data: blob:; style-src 'self' 'unsafe-inline';"
                   " frame-ancestors 'none'"}
# Calls whose durations the Health page's percentiles are taken from, per kind.
_WINDOW = 2000


class CallTimes:
    """Durations of the latest calls per function kind (a call listener of the engine)."""

    def __init__(self) -> None:
        self.durations: dict[str, deque[float]] = {k.value: deque(maxlen=_WINDOW)
                                                   for k in FunctionKind}
        self.calls = dict.fromkeys(self.durations, 0)
        self.failures = dict.fromkeys(self.durations, 0)

    def __call__(self, kind: FunctionKind, outcome: Outcome) -> None:
        self.durations[kind.value].append(outcome.duration_s)
        self.calls[kind.value] += 1
        if outcome.error is not None:
            self.failures[kind.value] += 1

    def summary(self) -> dict[str, Any]:
        return {kind: {"calls": self.calls[kind], "failures": self.failures[kind],
                       **_percentiles(list(durations))}
                for kind, durations in self.durations.items()}


def _percentiles(durations: list[float]) -> dict[str, float | None]:
    durations.sort()
    if not durations:
        return {"p50Ms": None, "p95Ms": None, "p99Ms": None}
    def at(q: float) -> float:
        return round(durations[min(len(durations) - 1, int(q * len(durations)))] * 1000, 3)
    return {"p50Ms": at(0.5), "p95Ms": at(0.95), "p99Ms": at(0.99)}


def histogram_buckets(histogram: Collector) -> list[list[float | None]]:
    """A histogram's cumulative counts per upper bound (seconds; None for +Inf), for the
    Health page to take percentiles of the calls between two of its samples."""
    buckets: list[list[float | None]] = []
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets.append([None if bound == float("inf") else bound, sample.value])
    return buckets


def storage_bytes(data_dir: Path) -> int:
    """Bytes of the SQLite database files (the main file, its WAL and other sidecars;
    not the execution log's)."""
    return sum(p.stat().st_size for p in data_dir.glob("reactor.sqlite3*") if p.is_file())


class Dashboard:
    """The routes under `/_dashboard/`."""

    def __init__(self, authenticator: Callable[[], Authenticator],
                 stats: Callable[[], Awaitable[dict[str, Any]]],
                 histograms: Callable[[], dict[str, Collector]]) -> None:
        self.authenticator = authenticator
        self.codes = LoginCodes(lambda: authenticator().admin_key)
        self.stats = stats
        self.histograms = histograms
        self.call_times = CallTimes()

    async def login(self, request: Request) -> Response:
        """`POST {"code"}`: a one-time code from `reactor dashboard` for the admin key."""
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            body = None
        code = body.get("code") if isinstance(body, dict) else None
        if not self.codes.redeem(code):
            return JSONResponse({"code": "LoginCodeInvalid", "message": "this login code is"
                                 " not valid: it expired, was used already or was not made"
                                 " for this deployment; run `reactor dashboard` again"},
                                status_code=401, headers=_HEADERS)
        return JSONResponse({"adminKey": self.authenticator().admin_key.value},
                            headers={**_HEADERS, "Cache-Control": "no-store"})

    async def health(self, request: Request) -> Response:
        """The Health page's figures (admin key only)."""
        try:
            caller = await self.authenticator().from_header(request.headers.get("authorization"))
        except AuthenticationError as error:
            return JSONResponse({"code": error.code, "message": error.message}, status_code=401)
        if not caller.admin:
            return JSONResponse({"code": "Forbidden", "message": "the dashboard's health"
                                 " figures need the admin key: `Authorization: Convex <key>`"},
                                status_code=403)
        figures = await self.stats()
        figures["latency"] = self.call_times.summary()
        figures["histograms"] = {name: histogram_buckets(histogram)
                                 for name, histogram in self.histograms().items()}
        figures["time"] = time.time()
        return JSONResponse(figures, headers={"Cache-Control": "no-store"})

    def routes(self) -> list[BaseRoute]:
        return [Route("/_dashboard/api/login", self.login, methods=["POST"]),
                Route("/_dashboard/api/health", self.health, methods=["GET"]),
                Mount("/_dashboard/client", _Static(directory=(STATIC / "client").resolve())),
                Mount("/_dashboard", _Static(directory=STATIC, html=True))]


class _Static(StaticFiles):
    """Static files with the dashboard's security headers."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response
