"""Serving HTTP actions: `/http/<route>` requests handed to `functions/http.py`'s handlers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from reactor.runtime import Engine
from reactor.runtime.auth import AuthenticationError
from reactor.runtime.client import client_scope
from reactor.runtime.http_actions import PREFIX, HttpRequest, HttpResponse
from reactor.server.config import ServerConfig
from reactor.server.identity import Authenticator

logger = logging.getLogger("reactor.http_actions")


class BodyTooLarge(Exception):
    """The request body is over the server's limit."""


class HttpActions:
    """Translates between Starlette and the runtime's `HttpRequest` / `HttpResponse`."""

    def __init__(self, engine: Engine, authenticator: Callable[[], Authenticator],
                 config: ServerConfig) -> None:
        self.engine = engine
        self.authenticator = authenticator
        self.config = config

    async def handle(self, request: Request) -> Response:
        limit = self.config.max_message_bytes
        timeout = self.config.body_timeout_s
        try:
            async with asyncio.timeout(timeout):
                body = await _read_body(request, limit)
        except BodyTooLarge:
            return _starlette(HttpResponse.error(
                413, "RequestTooLarge", f"request body exceeds the limit of {limit} bytes"))
        except TimeoutError:
            return _starlette(HttpResponse.error(
                408, "RequestTimeout", f"the request body did not arrive within {timeout:g} s"))
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        path = request.url.path[len(PREFIX):] or "/"
        http_request = HttpRequest(method=request.method, path=path, url=str(request.url),
                                   headers=headers, query=dict(request.query_params), body=body)
        identity, refusal = await self._identity(request)
        with client_scope(request.client.host if request.client else None):
            response = await self.engine.run_http_action(http_request, identity, refusal)
        return _starlette(response)

    async def _identity(self, request: Request
                        ) -> tuple[dict[str, Any] | None, AuthenticationError | None]:
        """The user of a valid `Bearer` token. Any other `Authorization` header still
        reaches the handler (in `request.headers`), but reading the identity then fails
        with the reason, as in Convex: a webhook's own scheme is not a user."""
        header = request.headers.get("authorization", "")
        if not header:
            return None, None
        if not header.lower().startswith("bearer "):
            scheme = header.split(" ", 1)[0][:40]
            return None, AuthenticationError(
                f"the Authorization header ({scheme!r} scheme) is not a user's token"
                " (`Bearer <jwt>`): there is no identity to read; the handler can still"
                " read the header itself", code="InvalidAuthHeader")
        try:
            return (await self.authenticator().from_header(header)).identity, None
        except AuthenticationError as error:
            return None, error


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _starlette(response: HttpResponse) -> Response:
    if response.stream is not None:
        return StreamingResponse(_chunks(response.stream), status_code=response.status,
                                 headers=response.headers)
    body = response.body if isinstance(response.body, bytes) else response.body.encode()
    return Response(body, status_code=response.status, headers=response.headers)


async def _chunks(stream: AsyncIterable[bytes | str]) -> AsyncIterator[bytes]:
    """The handler's stream as bytes; an error ends the stream (the status is already sent)."""
    try:
        async for chunk in stream:
            yield chunk.encode("utf-8") if isinstance(chunk, str) else chunk
    except Exception:
        logger.exception("HTTP action stream failed; closing the response")
