"""Index definitions: which fields an index sorts by and how a document's key is built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from reactor.errors import SchemaError
from reactor.values import MISSING, Missing, Value, encode_key
from reactor.values.model import IDENTIFIER_RE

ID_FIELD: Final = "_id"
CREATION_TIME_FIELD: Final = "_creationTime"
BY_ID: Final = "by_id"
BY_CREATION_TIME: Final = "by_creation_time"
MAX_INDEXES_PER_TABLE: Final = 32
MAX_FIELDS_PER_INDEX: Final = 16


def index_id(table: str, name: str) -> str:
    """The storage-level name of an index: `"<table>.<index>"`."""
    return f"{table}.{name}"


def get_field(doc: dict[str, Any], path: str | Sequence[str]) -> Value | Missing:
    """The value at a dotted field path, or `MISSING` if any step is absent."""
    current: Any = doc
    for part in path.split(".") if isinstance(path, str) else path:
        if not isinstance(current, dict) or part not in current:
            return MISSING
        current = current[part]
    found: Value | Missing = current
    return found


@dataclass(frozen=True)
class IndexDefinition:
    """An index: its declared fields, then `_creationTime` and `_id` to make keys unique."""

    name: str
    fields: tuple[str, ...]
    key_fields: tuple[str, ...] = field(init=False)
    _paths: tuple[tuple[str, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if ID_FIELD in self.fields:
            key_fields = self.fields
        else:
            tiebreak = tuple(f for f in (CREATION_TIME_FIELD, ID_FIELD) if f not in self.fields)
            key_fields = self.fields + tiebreak
        object.__setattr__(self, "key_fields", key_fields)
        object.__setattr__(self, "_paths", tuple(tuple(f.split(".")) for f in key_fields))

    @property
    def is_builtin(self) -> bool:
        return self.name in (BY_ID, BY_CREATION_TIME)

    def key_for(self, doc: dict[str, Any]) -> bytes:
        """The index key of a stored document (absent fields are `MISSING`)."""
        return encode_key([get_field(doc, path) for path in self._paths])


BUILTIN_INDEXES: Final = (
    IndexDefinition(BY_ID, (ID_FIELD,)),
    IndexDefinition(BY_CREATION_TIME, (CREATION_TIME_FIELD,)),
)


def check_index_name(name: Any, existing: Sequence[str]) -> str:
    """Index names are identifiers, unique per table, and not the built-in names."""
    if not isinstance(name, str) or not IDENTIFIER_RE.fullmatch(name):
        raise SchemaError(
            f"index {name!r}: the name must match [A-Za-z_][A-Za-z0-9_]*"
        )
    if name in (BY_ID, BY_CREATION_TIME):
        raise SchemaError(f"index {name!r}: the name is reserved for a built-in index")
    if name in existing:
        raise SchemaError(f"index {name!r}: defined twice on the same table")
    return name


def check_index_fields(name: str, fields: Any) -> tuple[str, ...]:
    """1 to 16 distinct, well-formed field paths, none of them a system field."""
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        raise SchemaError(f"index {name!r}: fields must be a list of field names, got {fields!r}")
    if not 1 <= len(fields) <= MAX_FIELDS_PER_INDEX:
        raise SchemaError(
            f"index {name!r}: expected 1 to {MAX_FIELDS_PER_INDEX} fields, got {len(fields)}"
        )
    seen: set[str] = set()
    for path in fields:
        if not isinstance(path, str) or not all(
            part and not part.startswith("$") for part in path.split(".")
        ):
            raise SchemaError(f"index {name!r}: {path!r} is not a field path")
        if path in (ID_FIELD, CREATION_TIME_FIELD):
            raise SchemaError(
                f"index {name!r}: {path} is added to every index automatically; remove it"
            )
        if path in seen:
            raise SchemaError(f"index {name!r}: field {path!r} is listed twice")
        seen.add(path)
    return tuple(fields)
