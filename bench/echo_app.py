"""The push-latency baseline server: a bare Starlette app on `reactor serve`'s uvicorn settings.

`/commit` answers each WebSocket message after one durable single-row aiosqlite
commit (Reactor's writer pragmas); `/echo` answers at once. Together they are the
irreducible path of a push: a durable write and a WebSocket round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from reactor.server.config import ServerConfig
from reactor.storage.sqlite_schema import writer_pragmas


def build(db_path: Path, durability: str) -> Starlette:
    state: dict[str, aiosqlite.Connection] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        conn = await aiosqlite.connect(db_path, isolation_level=None)
        await conn.executescript(writer_pragmas(durability))  # type: ignore[arg-type]
        await conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT)"
                           " WITHOUT ROWID")
        state["db"] = conn
        try:
            yield
        finally:
            await conn.close()

    async def commit(websocket: WebSocket) -> None:
        await websocket.accept()
        conn = state["db"]
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                text = await websocket.receive_text()
                await conn.execute("BEGIN IMMEDIATE")
                await conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (text[:16], text))
                await conn.execute("COMMIT")
                await websocket.send_text(text)

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.send_text(await websocket.receive_text())

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[WebSocketRoute("/commit", commit), WebSocketRoute("/echo", echo),
                             Route("/health", health)], lifespan=lifespan)


async def serve(port: int, data_dir: Path, durability: str) -> None:
    """Same uvicorn settings and event loop as `reactor serve` (reactor/cli/serve.py)."""
    config = uvicorn.Config(build(data_dir / "echo.sqlite3", durability), host="127.0.0.1",
                            port=port, log_level="warning",
                            ws_max_size=ServerConfig().max_message_bytes, lifespan="on",
                            ws_ping_interval=None)
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    await server.serve()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    arguments = parser.parse_args(argv)
    asyncio.run(serve(arguments.port, arguments.data, arguments.durability))


if __name__ == "__main__":
    main(sys.argv[1:])
