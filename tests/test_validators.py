"""Validators: accepted values, canonical results, exact messages, describe and to_json."""

from __future__ import annotations

import math
from typing import Any

import pytest

from reactor.errors import InvalidValueError, SchemaError, ValidationError
from reactor.values import Int64, Validator, new_id, v


def error_of(validator: Validator, value: Any, path: str = "args") -> str:
    with pytest.raises(ValidationError) as info:
        validator.validate(value, path)
    assert info.value.code == "ValidationError"
    return info.value.message


def test_string() -> None:
    assert v.string().validate("hi") == "hi"
    assert error_of(v.string(), 5) == "args: expected string, got 5"
    assert error_of(v.string(), b"x") == "args: expected string, got bytes of length 1"
    with pytest.raises(InvalidValueError):
        v.string().validate("\udc00")


def test_number_turns_ints_into_floats() -> None:
    result = v.number().validate(3)
    assert result == 3.0 and type(result) is float
    assert math.isnan(v.float64().validate(math.nan))
    assert error_of(v.number(), True) == "args: expected number, got true"
    assert error_of(v.number(), Int64(3)) == "args: expected number, got 3n"
    assert error_of(v.number(), "3") == 'args: expected number, got "3"'
    assert error_of(v.number(), 2**53 + 1).startswith(
        "args: expected number, got 9007199254740993 (beyond 2**53"
    )


def test_int64_turns_ints_into_int64() -> None:
    result = v.int64().validate(7)
    assert result == 7 and type(result) is Int64
    assert type(v.int64().validate(Int64(2**63 - 1))) is Int64
    assert error_of(v.int64(), 7.0) == "args: expected int64, got 7"
    assert error_of(v.int64(), False) == "args: expected int64, got false"
    assert error_of(v.int64(), 2**63).startswith("args: expected int64, got 9223372036854775808")


def test_boolean_null_bytes() -> None:
    assert v.boolean().validate(False) is False
    assert error_of(v.boolean(), 0) == "args: expected boolean, got 0"
    assert v.null().validate(None) is None
    assert error_of(v.null(), "") == 'args: expected null, got ""'
    assert v.bytes().validate(b"\x00") == b"\x00"
    assert error_of(v.bytes(), "x") == 'args: expected bytes, got "x"'


def test_any_canonicalizes() -> None:
    result = v.any().validate({"a": [1, Int64(2)]})
    assert result == {"a": [1.0, 2]}
    assert type(result["a"][0]) is float and type(result["a"][1]) is Int64
    with pytest.raises(InvalidValueError, match=r"args\.x: tuple"):
        v.object({"x": v.any()}).validate({"x": (1,)}, "args")


def test_any_inside_containers_counts_depth() -> None:
    deep: Any = 1
    for _ in range(15):
        deep = [deep]
    v.array(v.any()).validate([deep])
    with pytest.raises(InvalidValueError, match="nested deeper than 16"):
        v.array(v.any()).validate([[deep]])


def test_id() -> None:
    user = new_id("users")
    assert v.id("users").validate(user) == user
    task = new_id("tasks")
    assert error_of(v.id("users"), task) == f'args: expected Id<"users">, got "{task}"'
    assert error_of(v.id("users"), 1) == 'args: expected Id<"users">, got 1'


def test_literal_is_type_exact() -> None:
    assert v.literal("RUNNING").validate("RUNNING") == "RUNNING"
    assert v.literal(1).validate(1) == 1.0
    assert type(v.literal(1).validate(1.0)) is float
    assert error_of(v.literal(1), Int64(1)) == "args: expected 1, got 1n"
    assert error_of(v.literal(1), True) == "args: expected 1, got true"
    assert type(v.literal(Int64(1)).validate(Int64(1))) is Int64
    assert error_of(v.literal(Int64(1)), 1.0) == "args: expected 1n, got 1"
    assert error_of(v.literal(True), 1) == "args: expected true, got 1"
    assert error_of(v.literal(0.0), -0.0) == "args: expected 0, got -0"
    assert error_of(v.literal("a"), ["a"]) == 'args: expected "a", got array of length 1'


def test_union_message_lists_alternatives() -> None:
    status = v.union(v.literal("RUNNING"), v.literal("COMPLETED"))
    assert status.validate("COMPLETED") == "COMPLETED"
    assert (
        error_of(status, "DONE", "args.status")
        == 'args.status: expected "RUNNING" | "COMPLETED", got "DONE"'
    )
    mixed = v.union(v.int64(), v.number())
    assert type(mixed.validate(3)) is Int64
    assert type(mixed.validate(3.5)) is float
    assert v.union(v.string(), v.null()).validate(None) is None


def test_array() -> None:
    assert v.array(v.number()).validate([1, 2.5]) == [1.0, 2.5]
    assert error_of(v.array(v.string()), ("a",)) == "args: expected array<string>, got tuple ('a',)"
    assert error_of(v.array(v.string()), ["a", 3]) == "args[1]: expected string, got 3"
    with pytest.raises(InvalidValueError, match="array has 8193 items"):
        v.array(v.null()).validate([None] * 8193)


TASK = v.object({"title": v.string(), "done": v.optional(v.boolean())})


def test_object_fields() -> None:
    assert TASK.validate({"title": "x"}) == {"title": "x"}
    assert TASK.validate({"title": "x", "done": True}) == {"title": "x", "done": True}
    assert error_of(TASK, {}) == "args.title: required field is missing"
    assert (
        error_of(TASK, {"title": "x", "foo": 1})
        == "args.foo: unexpected field (expected one of: title, done)"
    )
    assert error_of(TASK, {"title": "x", "done": None}) == "args.done: expected boolean, got null"
    assert error_of(TASK, ["x"]) == (
        "args: expected {title: string, done?: boolean}, got array of length 1"
    )
    assert error_of(v.object({}), {"a": 1}) == "args.a: unexpected field (expected one of: none)"


def test_nested_paths() -> None:
    doc = v.object(
        {"metadata": v.object({"parts": v.array(v.object({"type": v.literal("text")}))})}
    )
    value = {"metadata": {"parts": [{"type": "text"}] * 3 + [{"type": "image"}]}}
    assert error_of(doc, value, "doc") == (
        'doc.metadata.parts[3].type: expected "text", got "image"'
    )
    odd = v.object({"first name": v.string()})
    assert error_of(odd, {"first name": 1}, "doc") == 'doc["first name"]: expected string, got 1'


def test_record() -> None:
    scores = v.record(v.string(), v.number())
    assert scores.validate({"a": 1, "b": 2.5}) == {"a": 1.0, "b": 2.5}
    assert error_of(scores, {"a": "x"}) == 'args.a: expected number, got "x"'
    user = new_id("users")
    by_user = v.record(v.id("users"), v.boolean())
    assert by_user.validate({user: True}) == {user: True}
    assert error_of(by_user, {"bob": True}) == 'args.bob (key): expected Id<"users">, got "bob"'
    with pytest.raises(InvalidValueError, match="may not start with"):
        scores.validate({"$a": 1})


def test_optional_is_only_for_fields() -> None:
    assert v.optional(v.string()).is_optional
    assert not v.string().is_optional
    with pytest.raises(SchemaError, match="only allowed for object fields"):
        v.array(v.optional(v.string()))
    with pytest.raises(SchemaError, match="only allowed for object fields"):
        v.union(v.optional(v.string()), v.null())
    with pytest.raises(SchemaError, match="already optional"):
        v.optional(v.optional(v.string()))


def test_construction_errors() -> None:
    with pytest.raises(SchemaError, match="expected a validator"):
        v.array(str)  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match="expected a validator"):
        v.object({"a": "string"})  # type: ignore[dict-item]
    with pytest.raises(SchemaError, match="may not start with"):
        v.object({"$a": v.string()})
    with pytest.raises(SchemaError, match=r"keys must be v\.string"):
        v.record(v.number(), v.string())
    with pytest.raises(SchemaError, match="at least one member"):
        v.union()
    with pytest.raises(SchemaError, match=r"v\.literal"):
        v.literal(None)  # type: ignore[arg-type]
    with pytest.raises(SchemaError, match=r"v\.int64"):
        v.literal(2**60)
    with pytest.raises(SchemaError, match="table name"):
        v.id("")


@pytest.mark.parametrize(
    ("validator", "text"),
    [
        (v.string(), "string"),
        (v.number(), "number"),
        (v.float64(), "number"),
        (v.int64(), "int64"),
        (v.boolean(), "boolean"),
        (v.null(), "null"),
        (v.bytes(), "bytes"),
        (v.any(), "any"),
        (v.id("users"), 'Id<"users">'),
        (v.array(v.string()), "array<string>"),
        (TASK, "{title: string, done?: boolean}"),
        (v.record(v.string(), v.number()), "record<string, number>"),
        (v.union(v.literal("RUNNING"), v.literal("COMPLETED")), '"RUNNING" | "COMPLETED"'),
        (v.literal(3), "3"),
        (v.literal(2.5), "2.5"),
        (v.literal(Int64(3)), "3n"),
        (v.literal(False), "false"),
        (v.array(v.union(v.string(), v.null())), "array<string | null>"),
        (v.object({"a b": v.null()}), '{"a b": null}'),
    ],
)
def test_describe(validator: Validator, text: str) -> None:
    assert validator.describe() == text
    assert repr(validator) == f"<Validator {text}>"


def test_to_json() -> None:
    schema = v.object(
        {
            "status": v.union(v.literal("A"), v.literal(Int64(1))),
            "tags": v.optional(v.array(v.string())),
            "owner": v.id("users"),
            "scores": v.record(v.string(), v.float64()),
            "n": v.int64(),
            "blob": v.bytes(),
            "x": v.any(),
        }
    )
    assert schema.to_json() == {
        "type": "object",
        "value": {
            "status": {
                "fieldType": {
                    "type": "union",
                    "value": [
                        {"type": "literal", "value": "A"},
                        {"type": "literal", "value": {"$integer": "AQAAAAAAAAA="}},
                    ],
                },
                "optional": False,
            },
            "tags": {
                "fieldType": {"type": "array", "value": {"type": "string"}},
                "optional": True,
            },
            "owner": {"fieldType": {"type": "id", "tableName": "users"}, "optional": False},
            "scores": {
                "fieldType": {
                    "type": "record",
                    "keys": {"type": "string"},
                    "values": {"fieldType": {"type": "number"}, "optional": False},
                },
                "optional": False,
            },
            "n": {"fieldType": {"type": "int64"}, "optional": False},
            "blob": {"fieldType": {"type": "bytes"}, "optional": False},
            "x": {"fieldType": {"type": "any"}, "optional": False},
        },
    }
    assert v.optional(v.null()).to_json() == {"type": "optional", "value": {"type": "null"}}
