"""Function calls through the engine: resolving a path to a definition, running it by its
kind (query, mutation, action; HTTP actions; scheduled jobs; nested calls from actions)
and telling the call listeners about each finished call."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from reactor.errors import ReactorError
from reactor.runtime.actions import ActionRunner
from reactor.runtime.admin import SYSTEM_PREFIX, SystemFunctions
from reactor.runtime.client_errors import (
    current_request_id,
    function_not_found,
    request_scope,
)
from reactor.runtime.functions import FunctionDefinition, FunctionKind
from reactor.runtime.http_actions import HttpRequest, HttpResponse, lookup_route
from reactor.runtime.live_queries import Identity, LiveQueries
from reactor.runtime.loader import App
from reactor.runtime.node_role import FOLLOW_WAIT_S
from reactor.runtime.outcome import Outcome
from reactor.runtime.paths import canonical_path
from reactor.runtime.runner import Journal, to_function_error
from reactor.runtime.system.scheduled_functions import JobCompletion
from reactor.transactions import CommitTicket

logger = logging.getLogger("reactor.engine")

CallListener = Callable[[FunctionKind, Outcome], None]


class FunctionCalls(LiveQueries):
    """The calling half of `Engine` (a mixin over its app, runners and database); a query
    at the latest commit is answered by its live queries."""

    app: App
    system: SystemFunctions
    actions: ActionRunner
    _call_listeners: list[CallListener]

    def resolve(self, path: str, kind: FunctionKind | None = None,
                *, public_only: bool = False, admin: bool = False) -> FunctionDefinition:
        """The function at `path`; clients (`public_only`) never see internal ones, and
        system functions (`_system/...`) run only for `admin` callers (`AdminOnly`)."""
        canonical = canonical_path(path)
        if canonical.startswith(SYSTEM_PREFIX):
            fn = self.system.get(canonical, admin=admin)
        else:
            fn = self.app.functions.get(canonical)
        if fn is None or (public_only and not fn.is_public):
            raise function_not_found(path, public=public_only)
        if kind is not None and fn.kind is not kind:
            raise ReactorError(f"Trying to execute {canonical} as"
                               f" {kind.value.capitalize()}, but it is defined as"
                               f" {fn.kind.value.capitalize()}.", code="WrongFunctionKind")
        return fn

    def hides(self, path: str, *, admin: bool) -> bool:
        """Whether `path` is an internal function that this caller may not run.

        A path naming no function is not hidden: a live query of it reports the
        error and runs once a reload adds the function.
        """
        fn = self.app.functions.get(canonical_path(path))
        return fn is not None and not fn.is_public and not admin

    def add_call_listener(self, listener: CallListener) -> None:
        """Call `listener` after every function call: client calls, live-query runs
        (first runs and re-runs), scheduled jobs and HTTP actions."""
        self._call_listeners.append(listener)

    def remove_call_listener(self, listener: CallListener) -> None:
        """Stop calling `listener` (added by `add_call_listener`)."""
        if listener in self._call_listeners:
            self._call_listeners.remove(listener)

    def report(self, kind: FunctionKind, outcome: Outcome, identity: Identity = None) -> None:
        """Tell the call listeners about one finished call, made by `identity`."""
        if not outcome.request_id:
            outcome.request_id = (outcome.error.request_id if outcome.error is not None
                                  else current_request_id())
        if identity is not None and outcome.caller is None:
            subject = identity.get("subject")
            outcome.caller = subject if isinstance(subject, str) else None
        for listener in self._call_listeners:
            try:
                listener(kind, outcome)
            except Exception:
                logger.exception("call listener failed")

    async def call(self, kind: FunctionKind, path: str, args: Any,
                   identity: Identity = None, *, admin: bool = False,
                   ts: int | None = None, journal: Journal | None = None,
                   ticket: CommitTicket | None = None) -> Outcome:
        """Run a function as a client (public only unless `admin`) and report it.

        A mutation's `ticket` orders it after the same client's previous one.
        """
        with request_scope():
            return await self._call(kind, path, args, identity, admin, ts, journal, ticket)

    async def _call(self, kind: FunctionKind, path: str, args: Any, identity: Identity,
                    admin: bool, ts: int | None, journal: Journal | None,
                    ticket: CommitTicket | None) -> Outcome:
        try:
            fn = self.resolve(path, kind, public_only=not admin, admin=admin)
            if ts is not None:
                await self.database.wait_until(ts, FOLLOW_WAIT_S)
                self.database.check_readable(ts)
        except ReactorError as error:
            outcome = Outcome(path, error=to_function_error(path, error))
            self.report(kind, outcome, identity)
            return outcome
        outcome = await self._execute(fn, args, identity, ts, journal, admin=admin,
                                      ticket=ticket)
        self.report(kind, outcome, identity)
        return outcome

    async def _execute(self, fn: FunctionDefinition, args: Any, identity: Identity,
                       ts: int | None = None, journal: Journal | None = None, *,
                       nested: bool = False, admin: bool = True,
                       ticket: CommitTicket | None = None) -> Outcome:
        if fn.kind is FunctionKind.QUERY:
            if ts is None:
                return await self._latest_query(fn, args, identity, admin)
            return await self.runner.query(fn, args, identity, ts)
        if fn.kind is FunctionKind.MUTATION:
            return await self.runner.mutation(fn, args, identity, journal, ticket)
        return await self.actions.run(fn, args, identity, nested=nested)

    async def run_definition(self, fn: FunctionDefinition, args: Any,
                             identity: Identity = None) -> Outcome:
        """Run a definition that need not belong to the app (`ReactorTest.run`)."""
        with request_scope():
            return await self._execute(fn, args, identity)

    async def _nested_call(self, kind: FunctionKind, path: str, args: Any,
                           identity: Identity) -> Outcome:
        """`ctx.run_query / run_mutation / run_action` from an action, as its caller."""
        try:
            fn = self.resolve(path, kind)
        except ReactorError as error:
            return Outcome(path, error=to_function_error(path, error))
        return await self._execute(fn, args, identity, nested=True)

    async def run_query(self, path: str, args: Any = None, identity: Identity = None,
                        **kw: Any) -> Outcome:
        return await self.call(FunctionKind.QUERY, path, args, identity, **kw)

    async def run_mutation(self, path: str, args: Any = None, identity: Identity = None,
                           **kw: Any) -> Outcome:
        return await self.call(FunctionKind.MUTATION, path, args, identity, **kw)

    async def run_action(self, path: str, args: Any = None, identity: Identity = None,
                         **kw: Any) -> Outcome:
        return await self.call(FunctionKind.ACTION, path, args, identity, **kw)

    async def run_http_action(self, request: HttpRequest, identity: Identity,
                              refusal: ReactorError | None = None) -> HttpResponse:
        """Route a request to `functions/http.py`; 404 / 405 when no route fits.
        `refusal`: why the Authorization header gave no identity, raised on reading it."""
        route = lookup_route(self.app.http, request)
        if isinstance(route, HttpResponse):
            return route
        with request_scope():
            response, outcome = await self.actions.run_http(route, request, identity, refusal)
            self.report(FunctionKind.ACTION, outcome, identity)
        return response

    # Scheduled jobs (the scheduler's JobHost) --------------------------------

    async def run_job_mutation(self, fn: FunctionDefinition, args: dict[str, Any],
                               completion: JobCompletion) -> Outcome:
        with request_scope():
            outcome = await self.runner.mutation(fn, args, None, completion)
            if not completion.skipped:
                self.report(FunctionKind.MUTATION, outcome)
        return outcome

    async def run_job_action(self, fn: FunctionDefinition, args: dict[str, Any]) -> Outcome:
        with request_scope():
            outcome = await self.actions.run(fn, args, None)
            self.report(FunctionKind.ACTION, outcome)
        return outcome
