"""`define_table` and `define_schema`: table validators, their indexes, and the whole schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

from reactor.errors import InvalidValueError, SchemaError
from reactor.schema.indexes import (
    BUILTIN_INDEXES,
    CREATION_TIME_FIELD,
    ID_FIELD,
    MAX_INDEXES_PER_TABLE,
    IndexDefinition,
    check_index_fields,
    check_index_name,
    get_field,
)
from reactor.schema.search_indexes import (
    MAX_SEARCH_INDEXES_PER_TABLE,
    MAX_VECTOR_INDEXES_PER_TABLE,
    SearchIndexDefinition,
    VectorIndexDefinition,
    make_search_index,
    make_vector_index,
)
from reactor.values import (
    AnyValidator,
    ObjectValidator,
    OptionalValidator,
    UnionValidator,
    Validator,
    canonicalize,
    check_document,
    table_hash,
    v,
)
from reactor.values.model import IDENTIFIER_RE, type_name

MAX_TABLE_NAME_CHARS: Final = 64
SYSTEM_FIELDS: Final = (ID_FIELD, CREATION_TIME_FIELD)


class TableDefinition:
    """A table: the validator of its documents (None: schemaless) and its indexes."""

    def __init__(self, validator: Validator | None, name: str | None = None) -> None:
        self.validator = validator
        self.name = name
        self.indexes: dict[str, IndexDefinition] = {i.name: i for i in BUILTIN_INDEXES}
        self.search_indexes: dict[str, SearchIndexDefinition] = {}
        self.vector_indexes: dict[str, VectorIndexDefinition] = {}

    def _index_names(self) -> list[str]:
        return [*self.indexes, *self.search_indexes, *self.vector_indexes]

    def index(self, name: str, fields: list[str]) -> TableDefinition:
        """Add an index on `fields` (dotted paths reach into nested objects); chainable."""
        check_index_name(name, self._index_names())
        checked = check_index_fields(name, fields)
        if len(self.indexes) - len(BUILTIN_INDEXES) >= MAX_INDEXES_PER_TABLE:
            raise SchemaError(
                f"index {name!r}: a table has at most {MAX_INDEXES_PER_TABLE} indexes"
            )
        if isinstance(self.validator, ObjectValidator):
            for path in checked:
                _check_field_exists(self.validator, name, path)
        self.indexes[name] = IndexDefinition(name, checked)
        return self

    def search_index(self, name: str, *, search_field: str,
                     filter_fields: list[str] | None = None) -> TableDefinition:
        """Add a full-text index over the string field `search_field`; chainable.

        `filter_fields` (at most 16) can be matched for equality in a search.
        """
        check_index_name(name, self._index_names())
        if len(self.search_indexes) >= MAX_SEARCH_INDEXES_PER_TABLE:
            raise SchemaError(f"search index {name!r}: a table has at most"
                              f" {MAX_SEARCH_INDEXES_PER_TABLE} search indexes")
        index = make_search_index(name, search_field, filter_fields)
        self._check_fields(name, (index.search_field, *index.filter_fields))
        self.search_indexes[name] = index
        return self

    def vector_index(self, name: str, *, vector_field: str, dimensions: int,
                     filter_fields: list[str] | None = None) -> TableDefinition:
        """Add a vector index over `vector_field` (lists of `dimensions` numbers); chainable."""
        check_index_name(name, self._index_names())
        if len(self.vector_indexes) >= MAX_VECTOR_INDEXES_PER_TABLE:
            raise SchemaError(f"vector index {name!r}: a table has at most"
                              f" {MAX_VECTOR_INDEXES_PER_TABLE} vector indexes")
        index = make_vector_index(name, vector_field, dimensions, filter_fields)
        self._check_fields(name, (index.vector_field, *index.filter_fields))
        self.vector_indexes[name] = index
        return self

    def _check_fields(self, name: str, paths: tuple[str, ...]) -> None:
        if isinstance(self.validator, ObjectValidator):
            for path in paths:
                _check_field_exists(self.validator, name, path)

    def validate_document(self, doc: Any, path: str = "document") -> dict[str, Any]:
        """Validate a document's user fields; system fields pass through unvalidated.

        Returns the canonical document and enforces the document limits.
        """
        return self.validate_sized(doc, path)[0]

    def validate_sized(self, doc: Any, path: str = "document") -> tuple[dict[str, Any], int]:
        """`validate_document`, and the document's size that its limit check measured
        (a write counts it too: one walk over the document instead of two)."""
        if not isinstance(doc, dict):
            raise InvalidValueError(
                f"{path}: a document must be an object, got {type_name(doc)}"
            )
        user = {key: value for key, value in doc.items() if key not in SYSTEM_FIELDS}
        validator = self.validator
        checked = canonicalize(user, path) if validator is None else validator.validate(user, path)
        result = {key: doc[key] for key in SYSTEM_FIELDS if key in doc}
        result.update(cast(dict[str, Any], checked))
        for index in self.vector_indexes.values():
            vector = get_field(result, index.vector_field)
            if isinstance(vector, list) and len(vector) != index.dimensions:
                raise InvalidValueError(
                    f"{path}.{index.vector_field}: vector index {index.name!r} expects"
                    f" {index.dimensions} numbers, got {len(vector)}")
        return result, check_document(result, path)

    def __repr__(self) -> str:
        shape = "schemaless" if self.validator is None else self.validator.describe()
        return f"<TableDefinition {self.name or '?'} {shape} indexes={list(self.indexes)}>"


def _check_field_exists(validator: ObjectValidator, index: str, path: str) -> None:
    """Follow a dotted path through nested object validators as far as they are objects."""
    current: Validator = validator
    for part in path.split("."):
        if isinstance(current, OptionalValidator):
            current = current.inner
        if not isinstance(current, ObjectValidator):
            return
        if part not in current.fields:
            known = ", ".join(current.fields) or "none"
            raise SchemaError(
                f"index {index!r}: field {path!r} is not in the table's validator "
                f"(fields: {known})"
            )
        current = current.fields[part]


def _document_validator(fields: Any) -> Validator:
    if isinstance(fields, Mapping):
        for name in fields:
            if not isinstance(name, str) or not IDENTIFIER_RE.fullmatch(name) or len(name) > 64:
                raise SchemaError(
                    f"define_table(): field name {name!r} must match [A-Za-z_][A-Za-z0-9_]* "
                    "and be at most 64 characters"
                )
            if name.startswith("_"):
                raise SchemaError(
                    f"define_table(): field name {name!r} is reserved (names starting with '_')"
                )
        return v.object(fields)
    members = fields.members if isinstance(fields, UnionValidator) else [fields]
    if not all(isinstance(m, (ObjectValidator, AnyValidator)) for m in members):
        described = fields.describe() if isinstance(fields, Validator) else repr(fields)
        raise SchemaError(
            "define_table(): expected a dict of field validators, v.object(...), a union of "
            f"objects or v.any(), got {described}"
        )
    validator: Validator = fields
    return validator


def define_table(fields: Mapping[str, Validator] | Validator) -> TableDefinition:
    """A table whose documents match `fields` (a dict of validators or a validator)."""
    return TableDefinition(_document_validator(fields))


def schemaless_table(name: str) -> TableDefinition:
    """A table the schema does not name: any document, only the built-in indexes."""
    return TableDefinition(None, name)


class SchemaDefinition:
    """All declared tables; `schema_validation=False` stores documents without checking."""

    def __init__(self, tables: dict[str, TableDefinition], schema_validation: bool) -> None:
        self.tables = tables
        self.schema_validation = schema_validation

    def table(self, name: str) -> TableDefinition | None:
        return self.tables.get(name)

    def validate_document(self, table: str, doc: Any, path: str = "document") -> dict[str, Any]:
        """Validate a document for `table`, honouring `schema_validation` and schemaless tables."""
        definition = self.tables.get(table) if self.schema_validation else None
        return (definition or schemaless_table(table)).validate_document(doc, path)

    def __repr__(self) -> str:
        return f"<SchemaDefinition tables={list(self.tables)}>"


def check_table_name(name: Any) -> str:
    """Table names: identifiers of at most 64 characters, not starting with `_` (system)."""
    if (
        not isinstance(name, str)
        or not IDENTIFIER_RE.fullmatch(name)
        or len(name) > MAX_TABLE_NAME_CHARS
    ):
        raise SchemaError(
            f"table {name!r}: the name must match [A-Za-z_][A-Za-z0-9_]* and be at most "
            f"{MAX_TABLE_NAME_CHARS} characters"
        )
    if name.startswith("_"):
        raise SchemaError(f"table {name!r}: names starting with '_' are reserved for system tables")
    return name


def define_schema(
    tables: Mapping[str, TableDefinition], *, schema_validation: bool = True
) -> SchemaDefinition:
    """The app's schema: named tables, each from `define_table`."""
    if not isinstance(tables, Mapping):
        raise SchemaError(f"define_schema(): expected a dict of tables, got {tables!r}")
    hashes: dict[bytes, str] = {}
    for name, table in tables.items():
        check_table_name(name)
        if not isinstance(table, TableDefinition):
            raise SchemaError(f"table {name!r}: expected define_table(...), got {table!r}")
        if table.name is not None and table.name != name:
            raise SchemaError(
                f"table {name!r}: this definition is already table {table.name!r}; "
                "call define_table() once per table"
            )
        other = hashes.setdefault(table_hash(name), name)
        if other != name:
            raise SchemaError(
                f"tables {other!r} and {name!r} have the same id hash; rename one of them"
            )
        table.name = name
    return SchemaDefinition(dict(tables), schema_validation)
