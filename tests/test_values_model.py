"""The value model: Int64, MISSING, canonicalize, document limits, sizes."""

from __future__ import annotations

import copy
import enum
import pickle

import pytest

from reactor.errors import InvalidValueError
from reactor.values import MISSING, Int64, canonicalize, check_document, type_name, value_size
from reactor.values.model import canonicalize_at


def test_int64_behaves_like_int_but_prints_its_type() -> None:
    x = Int64(5)
    assert isinstance(x, int) and not isinstance(x, bool)
    assert x == 5 and hash(x) == hash(5)
    assert repr(x) == "Int64(5)"
    assert str(x) == "5" and f"{x}" == "5" and f"{x:03d}" == "005"
    assert type(Int64(True)) is Int64 and Int64(True) == 1


def test_int64_range_is_signed_64_bit() -> None:
    assert Int64(2**63 - 1) == 2**63 - 1
    assert Int64(-(2**63)) == -(2**63)
    with pytest.raises(InvalidValueError, match="outside the signed 64-bit range"):
        Int64(2**63)
    with pytest.raises(InvalidValueError):
        Int64(-(2**63) - 1)


def test_int64_arithmetic_keeps_the_type() -> None:
    x = Int64(7)
    for result in (x + 1, 1 + x, x - 2, 10 - x, x * 3, 3 * x, x // 2, 100 // x, x % 4,
                   50 % x, x**2, -x, +x, abs(Int64(-3))):
        assert type(result) is Int64
    assert x + 1 == 8 and 10 - x == 3 and -x == -7
    assert type(x / 2) is float and x / 2 == 3.5
    assert type(x + 0.5) is float
    with pytest.raises(InvalidValueError):
        Int64(2**63 - 1) + 1


def test_int64_copies_and_pickles() -> None:
    x = Int64(-42)
    assert type(copy.deepcopy(x)) is Int64 and copy.deepcopy(x) == -42
    assert type(pickle.loads(pickle.dumps(x))) is Int64


def test_missing_is_a_falsy_singleton() -> None:
    assert repr(MISSING) == "MISSING"
    assert not MISSING
    assert type(MISSING)() is MISSING
    assert copy.deepcopy(MISSING) is MISSING
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING


def test_canonicalize_turns_plain_ints_into_floats() -> None:
    result = canonicalize({"a": 1, "b": [2, Int64(3)], "c": True, "d": None})
    assert result == {"a": 1.0, "b": [2.0, 3], "c": True, "d": None}
    assert type(result["a"]) is float
    assert type(result["b"][0]) is float and type(result["b"][1]) is Int64
    assert result["c"] is True


def test_canonicalize_keeps_strings_bytes_floats() -> None:
    value = {"s": "héllo \x00", "b": b"\x00\xff", "f": float("-inf"), "z": -0.0}
    assert canonicalize(value) == value


def test_canonicalize_unwraps_subclasses() -> None:
    class Color(enum.StrEnum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    result = canonicalize([Color.RED, Level.HIGH])
    assert result == ["red", 3.0]
    assert type(result[0]) is str and type(result[1]) is float


def test_canonicalize_limits_plain_ints_to_exact_floats() -> None:
    assert canonicalize(2**53) == float(2**53)
    with pytest.raises(InvalidValueError) as info:
        canonicalize({"n": 2**53 + 1}, "args")
    message = info.value.message
    assert message.startswith("args.n: integer 9007199254740993")
    assert "v.int64()" in message and "Int64(9007199254740993)" in message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ((1, 2), "value: tuple is not a Reactor value; use a list"),
        ({"a": {1, 2}}, "value.a: set is not a Reactor value; use a list"),
        ([object()], "value[0]: object is not a Reactor value"),
        ({1: "x"}, "value: object keys must be strings, got int 1"),
        ({"a": {"$x": 1}}, 'value.a["$x"]: field names may not start with \'$\''),
        ({"é": 1}, "value: field name 'é' must be printable ASCII"),
        ({"a\n": 1}, "value: field name 'a\\n' must be printable ASCII"),
        ([MISSING], "value[0]: MISSING is not a value"),
        ("\ud800", "value: string is not valid Unicode"),
        (bytearray(b"x"), "value: bytearray is not a Reactor value"),
    ],
)
def test_canonicalize_refuses_non_values(value: object, message: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        canonicalize(value)
    assert info.value.message.startswith(message)
    assert info.value.code == "InvalidValue"


def test_canonicalize_paths_quote_odd_field_names() -> None:
    with pytest.raises(InvalidValueError) as info:
        canonicalize({"first name": [1, (2,)]}, "doc")
    assert info.value.message.startswith('doc["first name"][1]: tuple')


def nested(depth: int) -> object:
    value: object = 1.0
    for _ in range(depth):
        value = [value]
    return value


def test_nesting_limit_is_sixteen() -> None:
    canonicalize(nested(16))
    with pytest.raises(InvalidValueError, match="nested deeper than 16"):
        canonicalize(nested(17))
    with pytest.raises(InvalidValueError, match="nested deeper than 16"):
        canonicalize_at(nested(2), "x", 16)


def test_cyclic_values_hit_the_nesting_limit() -> None:
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(InvalidValueError, match="nested deeper"):
        canonicalize(cycle)


def test_array_and_object_size_limits() -> None:
    canonicalize([None] * 8192)
    with pytest.raises(InvalidValueError, match="array has 8193 items"):
        canonicalize({"x": [None] * 8193})
    canonicalize({f"f{i}": None for i in range(1024)})
    with pytest.raises(InvalidValueError, match="object has 1025 fields"):
        canonicalize({f"f{i}": None for i in range(1025)})


def test_field_name_length_limit() -> None:
    canonicalize({"a" * 1024: 1})
    with pytest.raises(InvalidValueError, match="longer than 1024"):
        canonicalize({"a" * 1025: 1})


def test_check_document_accepts_system_fields() -> None:
    check_document({"_id": "x", "_creationTime": 1.0, "title": "t", "a_b9": {"$ok": 1}})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"9lives": 1}, "doc: top-level field name '9lives' must match"),
        ({"has-dash": 1}, "doc: top-level field name 'has-dash' must match"),
        ({"a" * 65: 1}, "doc: top-level field name"),
        ({"_secret": 1}, "doc._secret: field names starting with '_' are reserved"),
        ("text", "doc: a document must be an object, got string"),
    ],
)
def test_check_document_field_names(doc: object, message: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        check_document(doc, "doc")  # type: ignore[arg-type]
    assert info.value.message.startswith(message)


def test_check_document_size_limit() -> None:
    check_document({"a" * 64: "x" * ((1 << 20) - 200)})
    with pytest.raises(InvalidValueError, match="more than the limit of 1048576"):
        check_document({"blob": b"x" * (1 << 20)})


def test_value_size() -> None:
    assert value_size(None) == value_size(True) == 1
    assert value_size(1.5) == value_size(Int64(1)) == 9
    assert value_size("abc") == 5
    assert value_size("é") == 4
    assert value_size(b"ab") == 4
    assert value_size([None, None]) == 4
    assert value_size({"ab": None}) == 2 + 3 + 1


def test_type_name() -> None:
    names = [type_name(x) for x in (None, MISSING, False, Int64(1), 1.0, "", b"", [], {}, (1,))]
    assert names == [
        "null", "missing", "boolean", "int64", "number", "string", "bytes", "array",
        "object", "tuple",
    ]
