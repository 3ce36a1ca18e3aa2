"""The engine: one app, its database and its live queries, behind the API the server uses."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reactor.runtime import logs, preempt
from reactor.runtime.action_workers import ActionWorkerPool
from reactor.runtime.actions import (
    DEFAULT_ACTION_TIMEOUT_S,
    DEFAULT_MAX_QUEUED_ACTIONS,
    ActionRunner,
)
from reactor.runtime.admin import SystemFunctions
from reactor.runtime.auth import AuthConfig, BuiltinIssuer, TokenVerifier, load_auth_config
from reactor.runtime.calls import CallListener, FunctionCalls
from reactor.runtime.files import FileOptions, FileService, FileSigner
from reactor.runtime.functions import FunctionKind
from reactor.runtime.loader import App, load_app, unload_app
from reactor.runtime.node_role import NodeRole
from reactor.runtime.runner import Runner
from reactor.runtime.scheduler import Clock, Scheduler, SchedulerOptions, SystemClock
from reactor.runtime.subscription import run_entry
from reactor.runtime.system.environment import (
    Environment,
    deployment_values,
    provide_deployment_values,
)
from reactor.runtime.worker import WorkerSettings
from reactor.runtime.workers import NICE, WORKERS, PoolStats, WorkerPool
from reactor.storage import WorkerGroup
from reactor.storage.blobs import BlobStore, LocalBlobStore
from reactor.storage.choose import make_storage
from reactor.subscriptions import SubscriptionManager
from reactor.transactions import Database, DatabaseOptions

logger = logging.getLogger("reactor.engine")


@dataclass(frozen=True, slots=True)
class EngineStats:
    """Counters for operators and benchmarks: live queries and how commits batch."""

    query_entries: int
    query_executions: int
    commits: int
    commit_batches: int
    conflicts: int
    # Worker processes (runtime/workers.py): paths moved off the event loop, calls run
    # there, workers killed at the time limit, workers started.
    escalations: int = 0
    remote_calls: int = 0
    worker_kills: int = 0
    workers_started: int = 0


class Engine(NodeRole, FunctionCalls):
    """Loads the app, opens the data directory, runs functions and keeps queries live.

    Scheduled jobs run in the background only after `start_scheduler()` (the
    server calls it); otherwise `scheduler.run_due()` runs them on demand.
    """

    def __init__(self, app_dir: Path | str, data_dir: Path | str | None = None, *,
                 durability: str = "full", options: DatabaseOptions | None = None,
                 issuer_url: str = "reactor",
                 action_timeout_s: float = DEFAULT_ACTION_TIMEOUT_S,
                 max_concurrent_actions: int = 64,
                 max_queued_actions: int = DEFAULT_MAX_QUEUED_ACTIONS, clock: Clock | None = None,
                 scheduler_options: SchedulerOptions | None = None,
                 public_url: str = "http://127.0.0.1:3210",
                 file_options: FileOptions | None = None,
                 blob_store: Callable[[Path], BlobStore] | None = None,
                 workers: int = WORKERS,
                 auth_config: AuthConfig | None = None, db_url: str | None = None,
                 follow: bool = False, node_url: str | None = None,
                 group: WorkerGroup | None = None) -> None:
        self.app_dir = Path(app_dir).resolve()
        # PostgreSQL instead of SQLite in the data directory (which still keeps keys, files).
        self.db_url = db_url
        self.init_node(follow, node_url or public_url, group)
        self.data_dir = Path(data_dir).resolve() if data_dir else self.app_dir / ".reactor"
        self.durability = durability
        self.options = options or DatabaseOptions()
        self.issuer_url = issuer_url
        self.action_timeout_s = action_timeout_s
        self.max_concurrent_actions = max_concurrent_actions
        self.max_queued_actions = max_queued_actions
        self.clock: Clock = clock or SystemClock()
        self.scheduler_options = scheduler_options or SchedulerOptions()
        # Where clients reach this server: upload and file URLs are made from it.
        self.public_url = public_url
        self.file_options = file_options or FileOptions()
        # Makes the blob store from the data directory (default: files in it).
        self._blob_store = blob_store or (lambda data_dir: LocalBlobStore(data_dir / "files"))
        # Worker processes for functions that hold the event loop (0: none, and calls
        # that would move there stay on the loop until their time limit).
        self.workers = workers
        self.pool: WorkerPool | None = None
        self._call_listeners: list[CallListener] = []
        # `_system/...`: the dashboard's admin-only queries and mutations.
        self.system = SystemFunctions(lambda: self.app.functions)
        self._auth_config = auth_config
        self._verifier: TokenVerifier | None = None
        self.app: App
        self.database: Database
        self.manager: SubscriptionManager
        self.issuer: BuiltinIssuer
        self.runner: Runner
        self.actions: ActionRunner
        self.environment: Environment
        self.scheduler: Scheduler
        self.files: FileService

    async def start(self) -> None:
        logs.install()
        preempt.install()
        self.app = load_app(self.app_dir)
        logs.capture_app_loggers(self.app.package)
        storage = make_storage(self.data_dir, self.db_url, self.durability, self.group)
        self.database = await self.open_database(storage, self.app.schema, self.options)
        try:
            await self.database.apply_schema(self.app.schema)
            self.issuer = BuiltinIssuer.load_or_create(self.data_dir, self.issuer_url)
            deployment_env = deployment_values(self.public_url)
            provide_deployment_values(deployment_env)
            if self.workers > 0 and preempt.enabled():
                self.pool = WorkerPool(WorkerSettings(self.app_dir, self.data_dir,
                                                      self.issuer_url, NICE,
                                                      tuple(deployment_env.items()),
                                                      self.public_url,
                                                      self._app_file_options(self.app),
                                                      self.db_url),
                                       size=self.workers)
            self.runner = Runner(self.database, self.issuer, self.resolve, now=self.clock.now,
                                 isolation=self.pool)
            self.environment = Environment(self.database)
            self.actions = ActionRunner(self._nested_call, self.database, self.resolve,
                                        self.issuer, self.environment.reader(), self.clock.now,
                                        timeout_s=self.action_timeout_s,
                                        max_concurrent=self.max_concurrent_actions,
                                        max_queued=self.max_queued_actions,
                                        verifier=self.token_verifier)
            self.files = FileService(self.database, self._blob_store(self.data_dir),
                                     FileSigner.load_or_create(self.data_dir),
                                     self.public_url, self._app_file_options(self.app))
            self.runner.files = self.files
            self.actions.files = self.files
            if self.pool is not None:
                self.actions.pool = ActionWorkerPool(self.pool.settings, size=self.workers)
            self.scheduler = Scheduler(self.database, self, self.clock, self.scheduler_options)
            if not self.follow:
                await self.scheduler.start(self.app.crons)
        except BaseException:
            await self.database.close()
            raise
        self.manager = SubscriptionManager(self.database, self._run_entry)
        self.manager.start()
        if not self.follow:
            await self.run_startup_functions()

    async def run_startup_functions(self) -> None:
        """Run the internal mutations marked `on_startup` (what a previous process left
        half done is repaired before anyone reads it); a failure is logged, not fatal."""
        for fn in list(self.app.functions.values()):
            if not (fn.on_startup and fn.kind is FunctionKind.MUTATION and not fn.is_public):
                continue
            outcome = await self.run_definition(fn, {})
            if outcome.error is not None:
                logger.warning("startup function %s failed: %s", fn.path,
                               outcome.error.message)

    def token_verifier(self) -> TokenVerifier:
        """The verifier of the app's trusted issuers (`ctx.auth.verify_token`): the
        server's, or one made from `auth_config.py` on first use."""
        if self._verifier is None:
            config = self._auth_config or load_auth_config(self.app_dir)
            self._verifier = TokenVerifier(config, self.issuer)
        return self._verifier

    def use_token_verifier(self, verifier: TokenVerifier) -> None:
        """Verify tokens in actions as the server verifies clients' (after a reload too)."""
        self._verifier = verifier

    def start_scheduler(self) -> None:
        """Run due jobs and crons, and the orphan-file sweep, in the background from now on
        (on the committing node only: they commit)."""
        self._background = True
        if self.follow:
            return
        self.scheduler.start_background()
        self.files.start()

    async def stop(self) -> None:
        await self.stop_lease()
        await self.scheduler.stop()
        await self.files.stop()
        await self.manager.stop()
        if self.pool is not None:
            await self.pool.close()
        if self.actions.pool is not None:
            await self.actions.pool.close()
        await self.database.close()
        await self.close_forwarder()
        unload_app(self.app)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def reload(self) -> str:
        """Load the app again; swap it in only if it imports and its schema fits the data."""
        new_app = load_app(self.app_dir)
        try:
            report = (await self.database.apply_schema(new_app.schema)).describe()
        except BaseException:
            unload_app(new_app)
            raise
        old, self.app = self.app, new_app
        unload_app(old)
        if self.pool is not None:
            self.pool.settings = dataclasses.replace(
                self.pool.settings, file_options=self._app_file_options(new_app))
            self.pool.restart()
            if self.actions.pool is not None:
                self.actions.pool.settings = self.pool.settings
                self.actions.pool.restart()
        logs.capture_app_loggers(new_app.package)
        self.manager.rerun_all()
        crons = await self.scheduler.reload(new_app.crons)
        self.files.options = self._app_file_options(new_app)
        return f"{len(new_app.functions)} functions; {report}; {crons}"

    def _app_file_options(self, app: App) -> FileOptions:
        """The deployment's file settings with the app's own (`functions/storage.py`) over them."""
        return self.file_options if app.storage is None else app.storage.apply(self.file_options)

    async def _run_entry(self, entry: Any, ts: int) -> Any:
        return await run_entry(self, entry, ts)

    def stats(self) -> EngineStats:
        committer = self.database.committer.stats
        pool = PoolStats() if self.pool is None else self.pool.stats
        return EngineStats(len(self.manager.entries), self.manager.executions,
                           committer.commits, committer.batches, committer.conflicts,
                           pool.escalations, pool.remote_calls, pool.kills, pool.started)
