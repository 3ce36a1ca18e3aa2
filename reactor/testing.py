"""An in-process engine for testing app functions, with a temporary data directory."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from reactor.runtime.auth import identity_from_claims
from reactor.runtime.context import MutationCtx
from reactor.runtime.engine import Engine
from reactor.runtime.functions import FunctionKind, internal_mutation
from reactor.runtime.scheduler import Clock, SchedulerOptions
from reactor.runtime.subscription import Subscription
from reactor.runtime.system.environment import Environment
from reactor.transactions import DatabaseOptions

T = TypeVar("T")


class ReactorClient:
    """Calls functions as one caller (an identity, or anonymous), like a client would.

    Internal functions are callable too: tests act with admin rights.
    """

    def __init__(self, engine: Engine, identity: dict[str, Any] | None) -> None:
        self.engine = engine
        self.identity = identity

    async def _call(self, kind: FunctionKind, path: str, args: dict[str, Any] | None) -> Any:
        outcome = await self.engine.call(kind, path, args or {}, self.identity, admin=True)
        return outcome.unwrap()

    async def query(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return await self._call(FunctionKind.QUERY, path, args)

    async def mutation(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return await self._call(FunctionKind.MUTATION, path, args)

    async def action(self, path: str, args: dict[str, Any] | None = None) -> Any:
        return await self._call(FunctionKind.ACTION, path, args)

    def subscribe(self, path: str, args: dict[str, Any] | None = None) -> Subscription:
        return self.engine.subscribe(path, args or {}, self.identity, admin=True)

    async def run(self, handler: Callable[[MutationCtx], Coroutine[Any, Any, T]]) -> T:
        """Run `handler(ctx)` as one mutation: seed data or look at it directly, with
        `ctx.db`, `ctx.scheduler` and the rest, without writing a function for it."""
        definition = internal_mutation(handler)
        definition.path = f"ReactorTest.run({getattr(handler, '__qualname__', 'handler')})"
        outcome = await self.engine.run_definition(definition, {}, self.identity)
        result: T = outcome.unwrap()
        return result


class ReactorTest(ReactorClient):
    """`async with ReactorTest(app_dir) as t:` — a fresh database per test.

    Scheduled jobs and crons run only when the test calls `run_scheduled()`,
    unless `run_scheduler=True` starts the background worker. Pass a
    `ManualClock` as `clock` to move time by hand (`t.clock.advance(60)`);
    `ctx.now()` in functions reads the same clock.
    """

    def __init__(self, app_dir: Path | str, data_dir: Path | str | None = None, *,
                 durability: str = "normal", options: DatabaseOptions | None = None,
                 clock: Clock | None = None, scheduler_options: SchedulerOptions | None = None,
                 run_scheduler: bool = False, **engine_options: Any) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="reactor-test-")
            data_dir = self._tmp.name
        super().__init__(Engine(app_dir, data_dir, durability=durability, options=options,
                                clock=clock, scheduler_options=scheduler_options,
                                **engine_options), None)
        self._run_scheduler = run_scheduler

    async def __aenter__(self) -> ReactorTest:
        await self.engine.start()
        if self._run_scheduler:
            self.engine.start_scheduler()
        return self

    @property
    def clock(self) -> Clock:
        return self.engine.clock

    @property
    def environment(self) -> Environment:
        """Environment variables: `await t.environment.set("NAME", "value")`."""
        return self.engine.environment

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def with_identity(self, subject: str, issuer: str = "reactor", **claims: Any) -> ReactorClient:
        """A client signed in as `subject` (claims such as email, name)."""
        identity = identity_from_claims({"sub": subject, "iss": issuer, **claims})
        return ReactorClient(self.engine, identity)

    async def run_scheduled(self) -> int:
        """Run every scheduled job (and cron) that is due now, wait for them; how many ran."""
        return await self.engine.scheduler.run_due()
