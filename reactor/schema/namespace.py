"""Component tables: an installed component's tables live beside the app's under
`<component>/<table>` names, which no app table can have (app names are identifiers).

One database holds them all, so a call across the boundary stays one
transaction; the runtime maps a component's own table names to these and keeps
each side out of the other's tables (runtime/scope.py).
"""

from __future__ import annotations

import copy
from typing import Any

from reactor.errors import SchemaError
from reactor.schema.tables import SchemaDefinition, TableDefinition
from reactor.values import IdValidator, Validator, table_hash

SEPARATOR = "/"


def component_table(component: str, table: str) -> str:
    """The stored name of `component`'s table `table`."""
    return f"{component}{SEPARATOR}{table}"


def split_table(stored: str) -> tuple[str | None, str]:
    """`("limiter", "buckets")` for `"limiter/buckets"`, `(None, name)` for an app table."""
    component, separator, table = stored.rpartition(SEPARATOR)
    return (component, table) if separator else (None, stored)


def namespace_validator(validator: Any, component: str) -> Any:
    """A copy of `validator` whose `v.id(table)` name the component's own tables."""
    if not isinstance(validator, Validator):
        return validator
    renamed = copy.deepcopy(validator)
    _rename_ids(renamed, component, set())
    return renamed


def _rename_ids(node: Any, component: str, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, IdValidator):
        if not node.table.startswith("_"):
            node.table = component_table(component, node.table)
        return
    if isinstance(node, Validator):
        children: Any = vars(node).values()
    elif isinstance(node, dict):
        children = node.values()
    elif isinstance(node, (list, tuple)):
        children = node
    else:
        return
    for child in children:
        _rename_ids(child, component, seen)


def _namespaced_table(component: str, name: str, table: TableDefinition) -> TableDefinition:
    stored = component_table(component, name)
    renamed = TableDefinition(namespace_validator(table.validator, component), stored)
    renamed.indexes = dict(table.indexes)
    renamed.search_indexes = dict(table.search_indexes)
    renamed.vector_indexes = dict(table.vector_indexes)
    return renamed


def merge_schemas(app: SchemaDefinition | None,
                  installed: dict[str, SchemaDefinition | None]) -> SchemaDefinition | None:
    """The app's schema with every installed component's tables under its name.

    A component's tables are always checked against its schema; the app's
    `schema_validation` (or its having no schema) only concerns the app's tables.
    """
    if not any(schema is not None for schema in installed.values()):
        return app
    tables = dict(app.tables) if app is not None else {}
    hashes = {table_hash(name): name for name in tables}
    for component, schema in installed.items():
        for name, table in (schema.tables if schema is not None else {}).items():
            stored = component_table(component, name)
            other = hashes.setdefault(table_hash(stored), stored)
            if other != stored:
                raise SchemaError(f"component {component!r}: table {name!r} has the same id"
                                  f" hash as {other!r}; rename one of them")
            tables[stored] = _namespaced_table(component, name, table)
    return SchemaDefinition(tables, app.schema_validation if app is not None else False)
