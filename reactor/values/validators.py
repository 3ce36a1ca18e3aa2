"""The `v` namespace (`v.string()`, `v.object({...})`, ...) and the validator classes."""

from __future__ import annotations

from collections.abc import Mapping

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
from reactor.values.validator_base import Validator

__all__ = [
    "AnyValidator",
    "ArrayValidator",
    "BooleanValidator",
    "BytesValidator",
    "IdValidator",
    "Int64Validator",
    "IntegerValidator",
    "LiteralValidator",
    "NullValidator",
    "NumberValidator",
    "ObjectValidator",
    "OptionalValidator",
    "RecordValidator",
    "StringValidator",
    "UnionValidator",
    "Validator",
    "v",
]


class _ValidatorNamespace:
    """`v`: the constructors of every validator, as app code spells them."""

    def string(self) -> StringValidator:
        return StringValidator()

    def number(self) -> NumberValidator:
        return NumberValidator()

    def float64(self) -> NumberValidator:
        return NumberValidator()

    def int64(self) -> Int64Validator:
        return Int64Validator()

    def boolean(self) -> BooleanValidator:
        return BooleanValidator()

    def null(self) -> NullValidator:
        return NullValidator()

    def bytes(self) -> BytesValidator:
        return BytesValidator()

    def any(self) -> AnyValidator:
        return AnyValidator()

    def id(self, table: str) -> IdValidator:
        return IdValidator(table)

    def literal(self, value: str | bool | float | Int64) -> LiteralValidator:
        return LiteralValidator(value)

    def optional(self, inner: Validator) -> OptionalValidator:
        return OptionalValidator(inner)

    def array(self, item: Validator) -> ArrayValidator:
        return ArrayValidator(item)

    def object(self, fields: Mapping[str, Validator]) -> ObjectValidator:
        return ObjectValidator(fields)

    def record(self, keys: Validator, values: Validator) -> RecordValidator:
        return RecordValidator(keys, values)

    def union(self, *members: Validator) -> UnionValidator:
        return UnionValidator(*members)

    def pagination_opts(self) -> ObjectValidator:
        """The `paginationOpts` argument of a paginated query, as clients send it.

        Accepts the official `convex` client's shape (`numItems`, `cursor`, and
        `id`, `endCursor`, `maximumRowsRead`, `maximumBytesRead` when it sets
        them) and `reactor-client`'s (`numItems`, `cursor`, `id`, `endCursor`).
        Pass the value to `.paginate(...)` as it is.
        """
        nullable_string = UnionValidator(StringValidator(), NullValidator())
        return ObjectValidator({
            "numItems": NumberValidator(),
            "cursor": nullable_string,
            "id": OptionalValidator(NumberValidator()),
            "endCursor": OptionalValidator(nullable_string),
            "maximumRowsRead": OptionalValidator(NumberValidator()),
            "maximumBytesRead": OptionalValidator(NumberValidator()),
        })


v = _ValidatorNamespace()
