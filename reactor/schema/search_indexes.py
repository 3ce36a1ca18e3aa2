"""Search and vector index definitions: which field they cover, their filter fields, the limits.

The tokenizer lives here because documents (when written) and queries (when
run) must be split into terms the same way.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from reactor.errors import SchemaError
from reactor.schema.indexes import CREATION_TIME_FIELD, ID_FIELD, get_field
from reactor.values import Missing, Value, encode_key

MAX_SEARCH_INDEXES_PER_TABLE: Final = 4
MAX_VECTOR_INDEXES_PER_TABLE: Final = 4
MAX_FILTER_FIELDS: Final = 16
MIN_DIMENSIONS: Final = 2
MAX_DIMENSIONS: Final = 4096
MAX_TERM_BYTES: Final = 32

# A term is a run of letters and digits (any script); everything else separates.
_TERM = re.compile(r"[^\W_]+")


def _cut(term: str) -> str:
    """`term` cut to at most MAX_TERM_BYTES of UTF-8, never inside a character."""
    data = term.encode()
    if len(data) <= MAX_TERM_BYTES:
        return term
    return data[:MAX_TERM_BYTES].decode(errors="ignore")


def tokenize(text: str) -> list[str]:
    """Lower-cased terms split on non-alphanumerics, each at most 32 bytes, in order."""
    return [_cut(term) for term in _TERM.findall(text.lower())]


def filter_token(position: int, value: Value | Missing) -> str:
    """The term standing for "filter field number `position` equals `value`".

    Only letters and digits, so the full-text engine stores it as one token; a
    hash keeps it short whatever the value.
    """
    digest = hashlib.blake2b(encode_key([value]), digest_size=10).hexdigest()
    return f"f{position}x{digest}"


def _check_path(index: str, role: str, path: Any) -> str:
    if not isinstance(path, str) or not path or not all(
            part and not part.startswith("$") for part in path.split(".")):
        raise SchemaError(f"index {index!r}: {role} {path!r} is not a field path")
    if path in (ID_FIELD, CREATION_TIME_FIELD):
        raise SchemaError(f"index {index!r}: {role} cannot be the system field {path}")
    return path


def check_filter_fields(index: str, fields: Any, covered: str) -> tuple[str, ...]:
    """At most 16 distinct field paths, not the indexed field itself."""
    if fields is None:
        return ()
    if isinstance(fields, str) or not isinstance(fields, Sequence):
        raise SchemaError(f"index {index!r}: filter_fields must be a list of field names,"
                          f" got {fields!r}")
    if len(fields) > MAX_FILTER_FIELDS:
        raise SchemaError(f"index {index!r}: at most {MAX_FILTER_FIELDS} filter fields,"
                          f" got {len(fields)}")
    seen: list[str] = []
    for path in fields:
        _check_path(index, "filter field", path)
        if path in seen:
            raise SchemaError(f"index {index!r}: filter field {path!r} is listed twice")
        if path == covered:
            raise SchemaError(f"index {index!r}: {path!r} is the indexed field;"
                              " it cannot also be a filter field")
        seen.append(path)
    return tuple(seen)


@dataclass(frozen=True)
class SearchIndexDefinition:
    """A full-text index over one string field, with equality filter fields."""

    name: str
    search_field: str
    filter_fields: tuple[str, ...]

    def terms(self, doc: dict[str, Any]) -> list[str]:
        """The document's terms in order; none if the field is absent or not a string."""
        text = get_field(doc, self.search_field)
        return tokenize(text) if isinstance(text, str) else []

    def filter_values(self, doc: dict[str, Any]) -> list[Value | Missing]:
        return [get_field(doc, path) for path in self.filter_fields]

    def filter_tokens(self, doc: dict[str, Any]) -> list[str]:
        return [filter_token(i, value) for i, value in enumerate(self.filter_values(doc))]

    def describe(self) -> list[str]:
        """What the stored data depends on (a change means a rebuild)."""
        return ["search", self.search_field, *self.filter_fields]


@dataclass(frozen=True)
class VectorIndexDefinition:
    """A vector index over one field holding a list of `dimensions` numbers."""

    name: str
    vector_field: str
    dimensions: int
    filter_fields: tuple[str, ...]

    def vector(self, doc: dict[str, Any]) -> list[float] | None:
        """The document's vector, or None if absent or not a list of the right length."""
        value = get_field(doc, self.vector_field)
        if not isinstance(value, list) or len(value) != self.dimensions:
            return None
        if all(type(x) is float for x in value):  # the usual case, checked cheaply
            return cast(list[float], value)
        numbers = [x for x in value if isinstance(x, float | int) and not isinstance(x, bool)]
        return [float(x) for x in numbers] if len(numbers) == len(value) else None

    def filter_values(self, doc: dict[str, Any]) -> list[Value | Missing]:
        return [get_field(doc, path) for path in self.filter_fields]

    def describe(self) -> list[str]:
        return ["vector", self.vector_field, str(self.dimensions), *self.filter_fields]


def make_search_index(name: str, search_field: Any, filter_fields: Any) -> SearchIndexDefinition:
    field = _check_path(name, "search_field", search_field)
    return SearchIndexDefinition(name, field, check_filter_fields(name, filter_fields, field))


def make_vector_index(name: str, vector_field: Any, dimensions: Any,
                      filter_fields: Any) -> VectorIndexDefinition:
    field = _check_path(name, "vector_field", vector_field)
    if (not isinstance(dimensions, int) or isinstance(dimensions, bool)
            or not MIN_DIMENSIONS <= dimensions <= MAX_DIMENSIONS):
        raise SchemaError(f"index {name!r}: dimensions must be an integer from {MIN_DIMENSIONS}"
                          f" to {MAX_DIMENSIONS}, got {dimensions!r}")
    return VectorIndexDefinition(name, field, dimensions,
                                 check_filter_fields(name, filter_fields, field))
