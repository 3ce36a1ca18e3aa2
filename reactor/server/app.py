"""The Starlette application: sync WebSocket, HTTP API, JWKS and health on one port."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from reactor.runtime import Engine
from reactor.runtime.auth import AdminKey, TokenVerifier, load_auth_config
from reactor.server.config import ServerConfig
from reactor.server.http_api import HttpApi
from reactor.server.identity import Authenticator
from reactor.server.sync import SyncSession

logger = logging.getLogger("reactor.server")


class ReactorServer:
    """Wires an engine to the network; holds what every connection shares."""

    def __init__(self, engine: Engine, config: ServerConfig | None = None) -> None:
        self.engine = engine
        self.config = config or ServerConfig()
        self.authenticator: Authenticator | None = None
        self.sessions: set[SyncSession] = set()

    async def start(self) -> None:
        await self.engine.start()
        self.reload_auth()

    def reload_auth(self) -> None:
        """(Re)read `auth_config.py`; the built-in issuer is always trusted."""
        auth_config = load_auth_config(self.engine.app_dir)
        verifier = TokenVerifier(auth_config, self.engine.issuer)
        self.authenticator = Authenticator(verifier,
                                           AdminKey.load_or_create(self.engine.data_dir))

    def _authenticator(self) -> Authenticator:
        assert self.authenticator is not None, "the server has not started"
        return self.authenticator

    async def stop(self) -> None:
        await self.engine.stop()

    async def sync(self, websocket: WebSocket) -> None:
        await websocket.accept()
        session = SyncSession(websocket, self.engine, self._authenticator(), self.config)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)

    async def health(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse(self.engine.issuer.jwks())

    def build(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        api = HttpApi(self.engine, self._authenticator, self.config)
        routes = [
            WebSocketRoute("/api/sync", self.sync),
            WebSocketRoute("/api/{version}/sync", self.sync),
            Route("/api/query", api.query, methods=["POST"]),
            Route("/api/query_at_ts", api.query_at_ts, methods=["POST"]),
            Route("/api/mutation", api.mutation, methods=["POST"]),
            Route("/api/action", api.action, methods=["POST"]),
            Route("/api/query_ts", api.query_ts, methods=["POST", "GET"]),
            Route("/api/run", api.run, methods=["POST"]),
            Route("/health", self.health),
            Route("/.well-known/jwks.json", self.jwks),
        ]
        middleware = [Middleware(CORSMiddleware, allow_origins=list(self.config.cors_origins),
                                 allow_methods=["GET", "POST", "OPTIONS"],
                                 allow_headers=["*"])]
        return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)

