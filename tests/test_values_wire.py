"""Convex JSON (protocol.md section 2): fixtures both ways and round trips."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.errors import InvalidValueError
from reactor.values import Int64, compare, dumps, from_wire, loads, to_wire

INTEGER_FIXTURES = [
    (Int64(1), "AQAAAAAAAAA="),
    (Int64(0), "AAAAAAAAAAA="),
    (Int64(-1), "//////////8="),
    (Int64(256), "AAEAAAAAAAA="),
    (Int64(2**63 - 1), "/////////38="),
    (Int64(-(2**63)), "AAAAAAAAAIA="),
]
FLOAT_FIXTURES = [
    (math.nan, "AAAAAAAA+H8="),
    (math.inf, "AAAAAAAA8H8="),
    (-math.inf, "AAAAAAAA8P8="),
    (-0.0, "AAAAAAAAAIA="),
]


@pytest.mark.parametrize(("value", "encoded"), INTEGER_FIXTURES)
def test_int64_fixtures(value: Int64, encoded: str) -> None:
    assert to_wire(value) == {"$integer": encoded}
    back = from_wire({"$integer": encoded})
    assert type(back) is Int64 and back == value


@pytest.mark.parametrize(("value", "encoded"), FLOAT_FIXTURES)
def test_special_float_fixtures(value: float, encoded: str) -> None:
    assert to_wire(value) == {"$float": encoded}
    back = from_wire({"$float": encoded})
    assert type(back) is float and compare(back, value) == 0


def test_scalars_and_containers() -> None:
    value = {"a": [None, True, "x", 1.5, 0.0, b"hello"], "n": Int64(1)}
    assert to_wire(value) == {
        "a": [None, True, "x", 1.5, 0.0, {"$bytes": "aGVsbG8="}],
        "n": {"$integer": "AQAAAAAAAAA="},
    }
    assert dumps(value) == (
        b'{"a":[null,true,"x",1.5,0.0,{"$bytes":"aGVsbG8="}],"n":{"$integer":"AQAAAAAAAAA="}}'
    )


def test_plain_ints_on_the_way_out() -> None:
    assert to_wire(3) == 3 and orjson.dumps(to_wire(3)) == b"3"
    assert to_wire(2**53) == 2**53
    assert to_wire(2**53 + 1) == {"$integer": "AQAAAAAAIAA="}


def test_json_numbers_come_in_as_floats() -> None:
    for number in (5, -3, 2.5, 0):
        back = from_wire(number)
        assert type(back) is float and back == number
    assert loads(b"[1, 2.0, -0]") == [1.0, 2.0, 0.0]
    assert loads(b"123456789012345678901234567890") == 1.2345678901234568e29
    assert loads(b"1e400") == math.inf
    assert loads(b"-1e400") == -math.inf


def test_base64_variants_are_accepted() -> None:
    assert from_wire({"$integer": "__________8="}) == Int64(-1)
    assert from_wire({"$integer": "AQAAAAAAAAA"}) == Int64(1)
    assert from_wire({"$bytes": "-_8"}) == b"\xfb\xff"
    assert from_wire({"$bytes": ""}) == b""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"$integer": "AQAA"}, "value.$integer: expected 8 bytes of int64, got 3"),
        ({"$float": "AQAAAAAAAAAA"}, "value.$float: expected 8 bytes of float64, got 9"),
        ({"$bytes": "a b"}, "value.$bytes: 'a b' is not valid base64"),
        ({"$bytes": 5}, "value.$bytes: expected a base64 string, got int"),
        ({"$set": []}, "value: object with keys $set is not a value"),
        ({"$integer": "AQAAAAAAAAA=", "x": 1}, "value: object with keys $integer, x"),
        ({"a": [{"$date": 1}]}, "value.a[0]: object with keys $date"),
        ({"a b": {"\n": 1}}, 'value["a b"]: field name \'\\n\' must be printable ASCII'),
    ],
)
def test_invalid_wire_values(data: Any, message: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        from_wire(data)
    assert info.value.message.startswith(message)


def test_limits_are_enforced_on_the_way_in() -> None:
    deep: Any = 1
    for _ in range(17):
        deep = [deep]
    with pytest.raises(InvalidValueError, match="nested deeper than 16"):
        loads(orjson.dumps(deep))
    with pytest.raises(InvalidValueError, match="array has 8193 items"):
        loads(orjson.dumps([0] * 8193))


def test_invalid_json() -> None:
    for data in (b"NaN", b"[1,", b"{'a': 1}", b"Infinity", b"\xff"):
        with pytest.raises(InvalidValueError, match="invalid JSON"):
            loads(data)


def test_non_values_cannot_be_sent() -> None:
    with pytest.raises(InvalidValueError):
        to_wire((1, 2))
    with pytest.raises(InvalidValueError):
        to_wire({"$x": 1})
    with pytest.raises(InvalidValueError):
        dumps("\ud800")


field_names = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=5
).filter(lambda name: not name.startswith("$"))
canonical = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=True),
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(Int64),
        st.text(alphabet=st.characters(codec="utf-8")),
        st.binary(),
    ),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(field_names, children, max_size=4),
    max_leaves=15,
)


def same(a: Any, b: Any) -> bool:
    """Equal and of identical types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return compare(a, b) == 0


@settings(max_examples=300, deadline=None)
@given(canonical)
def test_round_trip(value: Any) -> None:
    assert same(loads(dumps(value)), value)
    assert same(from_wire(to_wire(value)), value)
    assert same(loads(dumps(value).decode()), value)
