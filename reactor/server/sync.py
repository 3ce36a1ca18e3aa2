"""One WebSocket client: its query set, identity and versions, and the Transitions it is owed.

The receive loop applies client messages to the session state; a single sender
task turns that state into frames. Transitions are built without awaiting, from
the subscription manager's entries, which are all valid at one timestamp — so
a Transition is always one consistent snapshot, and a slow socket simply gets
fewer, larger Transitions (it skips to the newest state).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from reactor.errors import ReactorError
from reactor.runtime import Engine, FunctionKind, Outcome
from reactor.runtime.auth import AuthenticationError
from reactor.runtime.paths import canonical_path
from reactor.runtime.runner import to_function_error
from reactor.runtime.subscription import query_key
from reactor.runtime.system import MutationJournal
from reactor.server import protocol as p
from reactor.server.config import ServerConfig
from reactor.server.identity import Authenticator, Caller
from reactor.server.outgoing import failure_fields, query_modification, value_json
from reactor.subscriptions import QueryEntry
from reactor.values import from_wire

logger = logging.getLogger("reactor.sync")


class ClientProtocolError(ReactorError):
    """The client broke the protocol: answered with FatalError, then the socket closes."""

    code = "ProtocolError"


NEVER_SENT = -1


@dataclass(slots=True)
class _Query:
    """A client's query id: a shared entry, or a failure decided before running anything."""

    entry: QueryEntry | None
    failure: str | None = None
    sent_version: int = NEVER_SENT
    journal: str | None = None


class SyncSession:
    """Everything the server keeps for one socket, and the two loops that drive it."""

    def __init__(self, websocket: WebSocket, engine: Engine, authenticator: Authenticator,
                 config: ServerConfig) -> None:
        self.ws = websocket
        self.engine = engine
        self.manager = engine.manager
        self.authenticator = authenticator
        self.config = config
        self.session_id = ""
        self.caller = Caller()
        self.queries: dict[int, _Query] = {}
        self.removed: list[int] = []
        self.query_set_version = 0
        self.identity_version = 0
        # What the client has seen: the endVersion of the last Transition sent.
        self.sent = p.StateVersion(querySet=0, identity=0, ts=p.encode_ts(0))
        self.sent_ts = 0
        self.required_ts = 0
        # A MutationResponse went out: the client needs a Transition after it.
        self.owe_transition = False
        self.outbox: list[bytes] = []
        self.inflight = 0
        self.wake = asyncio.Event()
        self.closing: str | None = None
        self.last_send = time.monotonic()
        self._mutations: asyncio.Queue[p.Mutation] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()

    # Lifecycle -------------------------------------------------------------

    async def run(self) -> None:
        self.manager.add_listener(self._on_advance)
        sender = asyncio.create_task(self._send_loop())
        mutator = asyncio.create_task(self._mutation_loop())
        try:
            await self._receive_loop()
        finally:
            self.manager.remove_listener(self._on_advance)
            for task in (sender, mutator, *self._tasks):
                task.cancel()
            await asyncio.gather(sender, mutator, *self._tasks, return_exceptions=True)
            for query in self.queries.values():
                if query.entry is not None:
                    self.manager.unsubscribe(query.entry)
            self.queries.clear()

    def _on_advance(self, ts: int, changed: set[QueryEntry]) -> None:
        self.wake.set()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _queue(self, message: Any) -> None:
        self.outbox.append(p.encode_server_message(message))
        if len(self.outbox) > self.config.max_outbox_messages:
            self.closing = "TooManyConcurrentRequests: the client is not reading its messages"
        self.wake.set()

    def _fatal(self, error: str) -> None:
        logger.warning("closing session %s: %s", self.session_id or "?", error)
        self.outbox.append(p.encode_server_message(p.FatalError(error=error)))
        self.closing = error
        self.wake.set()

    # Receiving -------------------------------------------------------------

    async def _receive_loop(self) -> None:
        connected = False
        while self.closing is None:
            try:
                frame = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if frame["type"] == "websocket.disconnect":
                return
            data = frame.get("text") if frame.get("text") is not None else frame.get("bytes")
            if data is None:
                continue
            if len(data) > self.config.max_message_bytes:
                self._fatal(f"message of {len(data)} bytes exceeds the limit of"
                            f" {self.config.max_message_bytes} bytes")
                continue
            try:
                message = p.decode_client_message(data)
                if not connected and not isinstance(message, p.Connect):
                    raise ClientProtocolError("the first message on a socket must be Connect")
                connected = True
                await self._handle(message)
            except (p.ProtocolError, ClientProtocolError) as error:
                self._fatal(error.message)
            except ReactorError as error:
                self._fatal(f"{error.code}: {error.message}")

    async def _handle(self, message: p.ClientMessage) -> None:
        match message:
            case p.Connect():
                self._connect(message)
            case p.ModifyQuerySet():
                self._modify_query_set(message)
            case p.Mutation():
                self._admit()
                await self._mutations.put(message)
            case p.Action():
                self._admit()
                self._spawn(self._action(message))
            case p.Authenticate():
                await self._authenticate(message)
            case p.Event():
                pass

    def _connect(self, message: p.Connect) -> None:
        if self.session_id:
            raise ClientProtocolError("Connect may be sent only once per socket")
        try:
            self.session_id = str(uuid.UUID(message.sessionId))
        except ValueError:
            raise ClientProtocolError(f"Connect: sessionId {message.sessionId!r} is not a UUID"
                                      ) from None

    def _admit(self) -> None:
        if self.inflight >= self.config.max_inflight_requests:
            self.closing = ("TooManyConcurrentRequests: more than"
                            f" {self.config.max_inflight_requests} requests in flight")
            self.wake.set()
            raise ClientProtocolError("too many requests in flight")
        self.inflight += 1

    def _modify_query_set(self, message: p.ModifyQuerySet) -> None:
        if message.baseVersion != self.query_set_version:
            raise ClientProtocolError(
                f"ModifyQuerySet: baseVersion {message.baseVersion} does not match the"
                f" server's query set version {self.query_set_version}")
        if message.newVersion != message.baseVersion + 1:
            raise ClientProtocolError(f"ModifyQuerySet: newVersion must be baseVersion + 1,"
                                      f" got {message.newVersion}")
        for modification in message.modifications:
            if isinstance(modification, p.AddQuery):
                self._add_query(modification)
            else:
                query = self.queries.pop(modification.queryId, None)
                if query is None:
                    raise ClientProtocolError(
                        f"Remove: query {modification.queryId} is not in the query set")
                if query.entry is not None:
                    self.manager.unsubscribe(query.entry)
                self.removed.append(modification.queryId)
        self.query_set_version = message.newVersion
        self.wake.set()

    def _add_query(self, add: p.AddQuery) -> None:
        if add.queryId in self.queries:
            raise ClientProtocolError(f"Add: query id {add.queryId} is already in use")
        if len(self.queries) >= self.config.max_queries_per_connection:
            self.queries[add.queryId] = _Query(None, failure=(
                "TooManyQueries: a connection may hold at most"
                f" {self.config.max_queries_per_connection} queries"), journal=add.journal)
            return
        try:
            path = canonical_path(add.udfPath)
            args = from_wire(p.unwrap_args(add.args), "args")
        except ReactorError as error:
            self.queries[add.queryId] = _Query(None, failure=f"{add.udfPath}: {error.message}",
                                               journal=add.journal)
            return
        entry = self._subscribe(path, args, add.journal)  # type: ignore[arg-type]
        self.queries[add.queryId] = _Query(entry, journal=add.journal)

    def _subscribe(self, path: str, args: dict[str, Any], journal: str | None) -> QueryEntry:
        if journal and "paginationOpts" in args and isinstance(args["paginationOpts"], dict):
            options = args["paginationOpts"]
            if options.get("endCursor") is None:
                args = {**args, "paginationOpts": {**options, "endCursor": journal}}
        identity = self.caller.identity
        key = (*query_key(path, args, identity), self.caller.admin)
        return self.manager.subscribe(key, path, args, identity)

    async def _authenticate(self, message: p.Authenticate) -> None:
        if message.baseVersion != self.identity_version:
            raise ClientProtocolError(
                f"Authenticate: baseVersion {message.baseVersion} does not match the"
                f" server's identity version {self.identity_version}")
        try:
            caller = await self.authenticator.from_message(message)
        except AuthenticationError as error:
            self.outbox.append(p.encode_server_message(p.AuthError(
                error=error.message, baseVersion=self.identity_version,
                authUpdateAttempted=True)))
            self.closing = f"AuthError: {error.message}"
            self.wake.set()
            return
        self.caller = caller
        self.identity_version += 1
        for query in self.queries.values():
            old = query.entry
            if old is None:
                continue
            query.entry = self._subscribe(old.path, old.args, None)
            query.sent_version = NEVER_SENT
            self.manager.unsubscribe(old)
        self.wake.set()

    # Requests --------------------------------------------------------------

    async def _mutation_loop(self) -> None:
        """Mutations of one client run one after another, in the order sent."""
        while True:
            message = await self._mutations.get()
            try:
                await self._mutation(message)
            finally:
                self.inflight -= 1

    def _call_args(self, udf_path: str, args: Any) -> dict[str, Any]:
        return from_wire(p.unwrap_args(args), "args")  # type: ignore[return-value]

    async def _mutation(self, message: p.Mutation) -> None:
        try:
            args = self._call_args(message.udfPath, message.args)
        except ReactorError as error:
            self._queue(p.MutationResponse(requestId=message.requestId, success=False,
                                           result=f"{message.udfPath}: {error.message}"))
            return
        journal = MutationJournal(self.session_id, message.requestId)
        outcome = await self.engine.call(FunctionKind.MUTATION, message.udfPath, args,
                                         self.caller.identity, admin=self.caller.admin,
                                         journal=journal)
        if outcome.ok:
            ts = outcome.ts or 0
            self.required_ts = max(self.required_ts, ts)
            self.owe_transition = True
            self._queue(p.MutationResponse(requestId=message.requestId, success=True,
                                           result=msgspec.Raw(value_json(outcome.value)),
                                           ts=p.encode_ts(ts), logLines=outcome.log_lines))
        else:
            self._queue(p.MutationResponse(requestId=message.requestId, success=False,
                                           **failure_fields(outcome)))

    async def _action(self, message: p.Action) -> None:
        try:
            try:
                args = self._call_args(message.udfPath, message.args)
            except ReactorError as error:
                outcome = Outcome(message.udfPath,
                                  error=to_function_error(message.udfPath, error))
            else:
                outcome = await self.engine.call(FunctionKind.ACTION, message.udfPath, args,
                                                 self.caller.identity, admin=self.caller.admin)
            if outcome.ok:
                self._queue(p.ActionResponse(requestId=message.requestId, success=True,
                                             result=msgspec.Raw(value_json(outcome.value)),
                                             logLines=outcome.log_lines))
            else:
                self._queue(p.ActionResponse(requestId=message.requestId, success=False,
                                             **failure_fields(outcome)))
        finally:
            self.inflight -= 1

    # Sending ---------------------------------------------------------------

    def _ready(self) -> bool:
        """Whether a consistent Transition can be built now."""
        if self.manager.current_ts < self.required_ts:
            return False
        return all(q.entry is None or q.entry.ready.is_set() for q in self.queries.values())

    def _transition(self) -> p.Transition | None:
        """The Transition owed to the client now, or None if it is owed nothing."""
        ts = max(self.manager.current_ts, self.sent_ts)
        end = p.StateVersion(querySet=self.query_set_version, identity=self.identity_version,
                             ts=p.encode_ts(ts))
        modifications: list[p.StateModification] = []
        for query_id, query in self.queries.items():
            entry = query.entry
            if entry is None:
                if query.sent_version == NEVER_SENT:
                    modifications.append(p.QueryFailed(
                        queryId=query_id, errorMessage=query.failure or "query failed",
                        journal=query.journal))
                    query.sent_version = 0
            elif query.sent_version != entry.version:
                modifications.append(query_modification(query_id, entry, query.journal))
                query.sent_version = entry.version
        modifications.extend(p.QueryRemoved(queryId=query_id) for query_id in self.removed)
        self.removed.clear()
        versions_moved = (end.querySet, end.identity) != (self.sent.querySet, self.sent.identity)
        if not (modifications or versions_moved or self.owe_transition):
            return None
        transition = p.Transition(startVersion=self.sent, endVersion=end,
                                  modifications=modifications)
        self.sent = end
        self.sent_ts = ts
        self.owe_transition = False
        return transition

    async def _send_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), self.config.ping_interval_s)
            except TimeoutError:
                if not self.outbox:
                    self.outbox.append(p.encode_server_message(p.Ping()))
            self.wake.clear()
            frames, self.outbox = self.outbox, []
            if self.closing is None and self._ready():
                transition = self._transition()
                if transition is not None:
                    frames.extend(self._frames(transition))
            for frame in frames:
                try:
                    await asyncio.wait_for(self.ws.send_text(frame.decode()),
                                           self.config.send_timeout_s)
                except TimeoutError:
                    await self._close("a send did not complete within"
                                      f" {self.config.send_timeout_s:g} s")
                    return
                except Exception:
                    return
            if self.closing is not None:
                await self._close(self.closing)
                return

    def _frames(self, transition: p.Transition) -> list[bytes]:
        encoded = p.encode_server_message(transition)
        size = self.config.transition_chunk_bytes
        if len(encoded) <= size:
            return [encoded]
        text = encoded.decode()
        parts = [text[i:i + size] for i in range(0, len(text), size)]
        transition_id = uuid.uuid4().hex
        return [p.encode_server_message(p.TransitionChunk(
            chunk=part, partNumber=n, totalParts=len(parts), transitionId=transition_id))
            for n, part in enumerate(parts)]

    async def _close(self, reason: str) -> None:
        if self.ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close(code=1011 if "Error" in reason else 1000,
                                    reason=reason[:120])
        raise asyncio.CancelledError
