"""Validators from type annotations: `str` → `v.string()`, `list[Id["t"]]` → `v.array(v.id("t"))`.

A handler's signature can be its argument schema. `translate` maps one
annotation to a validator and, for the few types whose Python form differs
from the value (an `enum.Enum` member, a `msgspec.Struct` instance), a
conversion from the validated value into that form; `to_plain` is the way back
for return values.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, Required, Union

import msgspec

from reactor.errors import ReactorError, SchemaError
from reactor.values.compound_validators import (
    ArrayValidator,
    ObjectValidator,
    OptionalValidator,
    RecordValidator,
    UnionValidator,
)
from reactor.values.model import Int64
from reactor.values.scalar_validators import (
    AnyValidator,
    BooleanValidator,
    BytesValidator,
    IdValidator,
    Int64Validator,
    IntegerValidator,
    LiteralValidator,
    NullValidator,
    NumberValidator,
    StringValidator,
)
from reactor.values.typed import Id, id_table
from reactor.values.validator_base import Validator

Convert = Callable[[Any], Any]

_SCALARS: dict[Any, Callable[[], Validator]] = {
    str: StringValidator,
    float: NumberValidator,
    int: IntegerValidator,
    Int64: Int64Validator,
    bool: BooleanValidator,
    bytes: BytesValidator,
    type(None): NullValidator,
    None: NullValidator,
    Any: AnyValidator,
    object: AnyValidator,
}

SUPPORTED = ("str, float, int, Int64, bool, bytes, None, Any, list[T], dict[str, T],"
             " a TypedDict, a msgspec.Struct, Literal[...], an Enum, Id[\"table\"],"
             " T | None, Annotated[T, validator]")


@dataclass(frozen=True)
class Translated:
    """An annotation's validator, and how a validated value becomes the annotated type."""

    validator: Validator
    convert: Convert | None = None


class AnnotationError(SchemaError):
    code = "InvalidAnnotation"


def translate(annotation: Any, where: str) -> Translated:
    """The validator an annotation stands for; `AnnotationError` naming `where` otherwise."""
    return _translate(annotation, where)


def _translate(tp: Any, where: str) -> Translated:
    if type(tp).__name__ == "TypeAliasType":  # `type X = ...` (Python 3.12)
        return _translate(tp.__value__, where)
    if isinstance(tp, typing.NewType):
        return _translate(tp.__supertype__, where)
    scalar = _SCALARS.get(tp) if _hashable(tp) else None
    if scalar is not None:
        return Translated(scalar())
    if isinstance(tp, Validator):
        return Translated(tp)
    origin = typing.get_origin(tp)
    arguments = typing.get_args(tp)
    if origin is typing.Annotated:
        declared = [meta for meta in tp.__metadata__ if isinstance(meta, Validator)]
        if declared:
            return Translated(declared[-1], _translate(arguments[0], where).convert)
        return _translate(arguments[0], where)
    if origin in (Required, NotRequired):
        return _translate(arguments[0], where)
    if tp is Id or origin is Id:
        table = id_table(tp)
        if table is None:
            raise AnnotationError(f'{where}: Id needs its table: Id["tasks"]')
        return Translated(IdValidator(table))
    if origin is Literal:
        return _literals(arguments, where)
    if origin is Union or isinstance(tp, types.UnionType):
        return _union(arguments, where)
    if tp is list or origin is list:
        return _array(arguments, where)
    if tp is dict or origin is dict:
        return _record(arguments, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp, where)
    if typing.is_typeddict(tp):
        return _typed_dict(tp, where)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _struct(tp, where)
    raise AnnotationError(f"{where}: cannot check values of type {_name(tp)}; use one of"
                          f" {SUPPORTED}, or declare validators with args=/returns=")


def _hashable(tp: Any) -> bool:
    try:
        hash(tp)
    except TypeError:
        return False
    return True


def _name(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp)


def _literals(values: tuple[Any, ...], where: str) -> Translated:
    members: list[Validator] = []
    for value in values:
        if isinstance(value, enum.Enum):
            value = value.value
        if value is None:
            members.append(NullValidator())
        else:
            members.append(LiteralValidator(value))
    return Translated(members[0] if len(members) == 1 else UnionValidator(*members))


def _union(arguments: tuple[Any, ...], where: str) -> Translated:
    parts = [_translate(argument, where) for argument in arguments]
    converters = [part.convert for part in parts]
    validator = UnionValidator(*(part.validator for part in parts))
    if not any(converters):
        return Translated(validator)

    def convert(value: Any) -> Any:
        # The first member that accepts the value is the one whose form it takes.
        for part in parts:
            try:
                part.validator.validate(value)
            except ReactorError:
                continue
            return value if part.convert is None else part.convert(value)
        return value

    return Translated(validator, convert)


def _array(arguments: tuple[Any, ...], where: str) -> Translated:
    item = _translate(arguments[0], f"{where} item") if arguments else Translated(AnyValidator())
    convert_item = item.convert
    if convert_item is None:
        return Translated(ArrayValidator(item.validator))
    return Translated(ArrayValidator(item.validator),
                      lambda values: [convert_item(value) for value in values])


def _record(arguments: tuple[Any, ...], where: str) -> Translated:
    if not arguments:
        return Translated(RecordValidator(StringValidator(), AnyValidator()))
    keys = _translate(arguments[0], f"{where} keys").validator
    if not isinstance(keys, StringValidator | IdValidator):
        raise AnnotationError(f"{where}: dict keys must be str or Id[...],"
                              f" got {_name(arguments[0])}")
    values = _translate(arguments[1], f"{where} values")
    convert_value = values.convert
    validator = RecordValidator(keys, values.validator)
    if convert_value is None:
        return Translated(validator)
    return Translated(validator, lambda record: {key: convert_value(value)
                                                 for key, value in record.items()})


def _enum(tp: type[enum.Enum], where: str) -> Translated:
    members = list(tp)
    if not members:
        raise AnnotationError(f"{where}: enum {tp.__qualname__} has no members")
    for member in members:
        if not isinstance(member.value, str | int | float | bool):
            raise AnnotationError(f"{where}: enum {tp.__qualname__}.{member.name} has the value"
                                  f" {member.value!r}; only strings, numbers and booleans are"
                                  " values")
    return Translated(_literals(tuple(member.value for member in members), where).validator, tp)


def _fields(names: dict[str, tuple[Any, bool]], where: str
            ) -> tuple[ObjectValidator, dict[str, Convert]]:
    """An object validator from `{name: (annotation, required)}`, with per-field conversions."""
    validators: dict[str, Validator] = {}
    converters: dict[str, Convert] = {}
    for name, (annotation, required) in names.items():
        part = _translate(annotation, f"{where}.{name}")
        validators[name] = part.validator if required else OptionalValidator(part.validator)
        if part.convert is not None:
            converters[name] = part.convert
    return ObjectValidator(validators), converters


def _typed_dict(tp: Any, where: str) -> Translated:
    hints = typing.get_type_hints(tp, include_extras=True)
    validator, converters = _fields(
        {name: (annotation, _required(tp, name, annotation)) for name, annotation in hints.items()},
        where)
    if not converters:
        return Translated(validator)
    return Translated(validator, lambda value: _convert_fields(value, converters))


def _required(tp: Any, name: str, annotation: Any) -> bool:
    """Whether a TypedDict key must be present (read from the annotation itself, since
    `__required_keys__` misses `NotRequired` written as a string before Python 3.12)."""
    marker = typing.get_origin(annotation)
    if marker is NotRequired:
        return False
    if marker is Required:
        return True
    return name in tp.__required_keys__


def _convert_fields(value: dict[str, Any], converters: dict[str, Convert]) -> dict[str, Any]:
    return {name: converters[name](item) if name in converters else item
            for name, item in value.items()}


def _struct(tp: type[msgspec.Struct], where: str) -> Translated:
    fields = msgspec.structs.fields(tp)
    validator, converters = _fields(
        {field.encode_name: (field.type, field.required) for field in fields}, where)
    attribute = {field.encode_name: field.name for field in fields}

    def convert(value: dict[str, Any]) -> msgspec.Struct:
        # Already validated: build the instance directly (absent fields take their defaults).
        return tp(**{attribute[name]: converters[name](item) if name in converters else item
                     for name, item in value.items()})

    return Translated(validator, convert)


def to_plain(value: Any) -> Any:
    """A return value with enum members and `msgspec.Struct`s turned into plain values."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, msgspec.Struct):
        return {field.encode_name: to_plain(getattr(value, field.name))
                for field in msgspec.structs.fields(value)}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    return value
