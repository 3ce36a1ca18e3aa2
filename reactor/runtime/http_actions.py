"""HTTP actions: routes declared in `functions/http.py`, and the request and response types.

The types are plain Python (no web framework); `reactor/server/http_actions.py`
translates them to and from the server's requests and responses.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import InvalidValueError, SchemaError

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# HTTP actions are served under this path: a route "/hooks/github" is at "/http/hooks/github".
PREFIX = "/http"

HttpHandler = Callable[[Any, "HttpRequest"], Coroutine[Any, Any, "HttpResponse"]]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An incoming request; `path` is relative to the `/http` prefix and starts with "/"."""

    method: str
    path: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header's value, by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; a malformed body raises `InvalidValue`."""
        try:
            return json.loads(self.body)
        except ValueError as error:
            raise InvalidValueError(f"request body is not valid JSON: {error}") from None


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One server-sent event; `data` that is not a string is sent as JSON."""

    data: Any
    event: str | None = None
    id: str | None = None
    retry_ms: int | None = None

    def encode(self) -> bytes:
        text = self.data if isinstance(self.data, str) else json.dumps(self.data)
        lines = []
        if self.event is not None:
            lines.append(f"event: {_one_line(self.event)}")
        if self.id is not None:
            lines.append(f"id: {_one_line(self.id)}")
        if self.retry_ms is not None:
            lines.append(f"retry: {int(self.retry_ms)}")
        lines += [f"data: {line}" for line in text.split("\n")]
        return ("\n".join(lines) + "\n\n").encode("utf-8")


def _one_line(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise InvalidValueError(f"SSE field {text!r} must not contain a line break")
    return text


@dataclass(slots=True)
class HttpResponse:
    """What a handler returns: a body, or a `stream` of chunks sent as they come."""

    body: bytes | str = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stream: AsyncIterable[bytes | str] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.body, str):
            self.body = self.body.encode("utf-8")
        self.headers = {name.lower(): str(value) for name, value in self.headers.items()}

    @classmethod
    def text(cls, text: str, status: int = 200,
             headers: Mapping[str, str] | None = None) -> HttpResponse:
        return cls(text.encode("utf-8"), status,
                   {"content-type": "text/plain; charset=utf-8", **(headers or {})})

    @classmethod
    def json(cls, value: Any, status: int = 200,
             headers: Mapping[str, str] | None = None) -> HttpResponse:
        return cls(json.dumps(value).encode("utf-8"), status,
                   {"content-type": "application/json", **(headers or {})})

    @classmethod
    def sse(cls, events: AsyncIterable[Any], status: int = 200,
            headers: Mapping[str, str] | None = None) -> HttpResponse:
        """A `text/event-stream`; each item is an `SseEvent` or the data of one."""
        return cls(b"", status, {"content-type": "text/event-stream",
                                 "cache-control": "no-cache", "x-accel-buffering": "no",
                                 **(headers or {})}, _encode_events(events))

    @classmethod
    def error(cls, status: int, code: str, message: str,
              headers: Mapping[str, str] | None = None) -> HttpResponse:
        return cls.json({"code": code, "message": message}, status, headers)


async def _encode_events(events: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    async for item in events:
        yield (item if isinstance(item, SseEvent) else SseEvent(item)).encode()


@dataclass(frozen=True, slots=True)
class HttpRoute:
    """`path` matches exactly; `path_prefix` (ending in "/") matches everything below it."""

    method: str
    handler: HttpHandler
    path: str | None = None
    path_prefix: str | None = None

    def matches(self, path: str) -> bool:
        if self.path is not None:
            return path == self.path
        assert self.path_prefix is not None
        return path.startswith(self.path_prefix)


class HttpRouter:
    """The routes of `functions/http.py`: `http = http_router()`, then `@http.route(...)`."""

    def __init__(self) -> None:
        self.routes: list[HttpRoute] = []

    def route(self, *, path: str | None = None, path_prefix: str | None = None,
              method: str = "GET", handler: HttpHandler | None = None) -> Any:
        """Add a route; without `handler=` this is a decorator."""
        method = str(method).upper()
        if method not in METHODS:
            raise SchemaError(f"http route: method {method!r} is not one of {', '.join(METHODS)}")
        if (path is None) == (path_prefix is None):
            raise SchemaError("http route: give exactly one of path= and path_prefix=")
        where = path if path is not None else path_prefix
        if not isinstance(where, str) or not where.startswith("/"):
            raise SchemaError(f"http route: {where!r} must be a string starting with '/'")
        if path_prefix is not None and not path_prefix.endswith("/"):
            raise SchemaError(f"http route: path_prefix {path_prefix!r} must end with '/'")
        for existing in self.routes:
            if (existing.method, existing.path, existing.path_prefix) == (method, path,
                                                                          path_prefix):
                raise SchemaError(f"http route {method} {where} is declared twice")

        def add(fn: HttpHandler) -> HttpHandler:
            if not callable(fn):
                raise SchemaError(f"http route {method} {where}: handler must be an async"
                                  " function (ctx, request)")
            self.routes.append(HttpRoute(method, fn, path, path_prefix))
            return fn

        return add if handler is None else add(handler)

    def lookup(self, method: str, path: str) -> HttpRoute | HttpResponse:
        """The route for a request, or the 404 / 405 response to send instead.

        An exact path wins over prefixes; among prefixes the longest wins.
        """
        candidates = [r for r in self.routes if r.path is not None and r.matches(path)]
        candidates += sorted((r for r in self.routes
                              if r.path_prefix is not None and r.matches(path)),
                             key=lambda r: -len(r.path_prefix or ""))
        for route in candidates:
            if route.method == method:
                return route
        if not candidates:
            return HttpResponse.error(404, "RouteNotFound",
                                      f"no HTTP action for {method} {PREFIX}{path}")
        allowed = ", ".join(sorted({route.method for route in candidates}))
        return HttpResponse.error(405, "MethodNotAllowed",
                                  f"{PREFIX}{path} does not accept {method} (allowed: {allowed})",
                                  {"allow": allowed})


def http_router() -> HttpRouter:
    """A new, empty router for `functions/http.py`."""
    return HttpRouter()


def lookup_route(router: HttpRouter | None, request: HttpRequest) -> HttpRoute | HttpResponse:
    if router is None:
        return HttpResponse.error(404, "RouteNotFound",
                                  f"no HTTP action for {request.method} {PREFIX}{request.path}"
                                  " (the app has no functions/http.py router)")
    return router.lookup(request.method, request.path)
