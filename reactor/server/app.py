"""The Starlette application: sync WebSocket, HTTP API, JWKS and health on one port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from reactor.runtime import Engine
from reactor.runtime.auth import AdminKey, AuthenticationError, TokenVerifier, load_auth_config
from reactor.runtime.backups.schedule import BackupStatus
from reactor.runtime.client import set_client_address
from reactor.runtime.execution_log import ExecutionLog, LogRetention
from reactor.runtime.forwarding import COMMIT_ROUTE
from reactor.runtime.http_actions import METHODS as HTTP_METHODS
from reactor.server.admin_auth import refuse_unless_admin
from reactor.server.config import ServerConfig
from reactor.server.connections import ConnectionGate, guarded_protocols
from reactor.server.dashboard import Dashboard, storage_bytes
from reactor.server.data_api import DataApi
from reactor.server.demo import demo_routes
from reactor.server.disconnects import DisconnectLogging
from reactor.server.env_api import EnvApi
from reactor.server.fanout import Fanout
from reactor.server.files import FileEndpoints
from reactor.server.heartbeat import Heartbeat
from reactor.server.home import home_route
from reactor.server.http_actions import HttpActions
from reactor.server.http_api import HttpApi
from reactor.server.identity import Authenticator
from reactor.server.logs_api import LogsApi
from reactor.server.memory import MemoryReclaimer
from reactor.server.metrics import ServerMetrics
from reactor.server.migration_api import MigrationApi
from reactor.server.node_api import NodeApi
from reactor.server.quotas import Quotas
from reactor.server.sync import SyncSession

logger = logging.getLogger("reactor.server")


class ReactorServer:
    """Wires an engine to the network; holds what every connection shares."""

    def __init__(self, engine: Engine, config: ServerConfig | None = None) -> None:
        self.engine = engine
        self.config = config or ServerConfig()
        self.authenticator: Authenticator | None = None
        self.sessions: set[SyncSession] = set()
        self.heartbeat = Heartbeat(self.sessions, self.config.ping_interval_s,
                                   self.config.send_timeout_s)
        self.gate = ConnectionGate(self.config.max_connections,
                                   self.config.max_connections_per_address)
        self.reclaimer = MemoryReclaimer()
        self.quotas = Quotas(self.config.mutation_rate, self.config.action_rate)
        # Every function call, kept in the data directory's logs.sqlite3 (from start).
        self.execution_log: ExecutionLog | None = None
        # The Prometheus instruments (`/metrics`), counting from start.
        self.metrics = ServerMetrics(self)
        self._metrics_attached = False
        # What the sync sessions share when a commit is pushed to many of them.
        self.fanout = Fanout(self.config.transition_chunk_bytes,
                             on_push=self.metrics.push_latency.observe)
        # Set by `reactor serve --backup-every` (runtime/backups/schedule.py).
        self.backups: BackupStatus | None = None
        self._started = False

    def protocols(self) -> tuple[type[asyncio.Protocol], type[asyncio.Protocol]]:
        """uvicorn's `http` and `ws` protocol classes, admitted by this server's gate."""
        return guarded_protocols(self.gate, self.config.header_timeout_s,
                                 self.config.max_header_bytes)

    async def start(self) -> None:
        """Open the engine; a no-op when already started (the CLI starts before listening)."""
        if self._started:
            return
        await self.engine.start()
        try:
            self.authenticator = self._load_authenticator()
            self.engine.use_token_verifier(self.authenticator.verifier)
        except BaseException:
            await self.engine.stop()
            raise
        self.engine.limit_live_queries(self.config.max_live_queries)
        if self.execution_log is None:
            self.execution_log = ExecutionLog(
                self.engine.data_dir,
                LogRetention(self.config.log_retention_s, self.config.log_max_bytes))
            self.execution_log.start()
            self.engine.add_call_listener(self.execution_log.record)
        if not self._metrics_attached:
            self.metrics.attach()
            self._metrics_attached = True
        self.engine.start_scheduler()
        self.engine.start_lease()
        self._started = True

    def _load_authenticator(self) -> Authenticator:
        """Read `auth_config.py`; the built-in issuer is always trusted."""
        auth_config = load_auth_config(self.engine.app_dir)
        verifier = TokenVerifier(auth_config, self.engine.issuer)
        return Authenticator(verifier, AdminKey.load_or_create(self.engine.data_dir))

    async def reload(self) -> str:
        """Hot reload: the new auth config and the new code together, or neither (raises)."""
        authenticator = self._load_authenticator()
        report = await self.engine.reload()
        self.authenticator = authenticator
        self.engine.use_token_verifier(authenticator.verifier)
        return report

    def _authenticator(self) -> Authenticator:
        assert self.authenticator is not None, "the server has not started"
        return self.authenticator

    async def shut_down(self, timeout_s: float) -> None:
        """SIGTERM's first part, within `timeout_s`: the scheduler takes no more jobs,
        running actions are stopped (and fail), requests in flight are answered and
        every client is closed with 1001 going away. `stop` closes the engine after."""
        deadline = time.monotonic() + timeout_s
        # A follower that is going away does not take over committing meanwhile.
        await self.engine.stop_lease()
        scheduler = asyncio.create_task(self.engine.scheduler.stop())
        await asyncio.sleep(0)  # it stops taking jobs before actions are stopped
        stopped = self.engine.actions.shut_down()
        sessions = list(self.sessions)
        logger.warning("shutting down: %d running actions stopped, %d clients to close",
                       stopped, len(sessions))
        closing = [asyncio.create_task(session.shut_down(timeout_s / 2)) for session in sessions]
        await asyncio.wait([scheduler, *closing], timeout=timeout_s)
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.reclaimer.stop()
        await self.heartbeat.stop()
        if self._started:
            self._started = False
            await self.engine.stop()
        if self.execution_log is not None:
            log, self.execution_log = self.execution_log, None
            self.engine.remove_call_listener(log.record)
            await asyncio.to_thread(log.stop)

    async def sync(self, websocket: WebSocket) -> None:
        await websocket.accept()
        # The socket's task and every task it starts know which client this is.
        set_client_address(websocket.client.host if websocket.client else None)
        session = SyncSession(websocket, self.engine, self._authenticator, self.config,
                              self.quotas, self.fanout)
        self.sessions.add(session)
        self.heartbeat.ensure_running()
        try:
            await session.run()
        finally:
            self.sessions.discard(session)
            self.reclaimer.note_released(session.released_queries)

    async def health(self, request: Request) -> PlainTextResponse:
        """"ok"; a worker of `reactor serve --workers N` also names its slot (a header), so
        an operator sees which process a connection reached."""
        group = self.engine.group
        if group is None:
            return PlainTextResponse("ok")
        return PlainTextResponse("ok", headers={"X-Reactor-Worker": str(group.slot)})

    async def jwks(self, request: Request) -> JSONResponse:
        return JSONResponse(self.engine.issuer.jwks())

    async def stats(self, request: Request) -> JSONResponse:
        """Admin only: counters for operators and benchmarks (query executions, commits)."""
        try:
            caller = await self._authenticator().from_header(request.headers.get("authorization"))
        except AuthenticationError as error:
            return JSONResponse({"code": error.code, "message": error.message}, status_code=401)
        if not caller.admin:
            return JSONResponse({"code": "Forbidden", "message": "/api/debug/stats needs the"
                                 " admin key: `Authorization: Convex <key>`"}, status_code=403)
        return JSONResponse(await self._figures())

    async def _figures(self) -> dict[str, Any]:
        """What /api/debug/stats and the dashboard's Health page report."""
        stats = self.engine.stats()
        return {
            "sessions": len(self.sessions),
            "connections": {"open": self.gate.open, "refused": self.gate.refused},
            "rateLimited": {"mutations": self.quotas.mutations.refused,
                            "actions": self.quotas.actions.refused},
            # Idle sessions have none of their own: a growing count means work piling up.
            "tasks": len(asyncio.all_tasks()),
            "subscriptions": {"entries": stats.query_entries,
                              "executions": stats.query_executions},
            "pushes": {"encoded": self.fanout.encoded, "shared": self.fanout.shared},
            "committer": {"commits": stats.commits, "batches": stats.commit_batches,
                          "conflicts": stats.conflicts},
            "workers": {"escalations": stats.escalations, "remoteCalls": stats.remote_calls,
                        "kills": stats.worker_kills, "started": stats.workers_started},
            "storage": {"databaseBytes": storage_bytes(self.engine.data_dir)},
            "backups": None if self.backups is None else self.backups.describe(),
        }

    async def metrics_endpoint(self, request: Request) -> Response:
        """Admin only on the main port (`Authorization: Convex <key>`)."""
        refused = await refuse_unless_admin(self._authenticator, request, "/metrics")
        if refused is not None:
            return refused
        return await self.metrics.response()

    async def open_metrics(self, request: Request) -> Response:
        """`--metrics-port`: the same, without the key (a private network's scraper)."""
        return await self.metrics.response()

    def build_metrics(self) -> Starlette:
        """The app of `--metrics-port`: only `GET /metrics`, no authentication."""
        return Starlette(routes=[Route("/metrics", self.open_metrics, methods=["GET"])])

    def build(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        demo = demo_routes(self.engine.app_dir)
        api = HttpApi(self.engine, self._authenticator, self.config, self.quotas)
        env = EnvApi(self.engine, self._authenticator)
        data = DataApi(self.engine, self._authenticator)
        http_actions = HttpActions(self.engine, self._authenticator, self.config)
        files = FileEndpoints(self.engine, self.config)
        logs = LogsApi(lambda: self.execution_log, self._authenticator)
        dashboard = Dashboard(self._authenticator, self._figures,
                              lambda: {"commit": self.metrics.commit_latency,
                                       "push": self.metrics.push_latency})
        self.engine.add_call_listener(dashboard.call_times)
        routes = [
            WebSocketRoute("/api/sync", self.sync),
            WebSocketRoute("/api/{version}/sync", self.sync),
            Route("/api/query", api.query, methods=["POST"]),
            Route("/api/query_at_ts", api.query_at_ts, methods=["POST"]),
            Route("/api/mutation", api.mutation, methods=["POST"]),
            Route("/api/action", api.action, methods=["POST"]),
            Route("/api/query_ts", api.query_ts, methods=["POST", "GET"]),
            Route(COMMIT_ROUTE, NodeApi(self.engine).commit, methods=["POST"]),
            Route("/api/run", api.run, methods=["POST"]),
            Route("/api/function", api.function, methods=["POST"]),
            Route("/api/storage/upload", files.upload, methods=["POST"]),
            Route("/api/storage/{storage_id}", files.download, methods=["GET", "HEAD"]),
            Route("/api/debug/stats", self.stats, methods=["GET"]),
            Route("/api/admin/env", env.list, methods=["GET"]),
            Route("/api/admin/env/{name}", env.variable, methods=["GET", "PUT", "DELETE"]),
            Route("/api/admin/logs", logs.list, methods=["GET"]),
            Route("/metrics", self.metrics_endpoint, methods=["GET"]),
            Route("/api/admin/backup", data.backup, methods=["POST"]),
            Route("/api/admin/export", data.export, methods=["POST"]),
            Route("/api/admin/import", data.import_, methods=["POST"]),
            Route("/api/admin/migration", MigrationApi(self.engine, data.refuse).handle,
                  methods=["POST"]),
            Route("/http", http_actions.handle, methods=list(HTTP_METHODS)),
            Route("/http/{route:path}", http_actions.handle, methods=list(HTTP_METHODS)),
            Route("/health", self.health),
            Route("/.well-known/jwks.json", self.jwks),
            *demo,
            *dashboard.routes(),
            home_route(self.engine.app_dir.name, has_demo=bool(demo)),
        ]
        # The operator's origins; any method a route accepts (HTTP actions take PUT...).
        middleware = [Middleware(DisconnectLogging),
                      Middleware(CORSMiddleware, allow_origins=list(self.config.cors_origins),
                                 allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE",
                                                "OPTIONS"],
                                 allow_headers=["*"])]
        return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)

