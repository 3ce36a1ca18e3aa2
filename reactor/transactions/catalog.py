"""The catalog: which tables exist, their definitions, and which table an id belongs to."""

from __future__ import annotations

import re

from reactor.errors import NotFoundError, SchemaError
from reactor.schema import SchemaDefinition, TableDefinition, schemaless_table
from reactor.values import id_table_hash, table_hash

TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
SYSTEM_TABLE_NAME = re.compile(r"^_[A-Za-z][A-Za-z0-9_]{0,62}$")


class Catalog:
    """Declared tables come from the schema; schemaless tables appear on first insert."""

    def __init__(self, schema: SchemaDefinition | None, known_tables: list[str] | None = None,
                 system_tables: dict[str, TableDefinition] | None = None) -> None:
        self.schema = schema
        self.system_tables = dict(system_tables or {})
        self._tables: dict[str, TableDefinition] = {}
        self._by_hash: dict[bytes, str] = {}
        for name, table in self.system_tables.items():
            self._register(name, table)
        if schema is not None:
            for name, table in schema.tables.items():
                self._register(name, table)
        for name in known_tables or ():
            if name not in self._tables:
                self._register(name, schemaless_table(name))

    def _register(self, name: str, table: TableDefinition) -> None:
        self._tables[name] = table
        self._by_hash[table_hash(name)] = name

    @property
    def table_names(self) -> list[str]:
        return sorted(self._tables)

    @property
    def user_table_names(self) -> list[str]:
        return sorted(name for name in self._tables if name not in self.system_tables)

    def get(self, name: str) -> TableDefinition | None:
        return self._tables.get(name)

    def require(self, name: str, *, for_write: bool = False) -> TableDefinition:
        """The table's definition; schemaless tables are created by the first write."""
        if not isinstance(name, str):
            raise SchemaError(f"table name must be a string, got {type(name).__name__}",
                              code="InvalidTableName")
        table = self._tables.get(name)
        if table is not None:
            return table
        if not TABLE_NAME.match(name):
            raise SchemaError(
                f'invalid table name "{name}": expected a letter then letters, digits or _'
                " (at most 64 characters; names starting with _ are reserved)",
                code="InvalidTableName")
        if self.schema is not None and self.schema.schema_validation:
            raise NotFoundError(
                f'table "{name}" is not declared in schema.py'
                f" (declared: {', '.join(self.user_table_names) or 'none'})",
                code="TableNotFound")
        table = schemaless_table(name)
        if for_write:
            self._check_hash_free(name)
            self._register(name, table)
        return table

    def _check_hash_free(self, name: str) -> None:
        other = self._by_hash.get(table_hash(name))
        if other is not None and other != name:
            raise SchemaError(f'table "{name}" collides with "{other}" in document ids;'
                              " choose another name", code="InvalidTableName")

    def table_of_id(self, doc_id: object) -> str | None:
        """The table an id string belongs to, or None if it is not a valid id here."""
        if not isinstance(doc_id, str):
            return None
        digest = id_table_hash(doc_id)
        return None if digest is None else self._by_hash.get(digest)
