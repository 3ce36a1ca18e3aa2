"""One WebSocket client: its query set, identity and versions, and the Transitions it is owed.

The receive loop applies client messages to the session state; the sending half
(sending.py) turns that state into frames when something is due, so an idle
connection costs no task of its own beside the one receiving. Transitions are
built without awaiting, from the subscription manager's entries, which are all
valid at one timestamp — so a Transition is always one consistent snapshot.
Pings and the send timeout are the server-wide heartbeat's (heartbeat.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Hashable
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from reactor.errors import ReactorError
from reactor.runtime import Engine, FunctionError, FunctionKind, Outcome
from reactor.runtime.auth import AuthenticationError
from reactor.runtime.runner import to_function_error
from reactor.runtime.system import MutationJournal
from reactor.server import protocol as p
from reactor.server.config import ServerConfig
from reactor.server.fanout import Fanout
from reactor.server.identity import Authenticator, Caller
from reactor.server.log_text import clip
from reactor.server.outgoing import failure_fields, value_json
from reactor.server.query_set import ClientQueries
from reactor.server.quotas import Quotas, RateLimited, caller_key
from reactor.server.sending import SessionSender
from reactor.transactions import CommitOrder, CommitTicket
from reactor.values import from_wire

logger = logging.getLogger("reactor.sync")

# Close codes: the client reconnects after any of them except after a FatalError.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL = 1008
CLOSE_SERVER = 1011


class SyncSession(SessionSender):
    """Everything the server keeps for one socket, and the loops that drive it."""

    def __init__(self, websocket: WebSocket, engine: Engine,
                 authenticator: Callable[[], Authenticator], config: ServerConfig,
                 quotas: Quotas | None = None, fanout: Fanout | None = None) -> None:
        super().__init__(websocket, engine, config,
                         fanout or Fanout(config.transition_chunk_bytes))
        self.quotas = quotas or Quotas(0, 0)
        self.authenticator = authenticator
        self.session_id = ""
        self.fresh_session = False
        self.caller = Caller()
        self.queries = ClientQueries(engine, config.max_queries_per_connection, self._wake_up)
        self._slots = asyncio.Semaphore(config.max_inflight_requests)
        # Made by the first Mutation: most connections only hold queries.
        self._order: CommitOrder | None = None
        self._tasks: set[asyncio.Task[Any]] | None = None
        # The task running `run` (it receives): an idle connection has no other.
        self._receiver: asyncio.Task[Any] | None = None
        # How many live queries the session held when it ended (for memory reclaim).
        self.released_queries = 0

    # Lifecycle -------------------------------------------------------------

    async def run(self) -> None:
        """Receive until the client leaves or the session closes the socket."""
        self._receiver = asyncio.current_task()
        try:
            await self._receive_loop()
            if self._sender is not None:
                await self._sender  # what is queued goes out, then the close (if closing)
        except asyncio.CancelledError:
            if not self._dropped:
                raise
            if self._receiver is not None:
                self._receiver.uncancel()
            if self.closing is not None:
                await self._close(*self.closing)
        finally:
            self._ended = True
            tasks = [task for task in (self._sender, *(self._tasks or ())) if task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.released_queries = self.queries.close()
            self.quotas.forget(self._anonymous_key())

    async def shut_down(self, timeout_s: float) -> None:
        """The server is stopping: let the requests in flight be answered (mutations
        finish; running actions were stopped and fail), send the Transition a committed
        mutation is owed, then close with 1001 going away (the client reconnects)."""
        deadline = time.monotonic() + timeout_s
        tasks = list(self._tasks or ())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        while (self.owe_transition or self.outbox) and not self._ended \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        self._close_later(CLOSE_GOING_AWAY, "ServerShuttingDown: the server is stopping")

    def tick(self, now: float) -> None:
        """The heartbeat's call: drop a client that stopped reading, ping a quiet one."""
        started = self.send_started
        if started is not None and now - started >= self.config.send_timeout_s:
            self._drop()
        elif self._sender is None and now - self.last_send >= self.config.ping_interval_s:
            self._wake_up()

    def _drop(self) -> None:
        """A write is stuck: stop sending and end the session (`run` tries to close)."""
        if self._dropped:
            return
        logger.warning("closing session %s: a send did not complete within %g s (the client"
                       " stopped reading)", self.session_id or "?", self.config.send_timeout_s)
        self._dropped = True
        if self.closing is None:
            self.closing = (CLOSE_SERVER, "InternalServerError: the client did not read its"
                            " messages in time")
        if self._sender is not None:
            self._sender.cancel()
        if self._receiver is not None:
            self._receiver.cancel()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _queue(self, message: Any) -> None:
        self.outbox.append(p.encode_server_message(message))
        if len(self.outbox) > self.config.max_outbox_messages:
            self._close_later(CLOSE_SERVER, "TooManyConcurrentRequests: more than"
                              f" {self.config.max_outbox_messages} responses wait for the"
                              " client to read them")
        self._wake_up()

    def _close_later(self, code: int, reason: str, final: Any = None) -> None:
        """Send `final` (if any) after what is queued, then close; the first reason wins."""
        if self.closing is not None:
            return
        logger.warning("closing session %s: %s", self.session_id or "?", clip(reason))
        if final is not None:
            self.outbox.append(p.encode_server_message(final))
        self.closing = (code, reason)
        self._wake_up()

    def _fatal(self, error: str) -> None:
        self._close_later(CLOSE_PROTOCOL, error, p.FatalError(error=error))

    # Receiving -------------------------------------------------------------

    async def _receive_loop(self) -> None:
        connected = False
        # A socket that never sends Connect is closed (it would hold a connection slot).
        connect_by = asyncio.get_running_loop().time() + self.config.connect_timeout_s
        while self.closing is None:
            try:
                if connected:  # no timeout context per frame once it has connected
                    frame = await self.ws.receive()
                else:
                    async with asyncio.timeout_at(connect_by):
                        frame = await self.ws.receive()
            except TimeoutError:
                self._close_later(CLOSE_PROTOCOL, "ConnectTimeout: no Connect message within"
                                  f" {self.config.connect_timeout_s:g} s of opening the socket")
                continue
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
                    raise p.ProtocolError("the first message on a socket must be Connect,"
                                          f" got {type(message).__name__}")
                connected = True
                await self._handle(message)
            except p.ProtocolError as error:
                self._fatal(error.message)
            except ReactorError as error:
                self._fatal(f"{error.code}: {error.public_message}")
            except Exception:
                logger.exception("session %s: handling a message failed", self.session_id)
                self._close_later(CLOSE_SERVER, "InternalServerError: the server failed to"
                                  " handle a message")

    async def _handle(self, message: p.ClientMessage) -> None:
        match message:
            case p.Connect():
                self._connect(message)
            case p.ModifyQuerySet():
                self.queries.modify(message, self.caller)
                self._wake_up()
            case p.Mutation():
                # Backpressure: past the limit, stop reading until a request finishes.
                await self._slots.acquire()
                if self._order is None:
                    self._order = CommitOrder()
                self._spawn(self._mutation(message, self._order.next()))
            case p.Action():
                await self._slots.acquire()
                self._spawn(self._action(message))
            case p.Authenticate():
                await self._authenticate(message)
            case p.Event():
                pass

    def _connect(self, message: p.Connect) -> None:
        if self.session_id:
            raise p.ProtocolError("Connect may be sent only once per socket")
        try:
            self.session_id = str(uuid.UUID(message.sessionId))
        except ValueError:
            raise p.ProtocolError(
                f"Connect: sessionId {message.sessionId!r} is not a UUID") from None
        # A client's first socket cannot have stored outcomes to re-send against.
        self.fresh_session = message.connectionCount == 0
        observed = message.maxObservedTimestamp
        if observed is not None and self.engine.follow:
            # It saw `ts` on another node: nothing older is shown to it here.
            self.required_ts = max(self.required_ts, p.decode_ts(observed))
            self.engine.notify_at(self.required_ts, self._wake_up)

    async def _authenticate(self, message: p.Authenticate) -> None:
        if message.baseVersion != self.identity_version:
            raise p.ProtocolError(
                f"Authenticate: baseVersion {message.baseVersion} does not match the"
                f" server's identity version {self.identity_version}")
        try:
            caller = await self.authenticator().from_message(message)
        except AuthenticationError as error:
            self._close_later(CLOSE_NORMAL, f"AuthError: {error.message}", p.AuthError(
                error=f"{error.code}: {error.message}", baseVersion=self.identity_version,
                authUpdateAttempted=True))
            return
        self.caller = caller
        self.identity_version += 1
        self.queries.resubscribe(caller)
        self._wake_up()

    # Requests --------------------------------------------------------------

    async def _mutation(self, message: p.Mutation, ticket: CommitTicket) -> None:
        """One mutation. Its handler may overlap those sent before it; its effect (the
        ticket) and its response come after theirs, as if they had run one by one."""
        ts: int | None = None
        try:
            response, ts = await self._run_mutation(message, ticket)
        except Exception:
            logger.exception("session %s: mutation %s failed", self.session_id,
                             clip(message.udfPath))
            response = p.MutationResponse(requestId=message.requestId, success=False,
                                          result="InternalServerError")
        try:
            previous = ticket.predecessor()
            if previous is not None:
                await previous.wait_done()
            if ts is not None:
                self.required_ts = max(self.required_ts, ts)
                if self.engine.live_ts < ts:
                    # Otherwise the flush that sends the response sends the Transition too:
                    # a wake-up from the live queries would find nothing left to send.
                    self.engine.notify_at(ts, self._wake_up)
                self.owe_transition = True
            self._queue(response)
        finally:
            ticket.finish()
            self._slots.release()

    async def _run_mutation(self, message: p.Mutation,
                            ticket: CommitTicket) -> tuple[p.MutationResponse, int | None]:
        """The response, and the commit's ts if it succeeded."""
        try:
            args = from_wire(p.unwrap_args(message.args), "args")
        except ReactorError as error:
            failure = to_function_error(message.udfPath,
                                        ReactorError(error.message, code="ArgsValidation"))
            return p.MutationResponse(requestId=message.requestId, success=False,
                                      result=failure.message), None
        try:
            self.quotas.mutations.charge(self._caller_key())
        except RateLimited as limited:
            return p.MutationResponse(requestId=message.requestId, success=False,
                                      result=f"RateLimited: {limited.message}"), None
        journal = MutationJournal(self.session_id, message.requestId,
                                  resent=not self.fresh_session)
        outcome = await self.engine.call(FunctionKind.MUTATION, message.udfPath, args,
                                         self.caller.identity, admin=self.caller.admin,
                                         journal=journal, ticket=ticket)
        if not outcome.ok:
            return p.MutationResponse(requestId=message.requestId, success=False,
                                      **failure_fields(outcome)), None
        ts = outcome.ts or 0
        return p.MutationResponse(requestId=message.requestId, success=True,
                                  result=msgspec.Raw(value_json(outcome.value)),
                                  ts=p.encode_ts(ts), logLines=outcome.log_lines), ts

    async def _action(self, message: p.Action) -> None:
        try:
            try:
                args = from_wire(p.unwrap_args(message.args), "args")
                self.quotas.actions.charge(self._caller_key())
            except ReactorError as error:
                outcome = Outcome(message.udfPath, error=to_function_error(
                    message.udfPath, ReactorError(error.message, code="ArgsValidation")))
            except RateLimited as limited:
                outcome = Outcome(message.udfPath, error=FunctionError(
                    f"RateLimited: {limited.message}", code=limited.code))
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
        except Exception:
            logger.exception("session %s: action %s failed", self.session_id,
                             clip(message.udfPath))
            self._queue(p.ActionResponse(requestId=message.requestId, success=False,
                                         result="InternalServerError"))
        finally:
            self._slots.release()

    def _anonymous_key(self) -> int:
        """An anonymous caller's bucket is its socket's."""
        return id(self)

    def _caller_key(self) -> Hashable | None:
        return caller_key(self.caller.identity, self.caller.admin, self._anonymous_key())
