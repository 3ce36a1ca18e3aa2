"""Validators built from others: optional, array, object, record, union."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reactor.errors import InvalidValueError, SchemaError, ValidationError
from reactor.values.model import Value, check_container, check_field_name, child_path
from reactor.values.render import render_field_name, short_repr
from reactor.values.scalar_validators import IdValidator, StringValidator
from reactor.values.validator_base import Validator, require_validator


class OptionalValidator(Validator):
    """Marks an object field that may be absent; `None` is a value, not an absence."""

    is_optional = True

    def __init__(self, inner: Validator) -> None:
        self.inner = require_validator(inner, "v.optional()")
        if inner.is_optional:
            raise SchemaError("v.optional(): the inner validator is already optional")

    def check(self, value: Any, path: str, depth: int) -> Value:
        return self.inner.check(value, path, depth)

    def describe(self) -> str:
        return self.inner.describe()

    def to_json(self) -> dict[str, Any]:
        return {"type": "optional", "value": self.inner.to_json()}


def field_json(validator: Validator) -> dict[str, Any]:
    """An object field or record value in `to_json`: its type and whether it may be absent."""
    inner = validator.inner if isinstance(validator, OptionalValidator) else validator
    return {"fieldType": inner.to_json(), "optional": validator.is_optional}


class ArrayValidator(Validator):
    def __init__(self, item: Validator) -> None:
        self.item = require_validator(item, "v.array()", allow_optional=False)

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, list):
            raise self.fail(value, path)
        check_container(len(value), True, depth, path)
        return [self.item.check(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(value)]

    def describe(self) -> str:
        return f"array<{self.item.describe()}>"

    def to_json(self) -> dict[str, Any]:
        return {"type": "array", "value": self.item.to_json()}


class ObjectValidator(Validator):
    """Exactly the declared fields: unknown ones are refused, required ones must be present."""

    def __init__(self, fields: Mapping[str, Validator]) -> None:
        if not isinstance(fields, Mapping):
            raise SchemaError(
                f"v.object(): expected a dict of validators, got {short_repr(fields)}"
            )
        for name, validator in fields.items():
            try:
                check_field_name(name, "v.object()")
            except InvalidValueError as exc:
                raise SchemaError(exc.message) from None
            require_validator(validator, f"v.object() field {name!r}")
        self.fields: dict[str, Validator] = dict(fields)
        # Each field's path after its object's (`.name`, or `["x y"]`), spelled once here
        # rather than with a regular expression for every value checked.
        self._path_suffixes = {name: child_path("", name) for name in self.fields}

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, dict):
            raise self.fail(value, path)
        check_container(len(value), False, depth, path)
        for name in value:
            if name not in self.fields:
                check_field_name(name, path)
                expected = ", ".join(self.fields) if self.fields else "none"
                raise ValidationError(
                    f"{child_path(path, name)}: unexpected field (expected one of: {expected})"
                )
        result: dict[str, Value] = {}
        suffixes = self._path_suffixes
        for name, validator in self.fields.items():
            if name in value:
                result[name] = validator.check(value[name], path + suffixes[name], depth + 1)
            elif not validator.is_optional:
                raise ValidationError(f"{child_path(path, name)}: required field is missing")
        return result

    def describe(self) -> str:
        parts = [
            f"{render_field_name(name)}{'?' if validator.is_optional else ''}: "
            f"{validator.describe()}"
            for name, validator in self.fields.items()
        ]
        return "{" + ", ".join(parts) + "}"

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "object",
            "value": {name: field_json(validator) for name, validator in self.fields.items()},
        }


class RecordValidator(Validator):
    """An object with arbitrary keys (strings or ids of one table) and uniform values."""

    def __init__(self, keys: Validator, values: Validator) -> None:
        if not isinstance(keys, (StringValidator, IdValidator)):
            raise SchemaError(
                f"v.record(): keys must be v.string() or v.id(table), got {short_repr(keys)}"
            )
        self.keys = keys
        self.values = require_validator(values, "v.record() values", allow_optional=False)

    def check(self, value: Any, path: str, depth: int) -> Value:
        if not isinstance(value, dict):
            raise self.fail(value, path)
        check_container(len(value), False, depth, path)
        result: dict[str, Value] = {}
        for key, item in value.items():
            check_field_name(key, path)
            field_path = child_path(path, key)
            self.keys.check(key, f"{field_path} (key)", depth + 1)
            result[str.__str__(key)] = self.values.check(item, field_path, depth + 1)
        return result

    def describe(self) -> str:
        return f"record<{self.keys.describe()}, {self.values.describe()}>"

    def to_json(self) -> dict[str, Any]:
        return {"type": "record", "keys": self.keys.to_json(), "values": field_json(self.values)}


class UnionValidator(Validator):
    """The first member that accepts the value wins; a failure lists every alternative."""

    def __init__(self, *members: Validator) -> None:
        if not members:
            raise SchemaError("v.union(): expected at least one member validator")
        self.members = [
            require_validator(member, "v.union()", allow_optional=False) for member in members
        ]

    def check(self, value: Any, path: str, depth: int) -> Value:
        for member in self.members:
            try:
                return member.check(value, path, depth)
            except (ValidationError, InvalidValueError):
                continue
        raise self.fail(value, path)

    def describe(self) -> str:
        return " | ".join(member.describe() for member in self.members)

    def to_json(self) -> dict[str, Any]:
        return {"type": "union", "value": [member.to_json() for member in self.members]}
