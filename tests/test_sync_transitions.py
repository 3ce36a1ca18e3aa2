"""The sync server's Transitions on the wire: snapshots, versions, visibility, idempotency."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ReactorServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sync_support import ProtocolClient, SocketClosed, http_json, transitions

from reactor.runtime.auth import AdminKey
from reactor.server.protocol import decode_ts

APP = Path(__file__).parent / "apps" / "sync"
SECRET_ENV = {"SYNC_TEST_HS256_SECRET": "s" * 40}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(APP, tmp_path_factory.mktemp("sync-data"), env=SECRET_ENV) as running:
        yield running


def name() -> str:
    return uuid.uuid4().hex[:10]


async def test_two_queries_change_in_one_transition_at_one_ts(server: ReactorServer) -> None:
    counter = name()
    async with ProtocolClient(server.url) as client:
        first = await client.add({1: ("counter:get", {"name": counter}),
                                  2: ("errors:fail_above", {"name": counter, "above": 100})})
        assert first["startVersion"]["querySet"] == 0 and first["endVersion"]["querySet"] == 1
        assert sorted(m["queryId"] for m in first["modifications"]) == [1, 2]
        assert client.values == {1: 0, 2: 0}
        response, transition = await client.mutation("counter:incr", {"name": counter})
        assert response["success"] and response["result"] == 1
        assert transition is not None
        assert decode_ts(transition["endVersion"]["ts"]) >= decode_ts(response["ts"])
        # Both queries read the counter: both results in the one Transition at the commit.
        updated = {m["queryId"]: m["value"] for m in transition["modifications"]
                   if m["type"] == "QueryUpdated"}
        assert updated == {1: 1, 2: 1}
        assert all(m["logLines"] == [] and m["journal"] is None
                   for m in transition["modifications"])


async def test_mutation_response_comes_before_the_transition_showing_it(
        server: ReactorServer) -> None:
    counter = name()
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": counter})})
        start = len(client.frames)
        response, transition = await client.mutation("counter:incr", {"name": counter, "by": 5})
        assert transition is not None
        frames = client.frames[start:]
        assert frames.index(response) < frames.index(transition)
        # The value reaches the client in the same Transition that reaches the commit ts.
        assert client.values[0] == 5
        assert {"type": "QueryUpdated", "queryId": 0, "value": 5, "logLines": [],
                "journal": None} in transition["modifications"]


async def test_mutation_changing_nothing_watched_still_gets_an_empty_transition(
        server: ReactorServer) -> None:
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": name()})})
        _, transition = await client.mutation("counter:incr", {"name": name()})
        assert transition is not None and transition["modifications"] == []
        assert transition["endVersion"]["querySet"] == 1


async def test_unchanged_results_are_not_resent(server: ReactorServer) -> None:
    counter, other = name(), name()
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": counter}),
                          1: ("counter:get", {"name": other})})
        await client.mutation("counter:incr", {"name": counter})
        # A commit that rewrites the document with the same value: the query re-runs,
        # its result is equal, so nothing is sent for it.
        _, transition = await client.mutation("counter:touch", {"name": counter})
        assert transition is not None and transition["modifications"] == []
        _, transition = await client.mutation("counter:incr", {"name": other})
        assert transition is not None
        assert [m["queryId"] for m in transition["modifications"]] == [1]


async def test_query_set_versions_add_and_remove(server: ReactorServer) -> None:
    counter = name()
    async with ProtocolClient(server.url) as client:
        empty = await client.modify([])
        assert empty["modifications"] == []
        assert (empty["startVersion"]["querySet"], empty["endVersion"]["querySet"]) == (0, 1)
        added = await client.add({3: ("counter:get", {"name": counter})})
        assert (added["startVersion"]["querySet"], added["endVersion"]["querySet"]) == (1, 2)
        both = await client.modify([
            {"type": "Remove", "queryId": 3},
            {"type": "Add", "queryId": 4, "udfPath": "counter:get", "args": [{"name": counter}]},
        ])
        assert both["endVersion"]["querySet"] == 3
        kinds = sorted((m["type"], m["queryId"]) for m in both["modifications"])
        assert kinds == [("QueryRemoved", 3), ("QueryUpdated", 4)]
        # A removed query gets no more updates.
        _, transition = await client.mutation("counter:incr", {"name": counter})
        assert transition is not None
        assert [m["queryId"] for m in transition["modifications"]] == [4]
        # Versions chain on every Transition (checked by the client as frames arrive).
        assert all(t["endVersion"]["identity"] == 0 for t in transitions(client.frames))


async def test_identical_queries_on_two_ids_both_answered(server: ReactorServer) -> None:
    counter = name()
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": counter}),
                          1: ("counter.js:get", {"name": counter})})
        assert client.values == {0: 0, 1: 0}
        _, transition = await client.mutation("counter:incr", {"name": counter})
        assert transition is not None
        assert sorted(m["queryId"] for m in transition["modifications"]) == [0, 1]


async def test_other_clients_see_the_commit_in_their_own_transition(
        server: ReactorServer) -> None:
    counter = name()
    async with ProtocolClient(server.url) as writer, ProtocolClient(server.url) as reader:
        await reader.add({0: ("counter:get", {"name": counter})})
        response, _ = await writer.mutation("counter:incr", {"name": counter})
        update = await reader.receive_until(lambda f: f["type"] == "Transition")
        assert update["modifications"][0]["value"] == 1
        assert decode_ts(update["endVersion"]["ts"]) >= decode_ts(response["ts"])


async def test_mutation_retry_answers_from_the_stored_outcome_across_restart(
        server: ReactorServer) -> None:
    counter = name()
    session = str(uuid.uuid4())
    async with ProtocolClient(server.url, session_id=session) as client:
        response, _ = await client.mutation("counter:incr", {"name": counter}, request_id=7)
        assert response["result"] == 1
    server.kill()
    server.start()
    # The same client reconnects and re-sends the request it already saw answered.
    async with ProtocolClient(server.url, session_id=session, connection_count=1) as again:
        await again.add({0: ("counter:get", {"name": counter})})
        retry, _ = await again.mutation("counter:incr", {"name": counter}, request_id=7)
        assert retry["success"] and retry["result"] == 1
        assert again.values[0] == 1
        # A new requestId does run.
        fresh, _ = await again.mutation("counter:incr", {"name": counter}, request_id=8)
        assert fresh["result"] == 2
    # Another session with the same requestId is a different request.
    async with ProtocolClient(server.url) as stranger:
        other, _ = await stranger.mutation("counter:incr", {"name": counter}, request_id=7)
        assert other["result"] == 3


async def test_failed_mutation_response_and_no_transition_owed(server: ReactorServer) -> None:
    async with ProtocolClient(server.url) as client:
        response, transition = await client.mutation("errors:fail_mutation", {"code": "E1"})
        assert transition is None
        assert response["success"] is False and response["ts"] is None
        assert response["errorData"] == {"code": "E1", "where": "mutation"}
        assert isinstance(response["result"], str) and response["logLines"] == []


async def test_action_response_and_app_error(server: ReactorServer) -> None:
    async with ProtocolClient(server.url) as client:
        await client.send({"type": "Action", "requestId": 0, "udfPath": "errors:echo",
                           "args": [{"text": "hi"}]})
        await client.send({"type": "Action", "requestId": 1, "udfPath": "errors:fail_action",
                           "args": [{"code": "A"}]})
        for _ in range(2):
            await client.receive_until(lambda f: f["type"] == "ActionResponse")
        assert client.responses[0]["success"] and client.responses[0]["result"] == {"echo": "hi"}
        assert "ts" not in client.responses[0]
        failed = client.responses[1]
        assert failed["success"] is False
        assert failed["errorData"] == {"code": "A", "where": "action"}


async def test_failing_query_fails_alone_with_its_data(server: ReactorServer) -> None:
    counter = name()
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": counter}),
                          1: ("errors:fail_above", {"name": counter, "above": 1}),
                          2: ("errors:crash", {"name": counter})})
        crash = client.errors[2]
        assert "internal detail" in crash["errorMessage"]
        assert "Traceback" not in crash["errorMessage"] and "errorData" not in crash
        await client.mutation("counter:incr", {"name": counter, "by": 2})
        assert client.values[0] == 2
        failed = client.errors[1]
        assert failed["errorData"] == {"code": "TooHigh", "value": 2}
        await client.mutation("counter:incr", {"name": counter})
        assert client.values[0] == 3
        assert client.errors[1]["errorData"] == {"code": "TooHigh", "value": 3}


async def test_admin_stats_count_executions(server: ReactorServer) -> None:
    key = AdminKey.load_or_create(server.data_dir).value
    status, body = http_json(f"{server.url}/api/debug/stats", method="GET")
    assert status == 403 and body["code"] == "Forbidden"
    status, body = http_json(f"{server.url}/api/debug/stats", method="GET",
                             headers={"Authorization": "Convex wrong"})
    assert status == 401
    counter = name()
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": counter})})
        _, before = http_json(f"{server.url}/api/debug/stats", method="GET",
                              headers={"Authorization": f"Convex {key}"})
        await client.mutation("counter:incr", {"name": counter})
        _, after = http_json(f"{server.url}/api/debug/stats", method="GET",
                             headers={"Authorization": f"Convex {key}"})
    assert after["subscriptions"]["executions"] == before["subscriptions"]["executions"] + 1
    assert after["committer"]["commits"] >= before["committer"]["commits"] + 1
    assert before["sessions"] >= 1


async def test_connect_must_come_first(server: ReactorServer) -> None:
    client = ProtocolClient(server.url)
    await client.open(connect_message=False)
    await client.send({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                       "modifications": []})
    fatal = await client.receive()
    assert fatal["type"] == "FatalError" and "Connect" in fatal["error"]
    closed = await client.closed()
    assert isinstance(closed, SocketClosed)


async def test_many_concurrent_sockets_each_get_their_transition(server: ReactorServer) -> None:
    counter = name()
    clients = [ProtocolClient(server.url) for _ in range(5)]
    await asyncio.gather(*(c.open() for c in clients))
    try:
        await asyncio.gather(*(c.add({0: ("counter:get", {"name": counter})}) for c in clients))
        await clients[0].mutation("counter:incr", {"name": counter})
        for c in clients[1:]:
            await c.receive_until(lambda f: f["type"] == "Transition")
        assert all(c.values[0] == 1 for c in clients)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_authenticate_bumps_identity_and_reruns_only_what_changed(
        server: ReactorServer) -> None:
    counter = name()
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("auth:whoami", {}), 1: ("counter:get", {"name": counter}),
                          2: ("counter:peek", {"name": counter})})
        assert client.values[0] is None and client.values[1] == 0
        assert "Could not find public function for " in client.errors[2]["errorMessage"]
        response, _ = await client.mutation("auth:login", {"subject": "raw", "name": "Raw"})
        await client.send({"type": "Authenticate", "tokenType": "User", "baseVersion": 0,
                           "value": response["result"]})
        signed_in = await client.receive_until(lambda f: f["type"] == "Transition")
        assert (signed_in["startVersion"]["identity"], signed_in["endVersion"]["identity"]) \
            == (0, 1)
        # whoami changed; counter:get gave the same result and is not resent; the
        # internal query is still refused.
        assert [m["queryId"] for m in signed_in["modifications"]] == [0]
        assert client.values[0]["subject"] == "raw" and client.values[0]["name"] == "Raw"
        key = AdminKey.load_or_create(server.data_dir).value
        await client.send({"type": "Authenticate", "tokenType": "Admin", "baseVersion": 1,
                           "value": key})
        as_admin = await client.receive_until(lambda f: f["type"] == "Transition")
        assert as_admin["endVersion"]["identity"] == 2
        # An admin may subscribe to internal queries.
        assert client.values[2] is None and 2 not in client.errors
        await client.send({"type": "Authenticate", "tokenType": "None", "baseVersion": 2})
        signed_out = await client.receive_until(lambda f: f["type"] == "Transition")
        assert signed_out["endVersion"]["identity"] == 3
        assert client.values[0] is None and 2 in client.errors
        # Admin again: the internal query's (unchanged) value replaces the error shown.
        await client.send({"type": "Authenticate", "tokenType": "Admin", "baseVersion": 3,
                           "value": key})
        again = await client.receive_until(lambda f: f["type"] == "Transition")
        assert [m["queryId"] for m in again["modifications"]] == [2]
        assert client.values[2] is None and 2 not in client.errors


async def test_bad_token_gets_auth_error_then_close(server: ReactorServer) -> None:
    async with ProtocolClient(server.url) as client:
        await client.add({0: ("counter:get", {"name": name()})})
        await client.send({"type": "Authenticate", "tokenType": "User", "baseVersion": 0,
                           "value": "not.a.token"})
        error = await client.receive_until(lambda f: f["type"] == "AuthError")
        assert error["baseVersion"] == 0 and error["authUpdateAttempted"] is True
        assert error["error"]
        closed = await client.closed()
        assert closed.code == 1000 and closed.reason.startswith("AuthError")
    async with ProtocolClient(server.url) as client:
        await client.send({"type": "Authenticate", "tokenType": "Admin", "baseVersion": 0,
                           "value": "reactor_admin_wrong"})
        error = await client.receive_until(lambda f: f["type"] == "AuthError")
        assert "admin key" in error["error"]


async def test_fan_out_runs_the_query_once_for_fifty_clients(server: ReactorServer) -> None:
    key = AdminKey.load_or_create(server.data_dir).value
    admin = {"Authorization": f"Convex {key}"}
    counter = name()
    clients = [ProtocolClient(server.url) for _ in range(50)]
    await asyncio.gather(*(c.open() for c in clients))
    try:
        await asyncio.gather(*(c.add({0: ("counter:get", {"name": counter})}) for c in clients))
        _, before = http_json(f"{server.url}/api/debug/stats", method="GET", headers=admin)
        assert before["sessions"] >= 50
        async with ProtocolClient(server.url) as writer:
            response, _ = await writer.mutation("counter:incr", {"name": counter})
        commit_ts = decode_ts(response["ts"])
        updates = await asyncio.gather(*(
            c.receive_until(lambda f: f["type"] == "Transition") for c in clients))
        assert all(c.values[0] == 1 for c in clients)
        assert all(decode_ts(u["endVersion"]["ts"]) >= commit_ts for u in updates)
        _, after = http_json(f"{server.url}/api/debug/stats", method="GET", headers=admin)
        # One shared entry, re-run once for the commit, pushed to all fifty sockets.
        assert after["subscriptions"]["executions"] - before["subscriptions"]["executions"] == 1
        # The fifty were owed the same bytes: encoded once (and once the writer's own).
        assert after["pushes"]["encoded"] - before["pushes"]["encoded"] == 2
        assert after["pushes"]["shared"] - before["pushes"]["shared"] == 49
        assert all(u == updates[0] for u in updates)
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_one_commit_pushed_to_clients_at_different_versions(
        server: ReactorServer) -> None:
    """Clients of one query that last saw another timestamp, are at other query set or
    identity versions, or hold it under another id, each get a Transition continuing
    their own version chain (a fan-out shares bytes only between identical messages)."""
    counter = name()
    query = ("counter:get", {"name": counter})
    plain = [ProtocolClient(server.url) for _ in range(3)]
    late, moved, other_id, signed_in = (ProtocolClient(server.url) for _ in range(4))
    clients = [*plain, late, moved, other_id, signed_in]
    await asyncio.gather(*(c.open() for c in clients))
    try:
        async with ProtocolClient(server.url) as writer:
            await asyncio.gather(*(c.add({0: query}) for c in plain))
            # A commit the plain clients do not watch: `late` starts from a newer ts.
            await writer.mutation("counter:incr", {"name": name()})
            await late.add({0: query})
            assert decode_ts(late.version["ts"]) > decode_ts(plain[0].version["ts"])
            await moved.add({0: query})
            await moved.add({1: ("counter:get", {"name": name()})})
            await other_id.add({7: query})
            await signed_in.add({0: query})
            await signed_in.send({"type": "Authenticate", "tokenType": "Admin",
                                  "baseVersion": 0,
                                  "value": AdminKey.load_or_create(server.data_dir).value})
            await signed_in.receive_until(lambda f: f["type"] == "Transition")
            await writer.mutation("counter:incr", {"name": counter, "by": 3})
        updates = await asyncio.gather(*(
            c.receive_until(lambda f: f["type"] == "Transition") for c in clients))
        # ProtocolClient checked each startVersion against the client's last endVersion.
        assert all(u == updates[0] for u in updates[:3])
        assert updates[3]["startVersion"] != updates[0]["startVersion"]
        assert updates[3]["endVersion"] == updates[0]["endVersion"]
        assert [u["endVersion"]["querySet"] for u in updates[3:]] == [1, 2, 1, 1]
        assert updates[-1]["endVersion"]["identity"] == 1
        assert [[m["queryId"] for m in u["modifications"]] for u in updates[3:]] == \
            [[0], [0], [7], [0]]
        assert [c.values.get(0, c.values.get(7)) for c in clients] == [3] * 7
        assert moved.values[1] == 0
    finally:
        await asyncio.gather(*(c.close() for c in clients))


Op = tuple[str, int]
OPS = st.lists(st.one_of(st.tuples(st.just("add"), st.integers(0, 2)),
                         st.tuples(st.just("remove"), st.integers(0, 9)),
                         st.tuples(st.just("incr"), st.integers(0, 2))), max_size=10)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_query_set_and_updates_follow_a_model(server: ReactorServer, ops: list[Op]) -> None:
    """Random adds, removes and commits: each Transition carries exactly the queries whose
    result changed, and every value equals the model's."""
    asyncio.run(_run_model(server.url, ops))


async def _run_model(url: str, ops: list[Op]) -> None:
    names = [name() for _ in range(3)]
    counters = [0, 0, 0]
    live: dict[int, int] = {}  # query id -> counter index
    next_id = 0
    async with ProtocolClient(url) as client:
        for op, arg in ops:
            if op == "add":
                transition = await client.add({next_id: ("counter:get", {"name": names[arg]})})
                assert [m["queryId"] for m in transition["modifications"]] == [next_id]
                live[next_id] = arg
                next_id += 1
            elif op == "remove" and live:
                query_id = sorted(live)[arg % len(live)]
                transition = await client.modify([{"type": "Remove", "queryId": query_id}])
                assert transition["modifications"] == [{"type": "QueryRemoved",
                                                        "queryId": query_id}]
                del live[query_id]
            elif op == "incr":
                counters[arg] += 1
                _, transition = await client.mutation("counter:incr", {"name": names[arg]})
                assert transition is not None
                changed = sorted(m["queryId"] for m in transition["modifications"])
                assert changed == sorted(q for q, k in live.items() if k == arg)
            assert client.values == {q: counters[k] for q, k in live.items()}
