"""The engine: one app, its database and its live queries, behind the API the server uses."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reactor.errors import NotFoundError, ReactorError
from reactor.runtime import logs
from reactor.runtime.actions import (
    DEFAULT_ACTION_TIMEOUT_S,
    ActionCtx,
    ActionScheduler,
    run_action_handler,
)
from reactor.runtime.auth import BuiltinIssuer
from reactor.runtime.context import Auth, TransactionScheduler
from reactor.runtime.functions import FunctionDefinition, FunctionKind
from reactor.runtime.loader import App, load_app, unload_app
from reactor.runtime.migration import apply_schema
from reactor.runtime.outcome import FunctionError, Outcome
from reactor.runtime.paths import canonical_path
from reactor.runtime.runner import Runner, check_returns, prepare_args, to_function_error
from reactor.runtime.subscription import Subscription, query_key, run_entry
from reactor.runtime.system import SCHEDULED_FUNCTIONS, MutationJournal, system_tables
from reactor.runtime.system.scheduled_functions import new_job
from reactor.storage import SqliteStorage
from reactor.subscriptions import SubscriptionManager
from reactor.transactions import Database, DatabaseOptions

logger = logging.getLogger("reactor.engine")

CallListener = Callable[[FunctionKind, Outcome], None]


class Engine:
    """Loads the app, opens the data directory, runs functions and keeps queries live."""

    def __init__(self, app_dir: Path | str, data_dir: Path | str | None = None, *,
                 durability: str = "full", options: DatabaseOptions | None = None,
                 issuer_url: str = "reactor",
                 action_timeout_s: float = DEFAULT_ACTION_TIMEOUT_S,
                 max_concurrent_actions: int = 64) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.data_dir = Path(data_dir).resolve() if data_dir else self.app_dir / ".reactor"
        self.durability = durability
        self.options = options or DatabaseOptions()
        self.issuer_url = issuer_url
        self.action_timeout_s = action_timeout_s
        self._action_slots = asyncio.Semaphore(max_concurrent_actions)
        self._call_listeners: list[CallListener] = []
        self.app: App
        self.database: Database
        self.manager: SubscriptionManager
        self.issuer: BuiltinIssuer
        self.runner: Runner

    async def start(self) -> None:
        logs.install()
        self.app = load_app(self.app_dir)
        logs.capture_app_loggers(self.app.package)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        storage = SqliteStorage(self.data_dir, durability=self.durability)  # type: ignore[arg-type]
        self.database = await Database.open(storage, self.app.schema, self.options,
                                            system_tables())
        try:
            await apply_schema(self.database, self.app.schema)
        except BaseException:
            await self.database.close()
            raise
        self.issuer = BuiltinIssuer.load_or_create(self.data_dir, self.issuer_url)
        self.runner = Runner(self.database, self.issuer, self.resolve)
        self.manager = SubscriptionManager(self.database, self._run_entry)
        self.manager.start()

    async def stop(self) -> None:
        await self.manager.stop()
        await self.database.close()
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
            report = await apply_schema(self.database, new_app.schema)
        except BaseException:
            unload_app(new_app)
            raise
        old, self.app = self.app, new_app
        unload_app(old)
        logs.capture_app_loggers(new_app.package)
        self.manager.rerun_all()
        return f"{len(new_app.functions)} functions; {report}"

    # Functions -------------------------------------------------------------

    def resolve(self, path: str, kind: FunctionKind | None = None,
                *, public_only: bool = False) -> FunctionDefinition:
        """The function at `path`; clients (`public_only`) never see internal ones."""
        canonical = canonical_path(path)
        fn = self.app.functions.get(canonical)
        if fn is None or (public_only and not fn.is_public):
            visible = "public " if public_only else ""
            raise NotFoundError(f"could not find {visible}function {path!r}",
                                code="FunctionNotFound")
        if kind is not None and fn.kind is not kind:
            raise ReactorError(f"{canonical} is a {fn.kind.value}, not a {kind.value}",
                               code="WrongFunctionKind")
        return fn

    def add_call_listener(self, listener: CallListener) -> None:
        self._call_listeners.append(listener)

    def _report(self, kind: FunctionKind, outcome: Outcome) -> None:
        for listener in self._call_listeners:
            try:
                listener(kind, outcome)
            except Exception:
                logger.exception("call listener failed")

    async def call(self, kind: FunctionKind, path: str, args: Any,
                   identity: dict[str, Any] | None = None, *, admin: bool = False,
                   ts: int | None = None, journal: MutationJournal | None = None) -> Outcome:
        """Run a function as a client (public only unless `admin`) and report it."""
        try:
            fn = self.resolve(path, kind, public_only=not admin)
        except ReactorError as error:
            outcome = Outcome(path, error=to_function_error(path, error))
            self._report(kind, outcome)
            return outcome
        outcome = await self._execute(fn, args, identity, ts, journal)
        self._report(kind, outcome)
        return outcome

    async def _execute(self, fn: FunctionDefinition, args: Any,
                       identity: dict[str, Any] | None, ts: int | None = None,
                       journal: MutationJournal | None = None) -> Outcome:
        if fn.kind is FunctionKind.QUERY:
            return await self.runner.query(fn, args, identity, ts)
        if fn.kind is FunctionKind.MUTATION:
            return await self.runner.mutation(fn, args, identity, journal)
        return await self._action(fn, args, identity)

    async def run_query(self, path: str, args: Any = None,
                        identity: dict[str, Any] | None = None, **kw: Any) -> Outcome:
        return await self.call(FunctionKind.QUERY, path, args, identity, **kw)

    async def run_mutation(self, path: str, args: Any = None,
                           identity: dict[str, Any] | None = None, **kw: Any) -> Outcome:
        return await self.call(FunctionKind.MUTATION, path, args, identity, **kw)

    async def run_action(self, path: str, args: Any = None,
                         identity: dict[str, Any] | None = None, **kw: Any) -> Outcome:
        return await self.call(FunctionKind.ACTION, path, args, identity, **kw)

    async def _action(self, fn: FunctionDefinition, args: Any,
                      identity: dict[str, Any] | None) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome(fn.path)

        async def nested(kind: FunctionKind, path: str, nested_args: Any) -> Outcome:
            return await self._execute(self.resolve(path, kind), nested_args, identity)

        ctx = ActionCtx(nested, Auth(identity, self.issuer, can_issue=True),
                        ActionScheduler(self.schedule, self.cancel_job))
        async with self._action_slots:
            with logs.capture() as sink:
                try:
                    checked = prepare_args(fn, args)
                    value = await run_action_handler(fn, ctx, checked, self.action_timeout_s)
                    outcome.value = check_returns(fn, value)
                except Exception as error:
                    outcome.error = to_function_error(fn.path, error)
        outcome.log_lines = sink.lines
        outcome.duration_s = time.perf_counter() - started
        return outcome

    # Scheduling from outside a mutation ------------------------------------

    async def schedule(self, path: str, args: dict[str, Any], timestamp_ms: float) -> str:
        self.resolve(path)
        for _ in range(12):
            txn = self.database.begin()
            try:
                job_id = await txn.insert(SCHEDULED_FUNCTIONS, new_job(path, args, timestamp_ms))
                await self.database.commit(txn)
                return job_id
            except ReactorError as error:
                if error.code != "OptimisticConcurrency":
                    raise
            finally:
                txn.close()
        raise FunctionError("could not schedule the job: too many conflicts")

    async def cancel_job(self, job_id: str) -> None:
        txn = self.database.begin()
        try:
            await TransactionScheduler(txn, self.resolve, time.time_ns() / 1e6).cancel(job_id)
            await self.database.commit(txn)
        finally:
            txn.close()

    # Subscriptions ---------------------------------------------------------

    async def _run_entry(self, entry: Any, ts: int) -> Any:
        return await run_entry(self, entry, ts)

    def subscribe(self, path: str, args: Any = None,
                  identity: dict[str, Any] | None = None) -> Subscription:
        """A live query: its current value, then each changed value (in-process API)."""
        return Subscription(self.manager, query_key(canonical_path(path), args, identity),
                            canonical_path(path), args or {}, identity)
