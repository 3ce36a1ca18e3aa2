"""A follower node's transport to the committing node: forwarded transactions, batched.

The committer names its address and the store's shared secret in the store
(`committer_lease`); a follower looks them up on first use and again after any
failure (the committer may have changed). The committer's answer to each transaction
is its commit ts, or a conflict, which the follower's runner handles like a local one
(it runs the mutation again at a newer snapshot).

Transactions that a follower's clients commit at the same time travel together: at
most `IN_FLIGHT` requests are on their way at once, and whatever queues meanwhile goes
in the next one (up to `MAX_BATCH`). The committer queues a request's transactions for
commit together, so they share one group-commit batch, one HTTP request and one log
read on the follower, as its own clients' mutations share a batch. Why two in
flight: while one request's batch is written to the store, the next is on its way.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from reactor.errors import ConflictError, InvalidValueError, StorageError
from reactor.runtime.node_link import Answer, AnswerLost, NodeLink, SendFailed
from reactor.storage import CommitLog, CommitterInfo
from reactor.transactions import CommitTicket

logger = logging.getLogger("reactor.forwarding")

COMMIT_ROUTE = "/_reactor/commit"
SECRET_HEADER = "X-Reactor-Node"
# A forwarded commit waits for the committer's group commit, never for handlers.
TIMEOUT_S = 30.0
# How long a follower keeps looking for a committer it can connect to (the failover
# bound of docs/guide/nodes.md), and how often.
FAILOVER_WAIT_S = 10.0
RETRY_S = 0.2
# Requests on their way to the committer at once, and transactions in one request.
IN_FLIGHT = 2
MAX_BATCH = 256
# The refusals that mean "nothing was committed, ask the committer the lease names":
# the node has not finished taking over, or it was deposed and stopped.
NOT_COMMITTING = ("NotCommitter", "DatabaseClosed")
# How often a follower waiting for the committer's answer checks that it still holds
# the lease.
LEASE_WATCH_S = 1.0
# A request's transactions, each as its length and its link (big-endian), then its
# encoding. The link is 1 + the index of the transaction of the same request that it
# must commit after (its client's previous mutation), or 0.
LENGTH_BYTES = 4
LINK_BYTES = 4
NO_LINK = -1


def encode_batch(items: list[tuple[bytes, int]]) -> bytes:
    """One request's body: each encoded transaction with the index it must commit
    after (`NO_LINK`: none)."""
    return b"".join(len(body).to_bytes(LENGTH_BYTES, "big") + (link + 1).to_bytes(
        LINK_BYTES, "big") + body for body, link in items)


def decode_batch(data: bytes) -> list[tuple[bytes, int]]:
    """The transactions of a request's body (`encode_batch`), with their links."""
    items: list[tuple[bytes, int]] = []
    at = 0
    while at < len(data):
        end = at + LENGTH_BYTES + LINK_BYTES
        if end <= len(data):
            end += int.from_bytes(data[at:at + LENGTH_BYTES], "big")
        if end > len(data):
            raise InvalidValueError(f"forwarded transactions: item {len(items)} is cut short"
                                    f" ({len(data) - at} of {end - at} bytes)")
        link = int.from_bytes(data[at + LENGTH_BYTES:at + LENGTH_BYTES + LINK_BYTES], "big") - 1
        if link >= len(items):
            raise InvalidValueError(f"forwarded transactions: item {len(items)} follows item"
                                    f" {link}, which is not before it")
        items.append((data[at + LENGTH_BYTES + LINK_BYTES:end], link))
        at = end
    if not items:
        raise InvalidValueError("forwarded transactions: the request carries none")
    return items


def unavailable(detail: str) -> StorageError:
    message = "CommitterUnavailable: the committing node could not be reached; try again"
    return StorageError(f"forwarding a commit: {detail}", code="CommitterUnavailable",
                        public=message)


@dataclass(slots=True, eq=False)
class _Forward:
    body: bytes
    future: asyncio.Future[int]
    # The same client's previous mutation as sent: this one commits after it.
    after: _Forward | None = None


class CommitForwarder:
    """`Database.forward` on a follower: send one encoded transaction, return its ts."""

    def __init__(self, log: CommitLog) -> None:
        self.log = log
        self._committer: CommitterInfo | None = None
        self._link: NodeLink | None = None
        self._queue: list[_Forward] = []
        self._senders: set[asyncio.Task[None]] = set()
        # Requests answered and transactions answered (benchmarks read the batch size).
        self.requests = 0
        self.forwarded = 0

    async def close(self) -> None:
        for task in list(self._senders):
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        closed = unavailable("this node is shutting down")
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(closed)
        self._queue.clear()
        if self._link is not None:
            self._link.close()

    def _link_to(self, committer: CommitterInfo) -> NodeLink:
        """The connections to `committer` (a new committer: new connections)."""
        if self._link is None or self._link.address != committer.address:
            if self._link is not None:
                self._link.close()
            self._link = NodeLink(committer.address, TIMEOUT_S)
        return self._link

    async def __call__(self, body: bytes, ticket: CommitTicket | None = None) -> int:
        """Send `body` to the committer with the transactions queued beside it; its ts.

        With a ticket whose predecessor was sent here, it goes in the same request
        (the committer commits it after that one, or refuses it as a conflict if that
        one did not commit), or once that one is answered."""
        previous = None if ticket is None else ticket.predecessor()
        after = None
        if previous is not None:
            if isinstance(previous.attempt, _Forward):
                after = previous.attempt
            else:  # committed another way (before this node was deposed): wait for it
                await previous.wait_done()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        item = _Forward(body, future, after)
        self._queue.append(item)
        if ticket is not None:
            ticket.queued(item)
        # Senders that have ended stay in the set until their done callback, a step of
        # the loop later: they would never take this one.
        if sum(not sender.done() for sender in self._senders) < IN_FLIGHT:
            task = asyncio.create_task(self._send_queued(), name="reactor-forward")
            self._senders.add(task)
            task.add_done_callback(self._senders.discard)
        return await future

    async def _send_queued(self) -> None:
        """Send what is queued, a request at a time, until nothing can go (what waits
        for the answer to another request goes with the sender of that request)."""
        while batch := self._take():
            try:
                await self._send(batch)
            except Exception as exc:  # e.g. the lease could not be read: answer everyone
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    def _take(self) -> list[_Forward]:
        """The next request's transactions, in the order queued. One whose predecessor is
        on its way in another request stays queued; one whose predecessor failed is
        refused (its runner runs it again once that one is done)."""
        batch: list[_Forward] = []
        taken: set[int] = set()
        held: list[_Forward] = []
        for item in self._queue:
            if item.future.done():  # its caller was cancelled
                continue
            after = item.after
            if len(batch) >= MAX_BATCH or (after is not None and id(after) not in taken
                                           and not after.future.done()):
                held.append(item)
                continue
            if after is not None and after.future.done() and (
                    after.future.cancelled() or after.future.exception() is not None):
                item.future.set_exception(ConflictError(
                    "the mutation the same client sent before it was not committed", ts=0))
                continue
            taken.add(id(item))
            batch.append(item)
        self._queue = held
        return batch

    async def _send(self, batch: list[_Forward]) -> None:
        """Send `batch` and answer each transaction. Until `FAILOVER_WAIT_S`, a committer
        that cannot be connected to (it died; a follower is taking over) is looked up
        again and the transactions sent to the new one: nothing was sent, so nothing can
        apply twice; so are those a node answers it does not commit (yet, or any more).
        A request sent whose answer is lost fails (`CommitterUnavailable`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FAILOVER_WAIT_S
        while True:
            committer = self._committer or await self.log.committer()
            if committer is None:
                detail = "no node has named itself the committer"
            else:
                try:
                    answer = await self._post(committer, batch)
                except (SendFailed, ValueError) as exc:
                    detail = f"{committer.address}: {exc}"
                except AnswerLost as exc:
                    self._committer = None
                    _fail(batch, unavailable(f"{committer.address}: {exc}"))
                    return
                except Deposed:
                    self._committer = None
                    _fail(batch, unavailable(f"{committer.address} lost the lease while the"
                                             " commit was in flight (it may or may not have"
                                             " been made)"))
                    return
                else:
                    self.requests += 1
                    batch = self._answer(committer, batch, answer)
                    if not batch:
                        return
                    detail = f"{committer.address} is not committing (yet)"
            self._committer = None
            if loop.time() > deadline:
                _fail(batch, unavailable(detail))
                return
            await asyncio.sleep(RETRY_S)

    async def _post(self, committer: CommitterInfo, batch: list[_Forward]) -> Answer:
        """Send `batch` to `committer`. An answer slow in coming (a stopped process, whose
        port still accepts) is given up once another node holds the lease (`Deposed`):
        the old committer's writes are fenced from then on, so waiting longer decides
        nothing."""
        sending = asyncio.ensure_future(self._link_to(committer).post(
            COMMIT_ROUTE, encode_batch(_linked(batch)),
            {SECRET_HEADER: committer.secret}))
        try:
            while True:
                done, _ = await asyncio.wait({sending}, timeout=LEASE_WATCH_S)
                if done:
                    return sending.result()
                try:
                    current = await self.log.committer()
                except StorageError:
                    continue  # PostgreSQL is away: keep waiting for the answer
                if current is not None and current.epoch != committer.epoch:
                    raise Deposed
        finally:
            if not sending.done():
                sending.cancel()
                await asyncio.gather(sending, return_exceptions=True)

    def _answer(self, committer: CommitterInfo, batch: list[_Forward],
                response: Answer) -> list[_Forward]:
        """Answer each transaction of `batch` from the committer's `response`; those it
        did not commit because it does not commit (yet, or any more), to send again."""
        try:
            answer = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.status == 503 and answer.get("code") in NOT_COMMITTING:
            return batch
        results = answer.get("results")
        if response.status != 200 or not isinstance(results, list) or len(results) != len(batch):
            self._committer = None
            _fail(batch, unavailable(f"{committer.address} answered {response.status}:"
                                     f" {response.body[:300]!r}"))
            return []
        self._committer = committer
        again: list[_Forward] = []
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, dict) and result.get("code") in NOT_COMMITTING:
                again.append(item)
            elif not item.future.done():
                self.forwarded += 1
                _settle(item.future, committer, result)
        return again


def _linked(batch: list[_Forward]) -> list[tuple[bytes, int]]:
    """Each transaction with the index of its predecessor in `batch`, if it is there."""
    index = {id(item): at for at, item in enumerate(batch)}
    return [(item.body, NO_LINK if item.after is None else index.get(id(item.after), NO_LINK))
            for item in batch]


def _settle(future: asyncio.Future[int], committer: CommitterInfo, result: Any) -> None:
    """Answer one forwarded transaction from its result in the committer's response."""
    if not isinstance(result, dict):
        future.set_exception(unavailable(f"{committer.address} answered {result!r}"))
    elif isinstance(result.get("ts"), str) and "status" not in result:
        future.set_result(int(result["ts"]))
    elif result.get("status") == 409:
        future.set_exception(ConflictError(str(result.get("message", "conflict")),
                                           ts=int(result.get("ts", "0"))))
    else:
        future.set_exception(unavailable(f"{committer.address} answered {result}"))


class Deposed(Exception):
    """The committer a request was sent to lost the lease before it answered."""


def _fail(batch: list[_Forward], error: Exception) -> None:
    for item in batch:
        if not item.future.done():
            item.future.set_exception(error)
