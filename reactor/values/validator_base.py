"""The `Validator` base: validate, describe and describe-as-JSON, with the standard error."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from reactor.errors import SchemaError, ValidationError
from reactor.values.model import Value
from reactor.values.render import short_repr


class Validator(ABC):
    """Base of all validators: `validate` returns the canonical value or raises."""

    is_optional: bool = False

    def validate(self, value: Any, path: str = "value") -> Value:
        """Check `value` (a wire value or plain Python from app code) and canonicalize it."""
        return self.check(value, path, 1)

    @abstractmethod
    def check(self, value: Any, path: str, depth: int) -> Value:
        """`validate` for a value `depth` containers deep (1 at the top)."""

    @abstractmethod
    def describe(self) -> str:
        """The type as users read it in messages: `string`, `"a" | "b"`, `array<number>`."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """A JSON description of the type, for code generation."""

    def fail(self, value: Any, path: str) -> ValidationError:
        """The standard mismatch error: `<path>: expected <describe()>, got <value>`."""
        return ValidationError(f"{path}: expected {self.describe()}, got {short_repr(value)}")

    def __repr__(self) -> str:
        return f"<Validator {self.describe()}>"


class SimpleValidator(Validator):
    """A validator whose description and JSON form are just a type name."""

    name = ""

    def describe(self) -> str:
        return self.name

    def to_json(self) -> dict[str, Any]:
        return {"type": self.name}


def require_validator(candidate: Any, where: str, *, allow_optional: bool = True) -> Validator:
    """Construction-time check that a validator was given where one is needed."""
    if not isinstance(candidate, Validator):
        raise SchemaError(f"{where}: expected a validator (v.*), got {short_repr(candidate)}")
    if candidate.is_optional and not allow_optional:
        raise SchemaError(f"{where}: v.optional() is only allowed for object fields")
    return candidate


