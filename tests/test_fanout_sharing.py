"""A fan-out's shared Transitions: one encoding per distinct message, bounded, for one pass.

The wire behaviour (clients at different versions each keep their chain, fifty
clients of one query get one encoding) is in test_sync_transitions.py; this checks
the bounds and the reuse rules of `Fanout` itself, which sockets cannot reach, and
that a shared message is still compressed per socket when compression is on.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import msgspec
from e2e_support import ReactorServer
from websockets.asyncio.client import connect

from reactor.server import fanout as shared
from reactor.server import protocol as p
from reactor.server.fanout import Fanout
from reactor.subscriptions import QueryResult
from reactor.transactions import ReadSet

SYNC_APP = Path(__file__).parent / "apps" / "sync"
START = p.StateVersion(querySet=1, identity=0, ts=p.encode_ts(5))


def result(encoded: bytes) -> QueryResult:
    return QueryResult(10, ReadSet(), encoded=encoded)


async def test_equal_messages_share_one_encoding_and_different_ones_do_not() -> None:
    fanout = Fanout(chunk_chars=1 << 20)
    value = result(b"42")
    end, frames = fanout.transition(START, 5, 1, 0, 10, [(0, value, None)])
    assert fanout.transition(START, 5, 1, 0, 10, [(0, value, None)]) == (end, frames)
    assert (fanout.encoded, fanout.shared) == (1, 1)
    decoded = msgspec.json.decode(frames[0])
    assert decoded["startVersion"] == {"querySet": 1, "identity": 0, "ts": p.encode_ts(5)}
    assert decoded["endVersion"] == {"querySet": 1, "identity": 0, "ts": p.encode_ts(10)}
    assert decoded["modifications"] == [{"type": "QueryUpdated", "queryId": 0, "value": 42,
                                         "logLines": [], "journal": None}]
    # An equal result in another object, another id, journal or start: encoded anew.
    for changes, start_ts in (([(0, result(b"42"), None)], 5), ([(1, value, None)], 5),
                              ([(0, value, "j")], 5), ([(0, value, None)], 4)):
        _, other = fanout.transition(START, start_ts, 1, 0, 10, changes)
        assert other is not frames
    assert (fanout.encoded, fanout.shared) == (5, 1)


async def test_another_timestamp_or_the_next_pass_encodes_anew() -> None:
    fanout = Fanout(chunk_chars=1 << 20)
    value = result(b"1")
    fanout.transition(START, 5, 1, 0, 10, [(0, value, None)])
    fanout.transition(START, 5, 1, 0, 11, [(0, value, None)])
    fanout.transition(START, 5, 1, 0, 10, [(0, value, None)])
    assert (fanout.encoded, fanout.shared) == (2, 1)
    # Nothing is held past the pass: not the frames, not the results they show.
    await asyncio.sleep(0)
    fanout.transition(START, 5, 1, 0, 10, [(0, value, None)])
    assert (fanout.encoded, fanout.shared) == (3, 1)


async def test_what_is_kept_for_one_pass_is_bounded() -> None:
    fanout = Fanout(chunk_chars=1 << 20)
    big = result(b'"' + b"x" * (shared.MAX_SHARED_BYTES + 1) + b'"')
    fanout.transition(START, 5, 1, 0, 10, [(0, big, None)])
    fanout.transition(START, 5, 1, 0, 10, [(0, big, None)])
    assert (fanout.encoded, fanout.shared) == (2, 0)
    values = [result(str(n).encode()) for n in range(shared.MAX_SHARED_TRANSITIONS + 1)]
    for value in values:
        fanout.transition(START, 5, 1, 0, 10, [(0, value, None)])
    fanout.transition(START, 5, 1, 0, 10, [(0, values[-1], None)])
    fanout.transition(START, 5, 1, 0, 10, [(0, values[0], None)])
    assert fanout.shared == 1


async def test_chunked_transitions_are_shared_whole() -> None:
    fanout = Fanout(chunk_chars=64)
    value = result(b'"' + b"y" * 500 + b'"')
    _, frames = fanout.transition(START, 5, 1, 0, 10, [(0, value, None)])
    assert len(frames) > 1
    assert fanout.transition(START, 5, 1, 0, 10, [(0, value, None)])[1] is frames
    text = "".join(msgspec.json.decode(f)["chunk"] for f in frames)
    assert msgspec.json.decode(text)["modifications"][0]["value"] == "y" * 500


async def test_with_compression_each_socket_gets_the_shared_message_compressed(
        tmp_path: Path) -> None:
    """REACTOR_WS_COMPRESSION on: a Transition shared by two clients is deflated per
    socket (each has its own compression context) and reads back as the same message."""
    with ReactorServer(SYNC_APP, tmp_path, env={"REACTOR_WS_COMPRESSION": "on",
                                                    "SYNC_TEST_HS256_SECRET": "s" * 40}) as server:
        url = server.url.replace("http://", "ws://") + "/api/1.48.0/sync"
        sockets = [await connect(url, compression="deflate", max_size=None,
                                 ping_interval=None) for _ in range(3)]
        try:
            for ws in sockets:
                assert [type(e).__name__ for e in ws.protocol.extensions] == \
                    ["PerMessageDeflate"]
                await ws.send(json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()),
                                          "connectionCount": 0, "lastCloseReason": None,
                                          "clientTs": 0}))
            readers, writer = sockets[:2], sockets[2]
            for ws in readers:
                await ws.send(json.dumps({
                    "type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                    "modifications": [{"type": "Add", "queryId": 0, "udfPath": "counter:get",
                                       "args": [{"name": "squeezed"}]}]}))
                first = json.loads(await ws.recv())
                assert first["modifications"][0]["value"] == 0
            await writer.send(json.dumps({"type": "Mutation", "requestId": 0,
                                          "udfPath": "counter:incr",
                                          "args": [{"name": "squeezed", "by": 2}]}))
            pushed = [json.loads(await asyncio.wait_for(ws.recv(), 10)) for ws in readers]
            assert pushed[0] == pushed[1]
            assert pushed[0]["startVersion"] == first["endVersion"]
            assert pushed[0]["modifications"] == [{"type": "QueryUpdated", "queryId": 0,
                                                   "value": 2, "logLines": [],
                                                   "journal": None}]
        finally:
            for ws in sockets:
                await ws.close()
