"""Protocol fuzzing against a live `reactor serve`: random and malformed frames, huge and deep
arguments, and version games, each on its own socket.

For every fuzzed socket the server must answer with valid protocol messages only
(no traceback in any of them) and either keep serving the socket — a probe
mutation sent after the fuzzed frames is answered — or end it clearly: a
FatalError then close 1008 with the same reason, or AuthError then close 1000.
Never an internal error (1011) or a cut connection. All the while a bystander on
another socket increments and watches its own counter and must see every update,
the server must stay healthy, and its RSS must not grow by more than
RSS_GROWTH_BOUND over the run. Some growth is expected and bounded elsewhere: the
write log keeps the last 60 s of commits and SQLite's page cache grows with the
database (up to 32 MiB per connection); keeping one huge argument per socket
would exceed the bound, and `test_large_arguments_are_not_kept_after_use`
checks that case directly.
REACTOR_LONG=1 runs ten times as many examples.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from e2e_support import ReactorServer
from fuzz_frames import huge_argument_frames, random_frames, wrongly_typed_frames
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from ledger_support import LONG
from server_probe import LIMITS_APP, MIB, ThreadedBystander, healthy, server_rss
from sync_support import ProtocolClient, SocketClosed, http_json
from websockets.exceptions import ConnectionClosed

from reactor.server import protocol as p

EXAMPLES = 1500 if LONG else 150
# RSS may grow by this much from the warmed-up server to the end of the run.
RSS_GROWTH_BOUND = 48 * MIB
PROBE_ID = 2**52 + 7
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "/')
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.data_too_large,
                                                HealthCheck.large_base_example])


class Watch:
    """The server under fuzzing, its bystander and the RSS samples taken after each example."""

    def __init__(self, server: ReactorServer, bystander: ThreadedBystander) -> None:
        self.server = server
        self.bystander = bystander
        self.baseline_rss = server_rss(server)
        self.samples: list[int] = []

    def __repr__(self) -> str:
        return f"Watch({self.server.url}, {len(self.samples)} sockets fuzzed)"

    def after_example(self) -> None:
        assert self.server.process is not None and self.server.process.poll() is None, (
            f"the server exited; log:\n{self.server.log()[-3000:]}")
        self.bystander.check()
        self.samples.append(server_rss(self.server))


@pytest.fixture(scope="module")
def watch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watch]:
    with ReactorServer(LIMITS_APP, tmp_path_factory.mktemp("fuzz-data")) as server:
        bystander = ThreadedBystander(server.url).start()
        # Warm up with one of each large shape, so that the baseline includes what any
        # run allocates once (buffers, caches, the first table of each kind).
        for value in ('"' + "x" * 2_000_000 + '"', "[" + ",".join(["0"] * 100_000) + "]",
                      "[" * 10_000 + "]" * 10_000):
            asyncio.run(exchange(server.url, [
                f'{{"type":"Mutation","requestId":1,"udfPath":"values:store",'
                f'"args":[{{"doc":{{"v":{value}}}}}]}}']))
        yield Watch(server, bystander)
        bystander.stop()


@dataclass
class Exchange:
    """What one fuzzed socket got back."""

    client: ProtocolClient
    probe: dict[str, Any] | None = None
    closed: SocketClosed | None = None


async def exchange(url: str, frames: list[str | bytes], *, connect: bool = True) -> Exchange:
    """Send `frames` (after Connect unless `connect` is false), then a probe mutation; read
    until the probe is answered and visible, or until the server closes the socket."""
    client = ProtocolClient(url)
    await client.open(connect_message=connect)
    result = Exchange(client)
    try:
        for frame in frames:
            await client.send_raw(frame)
        await client.send({"type": "Mutation", "requestId": PROBE_ID,
                           "udfPath": "values:echo_mutation", "args": [{"value": "probe"}]})
        result.probe, _ = await client.settle(PROBE_ID, timeout=30)
    except SocketClosed as closed:
        result.closed = closed
    except ConnectionClosed:
        result.closed = await client.closed(timeout=10)
    finally:
        await client.close()
    return result


def check_clear(result: Exchange) -> str:
    """Valid messages only, no traceback, and a probe answered or a close with its reason;
    returns which (for hypothesis' statistics)."""
    for frame in result.client.frames:
        text = json.dumps(frame)
        assert not any(marker in text for marker in TRACEBACK_MARKERS), text[:2000]
        p.decode_server_message(text)
    if result.closed is None:
        assert result.probe is not None and result.probe["success"], result.probe
        assert result.probe["result"] == {"type": "str", "size": 5, "depth": 0}
        return "socket kept serving"
    code, reason = result.closed.code, result.closed.reason
    assert not any(marker in reason for marker in TRACEBACK_MARKERS), reason
    kinds = [frame["type"] for frame in result.client.frames]
    if code == 1008:
        fatal = next(f for f in reversed(result.client.frames) if f["type"] == "FatalError")
        assert reason and fatal["error"].startswith(reason), (fatal, reason)
    elif code == 1000:
        assert "AuthError" in kinds and reason.startswith("AuthError: "), (kinds, reason)
    else:
        raise AssertionError(f"socket ended with close {code} {reason!r}; frames {kinds}")
    return f"closed {code}: {reason[:40]}"


@FUZZ_SETTINGS
@given(frames=st.lists(random_frames, min_size=1, max_size=4), connect=st.booleans())
@example(frames=[b"\xff\xfe"], connect=True)
@example(frames=['{"type":"Connect"}'], connect=False)
def test_random_and_malformed_frames(watch: Watch, frames: list[str | bytes],
                                     connect: bool) -> None:
    event(check_clear(asyncio.run(exchange(watch.server.url, frames, connect=connect))))
    watch.after_example()


@FUZZ_SETTINGS
@given(frames=st.lists(wrongly_typed_frames(), min_size=1, max_size=4))
def test_known_messages_with_wrong_fields(watch: Watch, frames: list[str]) -> None:
    event(check_clear(asyncio.run(exchange(watch.server.url, frames))))
    watch.after_example()


@FUZZ_SETTINGS
@given(frame=huge_argument_frames())
# Found by this test: past ~1,000 levels the decoder raised RecursionError (was close 1011).
@example(frame='{"type":"Mutation","requestId":1,"udfPath":"values:echo_mutation","args":'
               + "[" * 10_000 + "]" * 10_000 + "}")
# Found by this test: tagged args decode to a non-object (was close 1011).
@example(frame='{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":'
               '"Add","queryId":0,"udfPath":"values:echo","args":[{"$integer":"AAAAAAAAAAA="}]}]}')
def test_huge_and_deeply_nested_arguments(watch: Watch, frame: str) -> None:
    event(check_clear(asyncio.run(exchange(watch.server.url, [frame]))))
    watch.after_example()


# Version games ----------------------------------------------------------------------

# Mostly right, so that sequences get far; each kind of mistake now and then.
modify_ops = st.tuples(st.just("modify"), st.sampled_from([0] * 12 + [1, -1, -5]),
                       st.sampled_from([1] * 12 + [0, 2, -1]),
                       st.lists(st.tuples(st.sampled_from(["Add", "Remove"]),
                                          st.integers(0, 4)), max_size=3))
auth_ops = st.tuples(st.just("auth"), st.sampled_from([0] * 12 + [1, -1, -3]),
                     st.sampled_from(["None"] * 8 + ["User", "Admin"]))


@dataclass
class VersionModel:
    """What the server must do with a sequence of ModifyQuerySet and Authenticate messages."""

    query_set: int = 0
    identity: int = 0
    ids: set[int] = field(default_factory=set)

    def modify(self, base: int, new: int, changes: list[tuple[str, int]]) -> str | None:
        """None if accepted, else the text the FatalError must contain."""
        if base < 0 or new < 0:
            return "invalid client message: Expected `int` >= 0"
        if base != self.query_set:
            return (f"ModifyQuerySet: baseVersion {base} does not match the server's query set"
                    f" version {self.query_set}")
        if new != base + 1:
            return f"ModifyQuerySet: newVersion must be baseVersion + 1 = {base + 1}, got {new}"
        for kind, query_id in changes:
            if kind == "Add" and query_id in self.ids:
                return f"Add: query id {query_id} is already in use"
            if kind == "Remove" and query_id not in self.ids:
                return f"Remove: query {query_id} is not in the query set"
            (self.ids.add if kind == "Add" else self.ids.discard)(query_id)
        self.query_set = new
        return None

    def authenticate(self, base: int, token_type: str) -> str | None:
        """None if accepted, "AuthError" for a refused token, else the FatalError text."""
        if base < 0:
            return "invalid client message: Expected `int` >= 0"
        if base != self.identity:
            return (f"Authenticate: baseVersion {base} does not match the server's identity"
                    f" version {self.identity}")
        if token_type != "None":
            return "AuthError"
        self.identity += 1
        return None


def version_frames(ops: list[tuple[Any, ...]], counter: str
                   ) -> tuple[list[str], VersionModel, str | None]:
    """The frames for `ops` up to the first refused one, the model after them, and the
    refusal expected (None if every op is accepted)."""
    model, frames = VersionModel(), []
    for op in ops:
        if op[0] == "modify":
            _, base_delta, step, changes = op
            base = model.query_set + base_delta
            frames.append(json.dumps({
                "type": "ModifyQuerySet", "baseVersion": base, "newVersion": base + step,
                "modifications": [
                    {"type": "Add", "queryId": query_id, "udfPath": "counter:get",
                     "args": [{"name": counter}]} if kind == "Add"
                    else {"type": "Remove", "queryId": query_id}
                    for kind, query_id in changes]}))
            refusal = model.modify(base, base + step, changes)
        else:
            _, base_delta, token_type = op
            base = model.identity + base_delta
            message = {"type": "Authenticate", "tokenType": token_type, "baseVersion": base}
            if token_type != "None":
                message["value"] = "not-a-valid-token"
            frames.append(json.dumps(message))
            refusal = model.authenticate(base, token_type)
        if refusal is not None:
            return frames, model, refusal
    return frames, model, None


async def play(url: str, frames: list[str], model: VersionModel,
               refusal: str | None) -> ProtocolClient:
    async with ProtocolClient(url) as client:
        for frame in frames:
            await client.send_raw(frame)
        if refusal is None:
            await client.receive_until(lambda f: f["type"] == "Transition" and (
                f["endVersion"]["querySet"], f["endVersion"]["identity"]) == (
                model.query_set, model.identity), timeout=10)
            return client
        closed = await client.closed(timeout=10)
        if refusal == "AuthError":
            auth = next(f for f in client.frames if f["type"] == "AuthError")
            assert auth["baseVersion"] == model.identity and auth["authUpdateAttempted"]
            assert closed.code == 1000 and closed.reason.startswith("AuthError: ")
        else:
            fatal = next(f for f in client.frames if f["type"] == "FatalError")
            assert refusal in fatal["error"], (refusal, fatal["error"])
            assert closed.code == 1008 and fatal["error"].startswith(closed.reason)
        return client


@FUZZ_SETTINGS
@given(ops=st.lists(modify_ops | auth_ops, min_size=1, max_size=8))
# Found by this test: a re-added id's QueryUpdated came before its QueryRemoved.
@example(ops=[("modify", 0, 1, [("Add", 0), ("Remove", 0), ("Add", 0)])])
@example(ops=[("modify", 0, 1, [("Add", 1)]), ("modify", 0, 1, [("Remove", 1)]),
              ("modify", 0, 1, [("Add", 1)]), ("auth", 0, "None"), ("auth", 0, "User")])
def test_version_games_follow_the_protocol(watch: Watch, ops: list[tuple[Any, ...]]) -> None:
    counter = f"versions-{uuid.uuid4().hex[:8]}"
    frames, model, refusal = version_frames(ops, counter)
    client = asyncio.run(play(watch.server.url, frames, model, refusal))
    event(f"refused: {(refusal or 'no')[:30]}")
    assert all("Traceback" not in json.dumps(f) for f in client.frames)
    if refusal is None:
        # Every query still in the set has its value; removed ones are gone.
        assert set(client.values) == model.ids and not client.errors
        assert all(value == 0 for value in client.values.values())
    watch.after_example()


# Memory -------------------------------------------------------------------------------


def test_large_arguments_are_not_kept_after_use(watch: Watch) -> None:
    """Found by this suite: closed subscriptions and one-shot queries were retained by count
    (1,000), so sixty distinct 2 MB arguments held ~240 MB; large entries are not kept now."""
    before = server_rss(watch.server)
    for i in range(40):
        value = json.dumps(f"{i:08}" + "x" * 2_000_000)
        check_clear(asyncio.run(exchange(watch.server.url, [
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":'
            f'"Add","queryId":0,"udfPath":"values:echo","args":[{{"value":{value}}}]}}]}}'])))
    for i in range(20):
        status, body = http_json(f"{watch.server.url}/api/query", {
            "path": "values:echo", "args": [{"value": f"{i:08}" + "y" * 2_000_000}]})
        assert status == 200 and body["value"]["size"] == 2_000_008, body
    growth = server_rss(watch.server) - before
    print(f"RSS after 60 distinct 2 MB arguments: {growth / MIB:+.1f} MiB")
    assert growth < 48 * MIB


# The run as a whole -------------------------------------------------------------------


def test_server_bystander_and_memory_came_through(watch: Watch) -> None:
    """Runs last in this module: the server is healthy, the bystander saw every one of its
    updates, and RSS stayed within RSS_GROWTH_BOUND of the warmed-up baseline."""
    assert healthy(watch.server)
    bystander = watch.bystander.stop()
    assert len(bystander.latencies) >= 10, bystander.summary()
    samples = [*watch.samples, server_rss(watch.server)]
    growth = max(samples) - watch.baseline_rss
    print(f"fuzzed sockets {len(watch.samples)}; RSS baseline {watch.baseline_rss / MIB:.1f} MiB,"
          f" peak {max(samples) / MIB:.1f} MiB, end {samples[-1] / MIB:.1f} MiB"
          f" (growth {growth / MIB:+.1f} MiB, bound {RSS_GROWTH_BOUND / MIB:.0f} MiB);"
          f" bystander {bystander.summary()}")
    assert growth < RSS_GROWTH_BOUND
    log = watch.server.log()
    assert "Traceback" not in log and "InternalServerError" not in log, log[-3000:]
