"""A follower's transport to the committer (reactor/runtime/forwarding.py and
node_link.py), against stand-in committers on real sockets: concurrent transactions
travel together, each gets its own answer (a ts, a conflict, or a resend when the node
does not commit yet), and a failure says whether anything was sent. The real
committer's side runs in tests/test_nodes.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from reactor.errors import ConflictError, InvalidValueError, StorageError
from reactor.runtime import forwarding, node_link
from reactor.runtime.forwarding import (
    COMMIT_ROUTE,
    NO_LINK,
    SECRET_HEADER,
    CommitForwarder,
    decode_batch,
    encode_batch,
)
from reactor.runtime.node_link import AnswerLost, NodeLink, SendFailed
from reactor.storage import CommitterInfo
from reactor.transactions import CommitOrder

SECRET = "s3cret"
Answer = Callable[[bytes], dict[str, Any]]


@dataclass
class StandIn:
    """An HTTP/1.1 server answering `COMMIT_ROUTE` with `answer(body)` per transaction;
    it keeps every request's transactions. `delay_s` holds each answer back, so that
    transactions queue behind a request in flight."""

    answer: Answer
    delay_s: float = 0.05
    requests: list[list[bytes]] = field(default_factory=list)
    links: list[list[int]] = field(default_factory=list)
    cut_next: bool = False
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode().split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers["content-length"]))
                assert lines[0].split()[1] == COMMIT_ROUTE
                assert headers[SECRET_HEADER.lower()] == SECRET
                items = decode_batch(body)
                bodies = [item for item, _ in items]
                self.requests.append(bodies)
                self.links.append([link for _, link in items])
                await asyncio.sleep(self.delay_s)
                if self.cut_next:
                    self.cut_next = False
                    writer.close()
                    return
                data = json.dumps({"results": [self.answer(b) for b in bodies]}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(data), data))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


class Lease:
    """The `CommitLog` part the forwarder uses: where the committer is."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def committer(self) -> CommitterInfo:
        return CommitterInfo(f"http://127.0.0.1:{self.port}", SECRET, 1)


def by_body(body: bytes) -> dict[str, Any]:
    """Commit `n` at ts 1000 + n; "conflict n" conflicts at ts n."""
    word, _, n = body.decode().partition(" ")
    if word == "conflict":
        return {"status": 409, "message": "a document changed", "ts": n}
    return {"ts": str(1000 + int(body))}


async def started(stand_in: StandIn) -> AsyncIterator[CommitForwarder]:
    server = await asyncio.start_server(stand_in.serve, "127.0.0.1", 0)
    stand_in.port = server.sockets[0].getsockname()[1]
    forwarder = CommitForwarder(Lease(stand_in.port))  # type: ignore[arg-type]
    try:
        yield forwarder
    finally:
        await forwarder.close()
        server.close()


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandIn, CommitForwarder]]:
    committer = StandIn(by_body)
    async for forwarder in started(committer):
        yield committer, forwarder


def test_batch_encoding_round_trips_and_refuses_a_cut_body() -> None:
    items = [(b"{}", NO_LINK), (b"", 0), (b"x" * 70_000, 1)]
    assert decode_batch(encode_batch(items)) == items
    with pytest.raises(InvalidValueError, match="item 2 is cut short"):
        decode_batch(encode_batch(items)[:-1])
    with pytest.raises(InvalidValueError, match="item 0 is cut short"):
        decode_batch(b"\x00\x00")
    with pytest.raises(InvalidValueError, match="item 1 follows item 1, which is not before"):
        decode_batch(encode_batch([(b"", NO_LINK), (b"", 1)]))
    with pytest.raises(InvalidValueError, match="carries none"):
        decode_batch(b"")


async def test_concurrent_transactions_share_requests(
        stand_in: tuple[StandIn, CommitForwarder]) -> None:
    """What is sent at once travels in one request; what queues while requests are on
    their way travels in the next, not one request per transaction."""
    committer, forwarder = stand_in
    first = [asyncio.ensure_future(forwarder(str(n).encode())) for n in range(10)]
    await asyncio.sleep(0.01)  # the first ten on their way
    second = [asyncio.ensure_future(forwarder(str(n).encode())) for n in range(10, 30)]
    await asyncio.sleep(0.01)  # the next twenty on their way: two requests in flight
    third = [asyncio.ensure_future(forwarder(str(n).encode())) for n in range(30, 60)]
    answers = await asyncio.gather(*first, *second, *third)
    assert answers == [1000 + n for n in range(60)]
    assert [len(bodies) for bodies in committer.requests] == [10, 20, 30]
    assert (forwarder.requests, forwarder.forwarded) == (3, 60)


async def test_each_transaction_gets_its_own_answer(
        stand_in: tuple[StandIn, CommitForwarder]) -> None:
    _, forwarder = stand_in
    results = await asyncio.gather(forwarder(b"1"), forwarder(b"conflict 7"), forwarder(b"2"),
                                   return_exceptions=True)
    assert results[0] == 1001 and results[2] == 1002
    assert isinstance(results[1], ConflictError) and results[1].ts == 7


async def test_a_transaction_the_node_did_not_commit_is_sent_again() -> None:
    """A node that has not finished taking over answers NotCommitter for a transaction:
    that one (only) is sent again; the others of its request are answered."""
    refused: set[bytes] = set()

    def not_yet(body: bytes) -> dict[str, Any]:
        if body == b"5" and body not in refused:
            refused.add(body)
            return {"status": 503, "code": "NotCommitter", "message": "not yet"}
        return by_body(body)

    committer = StandIn(not_yet, delay_s=0.0)
    async for forwarder in started(committer):
        results = await asyncio.gather(*(forwarder(str(n).encode()) for n in (4, 5, 6)))
        assert results == [1004, 1005, 1006]
        sent = [body for bodies in committer.requests for body in bodies]
        assert sorted(sent) == [b"4", b"5", b"5", b"6"]


async def test_an_answer_lost_after_sending_fails_the_whole_request() -> None:
    """Sent, then the connection broke: the transactions may have committed, so none is
    sent again; each caller gets CommitterUnavailable (its client re-sends by request id)."""
    committer = StandIn(by_body, delay_s=0.05, cut_next=True)
    async for forwarder in started(committer):
        results = await asyncio.gather(forwarder(b"1"), forwarder(b"2"),
                                       return_exceptions=True)
        assert all(isinstance(r, StorageError) and r.code == "CommitterUnavailable"
                   for r in results), results
        assert [b for bodies in committer.requests for b in bodies] == [b"1", b"2"]
        # The next one goes through on a new connection.
        assert await forwarder(b"3") == 1003


async def test_a_cancelled_caller_is_not_sent(
        stand_in: tuple[StandIn, CommitForwarder]) -> None:
    committer, forwarder = stand_in
    first = asyncio.ensure_future(forwarder(b"1"))
    second = asyncio.ensure_future(forwarder(b"2"))
    await asyncio.sleep(0.01)  # both on their way (two requests in flight)
    queued = asyncio.ensure_future(forwarder(b"3"))
    await asyncio.sleep(0)
    queued.cancel()
    assert list(await asyncio.gather(first, second)) == [1001, 1002]
    assert await forwarder(b"4") == 1004
    assert b"3" not in [b for bodies in committer.requests for b in bodies]


async def test_one_clients_transactions_travel_linked_in_the_order_sent(
        stand_in: tuple[StandIn, CommitForwarder]) -> None:
    """A client's next transaction goes in the same request as its previous one, linked
    to it (the committer commits it after that one); one whose previous one is on its
    way in another request waits for that answer instead of overtaking it."""
    committer, forwarder = stand_in
    order = CommitOrder()
    first, second = order.next(), order.next()
    other = CommitOrder().next()  # another client's
    sent = [asyncio.ensure_future(forwarder(b"1", first)),
            asyncio.ensure_future(forwarder(b"2", second)),
            asyncio.ensure_future(forwarder(b"3", other))]
    await asyncio.sleep(0.01)  # on their way
    third = order.next()
    late = asyncio.ensure_future(forwarder(b"4", third))
    unrelated = asyncio.ensure_future(forwarder(b"5", CommitOrder().next()))
    assert await asyncio.gather(*sent, late, unrelated) == [1001, 1002, 1003, 1004, 1005]
    # "4" waited for the request carrying "2"; "5" (another client) did not.
    assert committer.requests == [[b"1", b"2", b"3"], [b"5"], [b"4"]]
    assert committer.links == [[NO_LINK, 0, NO_LINK], [NO_LINK], [NO_LINK]]


async def test_a_transaction_after_a_refused_one_is_not_sent(
        stand_in: tuple[StandIn, CommitForwarder]) -> None:
    """The previous transaction conflicted: the next is answered with a conflict at once
    (its runner runs it again once the previous one is done)."""
    committer, forwarder = stand_in
    order = CommitOrder()
    first = asyncio.ensure_future(forwarder(b"conflict 9", order.next()))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(forwarder(b"2", order.next()))
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, ConflictError) for r in results), results
    assert committer.requests == [[b"conflict 9"]]


async def test_a_transaction_sent_as_the_last_request_ends_is_sent(
        stand_in: tuple[StandIn, CommitForwarder], monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller told of a conflict sends its transaction again at once: its sender has
    ended but is not yet forgotten (that happens a step of the loop later). With every
    sender so ended, the transaction is still sent (before, it waited for a sender that
    would never come: a mutation that hung under load). One sender at a time makes
    every sender end so."""
    committer, forwarder = stand_in
    monkeypatch.setattr(forwarding, "IN_FLIGHT", 1)

    async def resend_on_conflict() -> int:
        try:
            return await forwarder(b"conflict 3")
        except ConflictError:
            return await forwarder(b"3")  # queued with no await before it

    assert await asyncio.wait_for(resend_on_conflict(), 5) == 1003
    assert committer.requests == [[b"conflict 3"], [b"3"]]


# The connections themselves (reactor/runtime/node_link.py) -------------------------


HANG_UP = b"hang up after: "


async def raw_server(answers: list[bytes]) -> tuple[asyncio.Server, list[int]]:
    """A server answering each request (read up to its blank line, with its body) with
    the next of `answers` verbatim; an empty answer closes the connection instead, and
    one after `HANG_UP` closes it after answering. Each connection's number is recorded
    per request."""
    seen: list[int] = []
    connections = iter(range(1_000))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = next(connections)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                await reader.readexactly(length)
                seen.append(number)
                answer = answers.pop(0)
                if not answer:
                    break
                writer.write(answer.removeprefix(HANG_UP))
                await writer.drain()
                if answer.startswith(HANG_UP):
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), seen


def ok(body: bytes, *headers: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n%scontent-length: %d\r\n\r\n%s" % (
        b"".join(h + b"\r\n" for h in headers), len(body), body)


async def test_a_link_keeps_its_connection_and_knows_which_side_a_failure_is_on() -> None:
    server, seen = await raw_server([ok(b"one"), ok(b"two"), ok(b"three", b"connection: close"),
                                     ok(b"four"), b"", b"HTTP/1.1 200 OK\r\n\r\nno length"])
    link = NodeLink(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", 5.0)
    try:
        answers = [await link.post("/x", b"body", {}) for _ in range(4)]
        assert [(a.status, a.body) for a in answers] == [
            (200, b"one"), (200, b"two"), (200, b"three"), (200, b"four")]
        # Kept open between requests, until the node said it closes.
        assert seen == [0, 0, 0, 1]
        with pytest.raises(AnswerLost, match="closed after 0 bytes"):
            await link.post("/x", b"body", {})
        with pytest.raises(AnswerLost, match="no content-length"):
            await link.post("/x", b"body", {})
    finally:
        link.close()
        server.close()
    # Nothing listens any more: nothing was sent, so it may be sent elsewhere.
    with pytest.raises(SendFailed, match=r"ConnectionRefused|Connect call failed"):
        await link.post("/x", b"body", {})


async def test_a_link_does_not_reuse_a_connection_the_node_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A node closes an idle connection (its keep-alive timeout): the next request goes
    on a new connection instead of being lost on the closed one; so does one after the
    link's own idle limit, before the node's would close it."""
    server, seen = await raw_server([HANG_UP + ok(b"one"), ok(b"two"), ok(b"three")])
    link = NodeLink(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", 5.0)
    try:
        assert (await link.post("/x", b"", {})).body == b"one"
        await asyncio.sleep(0.05)  # the hang-up reaches this side
        assert (await link.post("/x", b"", {})).body == b"two"
        monkeypatch.setattr(node_link, "IDLE_S", 0.0)
        assert (await link.post("/x", b"", {})).body == b"three"
        assert seen == [0, 1, 2]
    finally:
        link.close()
        server.close()
