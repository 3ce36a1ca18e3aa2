"""A client that goes away in the middle of its request is one log line, not a traceback.

Starlette raises `ClientDisconnect` from a handler reading the body of a request
whose client closed the socket; uncaught, uvicorn logs it as an application
error with a full traceback. This middleware turns it into one warning naming
the client, the request and (clipped) what of the body had arrived.
"""

from __future__ import annotations

import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reactor.server.log_text import LOG_CHARS, clip

logger = logging.getLogger("reactor.http")


class DisconnectLogging:
    """Pure ASGI middleware: counts the body as it arrives, logs a disconnect once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = bytearray()
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if len(head) < LOG_CHARS:
                    head.extend(body[:LOG_CHARS - len(head)])
            return message

        try:
            await self.app(scope, counting, send)
        except ClientDisconnect:
            start = bytes(head).decode("utf-8", errors="replace")
            logger.warning("client %s disconnected during %s %s after %d bytes of its body:"
                           " %s%s", _address(scope), scope.get("method", "?"),
                           clip(scope.get("path", "?")), received, start,
                           "…" if received > len(head) else "")


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"
