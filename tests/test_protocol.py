"""Tests for reactor.server.protocol: client frames as the official client builds them."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactor.server.protocol import (
    Action,
    ActionResponse,
    AddQuery,
    Authenticate,
    AuthError,
    Connect,
    Event,
    FatalError,
    ModifyQuerySet,
    Mutation,
    MutationResponse,
    Ping,
    ProtocolError,
    QueryFailed,
    QueryRemoved,
    QueryUpdated,
    RemoveQuery,
    StateVersion,
    Transition,
    TransitionChunk,
    decode_client_message,
    decode_server_message,
    decode_ts,
    encode_server_message,
    encode_ts,
    unwrap_args,
)

# Frames spelled as JSON.stringify produces them in convex@1.48.0: key order follows
# the object literals in client.ts / local_state.ts, `undefined` fields are dropped.

CONNECT_FIRST = (
    '{"connectionCount":0,"lastCloseReason":"InitialConnect","clientTs":1717171717171,'
    '"type":"Connect","sessionId":"0b5a3c1e-8d0e-4c4b-9f7a-3b7e2d9c1a10"}'
)
CONNECT_RECONNECT = (
    '{"connectionCount":3,"lastCloseReason":"ServerInactivityTimeout","clientTs":1717171720000,'
    '"type":"Connect","sessionId":"0b5a3c1e-8d0e-4c4b-9f7a-3b7e2d9c1a10",'
    '"maxObservedTimestamp":"6AMAAAAAAAA="}'
)
MODIFY_ADD = (
    '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":'
    '[{"type":"Add","queryId":0,"udfPath":"messages:list","args":[{"channel":"general",'
    '"limit":{"$integer":"CgAAAAAAAAA="}}]}]}'
)
MODIFY_RESTART = (
    '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":['
    '{"type":"Add","queryId":4,"udfPath":"tasks:page","args":[{"paginationOpts":'
    '{"cursor":null,"id":1,"numItems":10}}],"journal":"abc"},'
    '{"type":"Add","queryId":5,"udfPath":"users:me","args":[{}],"journal":null}]}'
)
MODIFY_REMOVE = (
    '{"type":"ModifyQuerySet","baseVersion":1,"newVersion":2,"modifications":'
    '[{"type":"Remove","queryId":0}]}'
)
MODIFY_EMPTY = '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[]}'
MUTATION = '{"type":"Mutation","requestId":0,"udfPath":"messages:send","args":[{"body":"hi"}]}'
ACTION = '{"type":"Action","requestId":1,"udfPath":"ai:reply","args":[{}]}'
AUTH_USER = '{"type":"Authenticate","baseVersion":0,"tokenType":"User","value":"eyJ.a.b"}'
AUTH_ADMIN = '{"type":"Authenticate","baseVersion":2,"tokenType":"Admin","value":"key"}'
AUTH_ADMIN_AS = (
    '{"type":"Authenticate","baseVersion":0,"tokenType":"Admin","value":"key",'
    '"impersonating":{"subject":"u1","issuer":"https://issuer"}}'
)
AUTH_NONE = '{"type":"Authenticate","tokenType":"None","baseVersion":1}'
EVENT = '{"type":"Event","eventType":"ClientConnect","event":{"marks":[]}}'


def test_connect_first_and_reconnect() -> None:
    first = decode_client_message(CONNECT_FIRST)
    assert first == Connect(
        sessionId="0b5a3c1e-8d0e-4c4b-9f7a-3b7e2d9c1a10",
        connectionCount=0,
        lastCloseReason="InitialConnect",
        clientTs=1717171717171,
        maxObservedTimestamp=None,
    )
    again = decode_client_message(CONNECT_RECONNECT.encode())
    assert isinstance(again, Connect)
    assert again.connectionCount == 3
    assert again.maxObservedTimestamp is not None
    assert decode_ts(again.maxObservedTimestamp) == 1000


def test_connect_with_null_close_reason() -> None:
    frame = json.loads(CONNECT_FIRST) | {"lastCloseReason": None}
    msg = decode_client_message(json.dumps(frame))
    assert isinstance(msg, Connect) and msg.lastCloseReason is None


def test_modify_query_set_add_keeps_args_as_convex_json() -> None:
    msg = decode_client_message(MODIFY_ADD)
    assert isinstance(msg, ModifyQuerySet)
    assert (msg.baseVersion, msg.newVersion) == (0, 1)
    [add] = msg.modifications
    assert add == AddQuery(
        queryId=0,
        udfPath="messages:list",
        args=[{"channel": "general", "limit": {"$integer": "CgAAAAAAAAA="}}],
    )
    assert add.journal is None


def test_modify_query_set_restart_with_journals() -> None:
    msg = decode_client_message(MODIFY_RESTART)
    assert isinstance(msg, ModifyQuerySet)
    assert [m.journal for m in msg.modifications if isinstance(m, AddQuery)] == ["abc", None]


def test_modify_query_set_remove_and_empty() -> None:
    remove = decode_client_message(MODIFY_REMOVE)
    assert isinstance(remove, ModifyQuerySet)
    assert remove.modifications == [RemoveQuery(queryId=0)]
    empty = decode_client_message(MODIFY_EMPTY)
    assert isinstance(empty, ModifyQuerySet) and empty.modifications == []


def test_mutation_and_action() -> None:
    assert decode_client_message(MUTATION) == Mutation(
        requestId=0, udfPath="messages:send", args=[{"body": "hi"}]
    )
    assert decode_client_message(ACTION) == Action(requestId=1, udfPath="ai:reply", args=[{}])


def test_component_path_is_kept_when_sent() -> None:
    frame = json.loads(MUTATION) | {"componentPath": "child"}
    msg = decode_client_message(json.dumps(frame))
    assert isinstance(msg, Mutation) and msg.componentPath == "child"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (AUTH_USER, Authenticate(tokenType="User", baseVersion=0, value="eyJ.a.b")),
        (AUTH_ADMIN, Authenticate(tokenType="Admin", baseVersion=2, value="key")),
        (
            AUTH_ADMIN_AS,
            Authenticate(
                tokenType="Admin",
                baseVersion=0,
                value="key",
                impersonating={"subject": "u1", "issuer": "https://issuer"},
            ),
        ),
        (AUTH_NONE, Authenticate(tokenType="None", baseVersion=1)),
    ],
)
def test_authenticate_variants(frame: str, expected: Authenticate) -> None:
    assert decode_client_message(frame) == expected


def test_event_is_decoded() -> None:
    assert decode_client_message(EVENT) == Event(eventType="ClientConnect", event={"marks": []})


def test_unknown_fields_are_ignored() -> None:
    frame = json.loads(MUTATION) | {"someFutureField": 1}
    assert isinstance(decode_client_message(json.dumps(frame)), Mutation)


def _error(frame: str | bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        decode_client_message(frame)
    assert info.value.code == "ProtocolError"
    return info.value.message


@pytest.mark.parametrize(
    ("frame", "fragments"),
    [
        ("{not json", ["not valid JSON"]),
        (b"\xff\xfe", ["not valid JSON"]),
        ("", ["not valid JSON"]),
        ('{"type":"Connect"', ["not valid JSON"]),
        ("[]", ["invalid client message", "object"]),
        ('"Ping"', ["invalid client message"]),
        ('{"requestId":1}', ["invalid client message", "type"]),
        (
            '{"type":"Subscribe"}',
            ["invalid client message", "Subscribe", "$.type", "expected one of Connect, "],
        ),
        ('{"type":"Ping"}', ["invalid client message", "Ping", "ModifyQuerySet"]),
        ('{"type":7}', ["invalid client message", "$.type"]),
        (
            '{"type":"Mutation","requestId":"1","udfPath":"a:b","args":[{}]}',
            ["Expected `int`, got `str`", "$.requestId"],
        ),
        (
            '{"type":"Mutation","requestId":-1,"udfPath":"a:b","args":[{}]}',
            [">= 0", "$.requestId"],
        ),
        ('{"type":"Mutation","requestId":1,"args":[{}]}', ["udfPath"]),
        ('{"type":"Mutation","requestId":1,"udfPath":"a:b","args":"x"}', ["$.args"]),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,'
            '"modifications":[{"type":"Replace","queryId":0}]}',
            ["Replace", "$.modifications[0].type"],
        ),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,'
            '"modifications":[{"type":"Add","queryId":0,"args":[{}]}]}',
            ["udfPath", "$.modifications[0]"],
        ),
        (
            '{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,'
            '"modifications":[{"type":"Add","queryId":1.5,"udfPath":"a:b","args":[{}]}]}',
            ["$.modifications[0].queryId"],
        ),
        ('{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1}', ["modifications"]),
        (
            '{"type":"Authenticate","tokenType":"Bearer","baseVersion":0,"value":"t"}',
            ["$.tokenType"],
        ),
        ('{"type":"Authenticate","tokenType":"User","baseVersion":0}', ["requires", "value"]),
        ('{"type":"Authenticate","tokenType":"Admin","baseVersion":0}', ["requires", "value"]),
        (
            '{"type":"Authenticate","tokenType":"User","baseVersion":0,"value":5}',
            ["$.value"],
        ),
        (
            '{"type":"Connect","sessionId":"s","connectionCount":0,"clientTs":1}',
            ["lastCloseReason"],
        ),
        (
            '{"type":"Connect","sessionId":"s","connectionCount":0,'
            '"lastCloseReason":null,"clientTs":"now"}',
            ["$.clientTs"],
        ),
        ('{"type":"Event","event":{}}', ["eventType"]),
    ],
)
def test_malformed_frames_are_refused_with_a_clear_message(
    frame: str | bytes, fragments: list[str]
) -> None:
    message = _error(frame)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def _wire(message: object) -> dict:
    return json.loads(encode_server_message(message))  # type: ignore[arg-type]


ZERO = StateVersion(querySet=0, identity=0, ts="AAAAAAAAAAA=")


def test_transition_exact_json() -> None:
    end = StateVersion(querySet=1, identity=0, ts=encode_ts(1000))
    msg = Transition(
        startVersion=ZERO,
        endVersion=end,
        modifications=[
            QueryUpdated(
                queryId=0, value=[1.5, {"$integer": "AQAAAAAAAAA="}], logLines=["[LOG] hi"]
            ),
            QueryFailed(queryId=1, errorMessage="boom"),
            QueryFailed(queryId=2, errorMessage="nope", errorData={"code": "x"}, journal="j"),
            QueryRemoved(queryId=3),
        ],
    )
    assert encode_server_message(msg) == (
        b'{"type":"Transition",'
        b'"startVersion":{"querySet":0,"identity":0,"ts":"AAAAAAAAAAA="},'
        b'"endVersion":{"querySet":1,"identity":0,"ts":"6AMAAAAAAAA="},'
        b'"modifications":['
        b'{"type":"QueryUpdated","queryId":0,"value":[1.5,{"$integer":"AQAAAAAAAAA="}],'
        b'"logLines":["[LOG] hi"],"journal":null},'
        b'{"type":"QueryFailed","queryId":1,"errorMessage":"boom","logLines":[],"journal":null},'
        b'{"type":"QueryFailed","queryId":2,"errorMessage":"nope","logLines":[],"journal":"j",'
        b'"errorData":{"code":"x"}},'
        b'{"type":"QueryRemoved","queryId":3}]}'
    )


def test_transition_optional_fields_only_when_set() -> None:
    bare = _wire(Transition(startVersion=ZERO, endVersion=ZERO))
    assert bare == {
        "type": "Transition",
        "startVersion": {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="},
        "endVersion": {"querySet": 0, "identity": 0, "ts": "AAAAAAAAAAA="},
        "modifications": [],
    }
    full = _wire(Transition(startVersion=ZERO, endVersion=ZERO, serverTs=5, clientClockSkew=-2.5))
    assert (full["serverTs"], full["clientClockSkew"]) == (5, -2.5)


def test_query_failed_error_data_null_is_sent_when_given() -> None:
    # null error data is an application error whose data is null: distinct from absent.
    assert _wire(QueryFailed(queryId=0, errorMessage="e", errorData=None))["errorData"] is None
    assert "errorData" not in _wire(QueryFailed(queryId=0, errorMessage="e"))


def test_mutation_response_success_and_failure() -> None:
    ok = MutationResponse(requestId=4, success=True, result=None, ts=encode_ts(1000))
    assert encode_server_message(ok) == (
        b'{"type":"MutationResponse","requestId":4,"success":true,"result":null,'
        b'"ts":"6AMAAAAAAAA=","logLines":[]}'
    )
    failed = MutationResponse(requestId=5, success=False, result="Uncaught Error: x")
    assert _wire(failed) == {
        "type": "MutationResponse",
        "requestId": 5,
        "success": False,
        "result": "Uncaught Error: x",
        "ts": None,
        "logLines": [],
    }
    app = _wire(MutationResponse(requestId=6, success=False, result="m", errorData={"a": 1.0}))
    assert app["errorData"] == {"a": 1.0}


def test_mutation_response_invariants() -> None:
    with pytest.raises(ValueError, match="needs `ts`"):
        MutationResponse(requestId=0, success=True, result=1.0)
    with pytest.raises(ValueError, match="error message"):
        MutationResponse(requestId=0, success=False, result={"x": 1.0})
    with pytest.raises(ValueError, match="error message"):
        ActionResponse(requestId=0, success=False, result=None)


def test_action_response_has_no_ts() -> None:
    assert _wire(ActionResponse(requestId=1, success=True, result={"n": 2.0})) == {
        "type": "ActionResponse",
        "requestId": 1,
        "success": True,
        "result": {"n": 2.0},
        "logLines": [],
    }
    failed = _wire(ActionResponse(requestId=2, success=False, result="bad", logLines=["[WARN] w"]))
    assert failed == {
        "type": "ActionResponse",
        "requestId": 2,
        "success": False,
        "result": "bad",
        "logLines": ["[WARN] w"],
    }


def test_other_server_messages_exact_json() -> None:
    assert encode_server_message(Ping()) == b'{"type":"Ping"}'
    assert encode_server_message(FatalError(error="bye")) == b'{"type":"FatalError","error":"bye"}'
    assert (
        encode_server_message(AuthError(error="expired", baseVersion=0, authUpdateAttempted=True))
        == b'{"type":"AuthError","error":"expired","baseVersion":0,"authUpdateAttempted":true}'
    )
    assert _wire(TransitionChunk(chunk="{", partNumber=0, totalParts=2, transitionId="t1")) == {
        "type": "TransitionChunk",
        "chunk": "{",
        "partNumber": 0,
        "totalParts": 2,
        "transitionId": "t1",
    }


def test_raw_values_are_spliced_unchanged() -> None:
    raw = msgspec.Raw(b'{"b":{"$bytes":"AA=="},"a":[]}')
    body = encode_server_message(QueryUpdated(queryId=9, value=raw))
    assert b'"value":{"b":{"$bytes":"AA=="},"a":[]}' in body


def test_server_messages_round_trip_through_decoder() -> None:
    messages = [
        Transition(startVersion=ZERO, endVersion=ZERO, modifications=[QueryRemoved(queryId=1)]),
        MutationResponse(requestId=1, success=True, result=[1.0], ts=encode_ts(7)),
        ActionResponse(requestId=1, success=False, result="x", errorData="d"),
        AuthError(error="e", baseVersion=1, authUpdateAttempted=False),
        FatalError(error="f"),
        Ping(),
        TransitionChunk(chunk="c", partNumber=1, totalParts=2, transitionId="t"),
    ]
    for message in messages:
        assert decode_server_message(encode_server_message(message)) == message
    with pytest.raises(ProtocolError, match="Connect"):
        decode_server_message(CONNECT_FIRST)


def test_ts_known_encodings() -> None:
    assert encode_ts(0) == "AAAAAAAAAAA="
    assert encode_ts(1000) == "6AMAAAAAAAA="
    assert encode_ts(2**64 - 1) == "//////////8="
    assert decode_ts("//////////8=") == 2**64 - 1
    assert decode_ts("__________8=") == 2**64 - 1


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_ts_round_trip(ts: int) -> None:
    encoded = encode_ts(ts)
    assert len(encoded) == 12
    assert decode_ts(encoded) == ts


@pytest.mark.parametrize("bad", [-1, 2**64])
def test_encode_ts_refuses_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError, match="u64"):
        encode_ts(bad)


@pytest.mark.parametrize(
    ("encoded", "fragment"),
    [("not base64!", "not base64"), ("AAAA", "8 bytes, got 3"), ("AAAAAAAAAAAAAA==", "got 10")],
)
def test_decode_ts_refuses_malformed(encoded: str, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment):
        decode_ts(encoded)


def test_unwrap_args() -> None:
    assert unwrap_args([{"a": 1}]) == {"a": 1}
    assert unwrap_args({"a": 1}) == {"a": 1}
    with pytest.raises(ProtocolError, match="got 0 elements"):
        unwrap_args([])
    with pytest.raises(ProtocolError, match="got 2 elements"):
        unwrap_args([{}, {}])
    with pytest.raises(ProtocolError, match=r"tasks:create\.args: .* got str"):
        unwrap_args(["x"], "tasks:create.args")
