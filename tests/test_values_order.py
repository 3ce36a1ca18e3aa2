"""The total order and index-key bytes: compare and encode_key must agree everywhere."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.errors import InvalidValueError
from reactor.values import (
    MISSING,
    Int64,
    compare,
    decode_key,
    encode_key,
    key_after,
    prefix_end,
)

int64s = st.one_of(
    st.sampled_from([-(2**63), -1, 0, 1, 2**63 - 1]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
).map(Int64)
floats = st.one_of(
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, -5e-324]),
    st.floats(allow_nan=True),
)
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=6) | st.sampled_from(
    ["", "\x00", "\x00\x00", "a\x00", "a", "\x01", "\uffff", "\U0010ffff"]
)
binaries = st.binary(max_size=6) | st.sampled_from([b"", b"\x00", b"\xff", b"\x00\xff"])
scalars = st.one_of(st.none(), st.booleans(), int64s, floats, texts, binaries)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=3), children, max_size=4),
    max_leaves=12,
)
parts = st.one_of(st.just(MISSING), values)
tuples = st.lists(parts, max_size=3)


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


def bytes_cmp(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


def tuple_cmp(a: list[Any], b: list[Any]) -> int:
    for x, y in zip(a, b, strict=False):
        if result := compare(x, y):
            return result
    return sign(len(a) - len(b))


# Ascending; every element is strictly less than the next.
ORDERED = [
    MISSING,
    None,
    Int64(-(2**63)),
    Int64(-1),
    Int64(0),
    Int64(2**63 - 1),
    -math.inf,
    -1e300,
    -1.0,
    -5e-324,
    -0.0,
    0.0,
    5e-324,
    1.0,
    math.inf,
    math.nan,
    False,
    True,
    "",
    "\x00",
    "\x00\x00",
    "\x01",
    "a",
    "a\x00",
    "ab",
    "b",
    "é",
    "\uffff",
    "😀",
    b"",
    b"\x00",
    b"\x00\x00",
    b"\x01",
    b"\xff",
    [],
    [None],
    [None, None],
    [Int64(1)],
    [1.0],
    [1.0, None],
    ["a"],
    [[]],
    {},
    {"": None},
    {"a": None},
    {"a": None, "b": None},
    {"a": 1.0},
    {"b": None},
]


def test_known_order() -> None:
    for i, j in itertools.combinations(range(len(ORDERED)), 2):
        a, b = ORDERED[i], ORDERED[j]
        assert compare(a, b) == -1, (a, b)
        assert compare(b, a) == 1, (a, b)
        assert encode_key([a]) < encode_key([b]), (a, b)
    for a in ORDERED:
        assert compare(a, a) == 0


def test_nan_and_zero_details() -> None:
    assert compare(math.nan, -math.nan) == 0
    assert encode_key([math.nan]) == encode_key([-math.nan])
    assert compare(-0.0, 0.0) == -1
    assert encode_key([-0.0]) != encode_key([0.0])


def test_plain_ints_order_as_floats() -> None:
    assert compare(3, 3.0) == 0
    assert encode_key([3]) == encode_key([3.0])
    assert compare(Int64(3), 2) == -1


def test_non_values_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        compare((1,), (1,))
    with pytest.raises(InvalidValueError):
        encode_key([(1,)])


@settings(max_examples=400, deadline=None)
@given(values, values)
def test_encoding_preserves_order_of_values(a: Any, b: Any) -> None:
    assert compare(a, b) == bytes_cmp(encode_key([a]), encode_key([b]))
    assert compare(a, b) == -compare(b, a)


@settings(max_examples=400, deadline=None)
@given(tuples, tuples)
def test_encoding_preserves_order_of_tuples(a: list[Any], b: list[Any]) -> None:
    assert tuple_cmp(a, b) == bytes_cmp(encode_key(a), encode_key(b))


@settings(max_examples=200, deadline=None)
@given(values, values, values)
def test_compare_is_transitive(a: Any, b: Any, c: Any) -> None:
    if compare(a, b) <= 0 and compare(b, c) <= 0:
        assert compare(a, c) <= 0


@settings(max_examples=300, deadline=None)
@given(tuples)
def test_decode_inverts_encode(parts_: list[Any]) -> None:
    decoded = decode_key(encode_key(parts_))
    assert len(decoded) == len(parts_)
    assert tuple_cmp(decoded, parts_) == 0
    for original, back in zip(parts_, decoded, strict=True):
        assert type(original) is type(back)


@settings(max_examples=300, deadline=None)
@given(tuples, parts, tuples)
def test_prefix_end_bounds_every_extension(prefix: list[Any], nxt: Any, rest: list[Any]) -> None:
    start = encode_key(prefix)
    end = prefix_end(start)
    extended = encode_key([*prefix, nxt, *rest])
    assert start <= extended
    assert end is None or extended < end


@settings(max_examples=300, deadline=None)
@given(values, values, tuples)
def test_prefix_end_is_at_or_below_larger_values(a: Any, c: Any, rest: list[Any]) -> None:
    if compare(a, c) < 0:
        end = prefix_end(encode_key([a]))
        assert end is not None and end <= encode_key([c, *rest])


@given(st.binary(max_size=6), st.binary(max_size=6))
def test_key_after_is_the_next_key(key: bytes, other: bytes) -> None:
    after = key_after(key)
    assert after > key
    if other > key:
        assert other >= after


def test_prefix_end_examples() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff") is None
    assert prefix_end(b"") is None


def test_decode_rejects_garbage() -> None:
    for bad in (b"\x01", b"\x30\x00", b"\x60abc", b"\x60a\x00\x02", b"\x80", b"\x90\x20\x20\x00"):
        with pytest.raises(InvalidValueError, match="malformed"):
            decode_key(bad)
