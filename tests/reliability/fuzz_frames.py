"""Hypothesis strategies for what a broken or hostile client may send on a sync socket.

Frames are produced as JSON text (or raw bytes), not as Python objects: a value
nested 10,000 deep cannot go through `json.dumps`, so huge values are spelled
out as text and spliced into otherwise valid messages.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import strategies as st

# Paths a client may name: real functions of tests/apps/limits (none of them slow or
# sized by their arguments), wrong kinds, and paths that do not exist or are malformed.
PATHS = ["values:echo", "values:echo_mutation", "values:store", "values:create_in",
         "counter:get", "counter:incr", "values.js:echo", "counter", "nope:nothing", "",
         ":", "counter:get:extra", "x" * 600, "../values:echo", "values:_depth"]

scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
# Convex JSON's tagged forms, well- and ill-formed.
tagged = st.builds(lambda tag, payload: {tag: payload},
                   st.sampled_from(["$integer", "$float", "$bytes", "$set", "$"]),
                   st.sampled_from(["AAAAAAAAAAA=", "AQ==", "not base64!", "", "-_-_"])
                   | scalars)
json_values = st.recursive(
    scalars | tagged,
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)


def _nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def _nested_objects(depth: int) -> str:
    return '{"a":' * depth + "0" + "}" * depth


def _sizes(top: int, *edges: int) -> st.SearchStrategy[int]:
    """Sizes up to `top`, with the limits' edges and the extremes drawn often."""
    return st.sampled_from(sorted({0, 1, *edges, top})) | st.integers(0, top)


# JSON texts of values around and far past every limit: deep, long and wide.
huge_texts = st.one_of(
    _sizes(10_000, 15, 16, 17, 999, 1_000).map(_nested_arrays),
    _sizes(10_000, 15, 16, 17, 999, 1_000).map(_nested_objects),
    _sizes(2_000_000, 1_048_576).map(lambda n: json.dumps("x" * n)),
    _sizes(100_000, 8_192, 8_193).map(lambda n: "[" + ",".join(["0"] * n) + "]"),
    _sizes(20_000, 1_024, 1_025).map(lambda n: json.dumps({f"k{i}": i for i in range(n)})),
    _sizes(5_000, 64, 65, 1_024, 1_025).map(lambda n: json.dumps({"k" * n: 1})),
)
value_texts = huge_texts | json_values.map(json.dumps)


@st.composite
def huge_argument_frames(draw: st.DrawFn) -> str:
    """A valid Mutation, Action or Add whose argument is a huge or deep value."""
    value = draw(value_texts)
    path = draw(st.sampled_from(PATHS[:6]))
    field = draw(st.sampled_from(["value", "doc", "name", "table"]))
    args = f'[{{"{field}":{value}}}]' if draw(st.booleans()) else value
    kind = draw(st.sampled_from(["Mutation", "Action", "Add"]))
    if kind == "Add":
        return ('{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":'
                f'[{{"type":"Add","queryId":0,"udfPath":"{path}","args":{args}}}]}}')
    return f'{{"type":"{kind}","requestId":1,"udfPath":"{path}","args":{args}}}'


versions = st.sampled_from([0, 0, 0, 1]) | st.integers(-2, 2**64 + 1)
_add = st.fixed_dictionaries({"type": st.just("Add"), "queryId": st.integers(0, 4),
                              "udfPath": st.sampled_from(PATHS),
                              "args": st.lists(json_values, max_size=2)})
_remove = st.fixed_dictionaries({"type": st.just("Remove"), "queryId": st.integers(0, 4)})
_tokens = st.sampled_from(["", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.x", "x" * 3000])

# Each message type with a generator of well-typed values for each of its fields.
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "Connect": {"sessionId": st.uuids().map(str) | st.text(max_size=40),
                "connectionCount": st.integers(-1, 5), "lastCloseReason": st.none() | st.text(),
                "clientTs": st.floats(allow_nan=False, allow_infinity=False),
                "maxObservedTimestamp": st.sampled_from(["AAAAAAAAAAA=", "bad", ""])},
    "ModifyQuerySet": {"baseVersion": versions, "newVersion": versions,
                       "modifications": st.lists(_add | _remove | json_values, max_size=3)},
    "Mutation": {"requestId": st.integers(0, 10), "udfPath": st.sampled_from(PATHS),
                 "args": st.lists(json_values, max_size=2) | json_values},
    "Action": {"requestId": st.integers(0, 10), "udfPath": st.sampled_from(PATHS),
               "args": st.lists(json_values, max_size=2) | json_values},
    "Authenticate": {"tokenType": st.sampled_from(["User", "Admin", "None", "Bearer"]),
                     "baseVersion": versions, "value": _tokens,
                     "impersonating": json_values},
    "Event": {"eventType": st.text(max_size=10), "event": json_values},
}


@st.composite
def wrongly_typed_frames(draw: st.DrawFn) -> str:
    """A known message type whose fields are each right, of a wrong type, or missing."""
    kind = draw(st.sampled_from(sorted(FIELDS)))
    message: dict[str, Any] = {"type": kind}
    for name, good in FIELDS[kind].items():
        choice = draw(st.sampled_from(["good"] * 6 + ["wrong", "missing"]))
        if choice == "good":
            message[name] = draw(good)
        elif choice == "wrong":
            message[name] = draw(json_values)
    if draw(st.integers(0, 3)) == 0:
        message[draw(st.text(max_size=10))] = draw(json_values)
    return json.dumps(message)


random_frames = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    json_values.map(json.dumps),
    st.sampled_from(["{", "null", '"Connect"', '{"type":"Ping"}', '{"type":null}',
                     '{"type":"Transition"}', "\ufeff{}", '{"type":"Mutation"} trailing']),
)


def connect_frame(connection_count: int = 0) -> str:
    return json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()),
                       "connectionCount": connection_count, "lastCloseReason": None,
                       "clientTs": 0})
