"""System functions of the Data page: tables with counts, pages of documents, writes."""

from __future__ import annotations

import re
from typing import Any

from reactor.errors import ReactorError
from reactor.runtime.context import MutationCtx, QueryCtx
from reactor.runtime.functions import FunctionDefinition, internal_mutation, internal_query
from reactor.schema import IndexDefinition, get_field
from reactor.transactions import IndexRange
from reactor.values import MISSING, v

# `doc.title: expected ...` -> the field the dashboard marks (`title`).
_FIELD_ERROR = re.compile(r"^doc\.([A-Za-z_$][\w$]*)[^:]*: (.*)$", re.S)
_SYSTEM_FIELDS = ("_id", "_creationTime")

_filter = v.object({"field": v.string(), "value": v.any()})


@internal_query(args={})
async def tables(ctx: QueryCtx) -> list[dict[str, Any]]:
    """Every app table with its document count (live: re-runs on any write to it)."""
    txn = ctx.transaction
    schema = txn.catalog.schema
    return [{"name": name, "count": await txn.count(name),
             "declared": schema is not None and name in schema.tables}
            for name in txn.catalog.user_table_names]


@internal_query(args={"table": v.string(), "paginationOpts": v.any(),
                      "index": v.optional(v.string()), "order": v.optional(v.string()),
                      "filters": v.optional(v.array(_filter))})
async def documents(ctx: QueryCtx, table: str, paginationOpts: Any,
                    index: str | None = None, order: str | None = None,
                    filters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One page of `table` in the order of `index`; `filters` keep documents whose field
    equals the value, through the index where they match its leading fields."""
    wanted = {f["field"]: f.get("value") for f in filters or ()}
    query = ctx.db.query(table)
    if index:
        definition = ctx.transaction.catalog.require(table).indexes.get(index)
        prefix = _index_prefix(definition, wanted)
        query = query.with_index(index, lambda q: _eq_all(q, prefix))
        for name in prefix:
            wanted.pop(name)
    if wanted:
        query = query.filter(lambda doc: all(_equals(get_field(doc, name), value)
                                             for name, value in wanted.items()))
    page: dict[str, Any] = await query.order("asc" if order == "asc" else "desc").paginate(
        paginationOpts)
    return page


def _index_prefix(index: IndexDefinition | None, wanted: dict[str, Any]) -> dict[str, Any]:
    """The filters on the index's leading fields, in its order (an exact range)."""
    prefix: dict[str, Any] = {}
    for name in index.fields if index is not None else ():
        if name not in wanted:
            break
        prefix[name] = wanted[name]
    return prefix


def _eq_all(q: IndexRange, prefix: dict[str, Any]) -> IndexRange:
    for name, value in prefix.items():
        q = q.eq(name, value)
    return q


def _equals(found: Any, value: Any) -> bool:
    """Equal values; `True` is not `1` here, as in the value order."""
    return found is not MISSING and found == value \
        and isinstance(found, bool) == isinstance(value, bool)


def _field_errors(error: ReactorError) -> dict[str, Any]:
    """A validation failure as `{"ok": False, "errors": [{field, message}]}` for the form."""
    match = _FIELD_ERROR.match(error.message)
    field = match.group(1) if match else None
    return {"ok": False, "errors": [{"field": field, "message": error.message,
                                     "code": error.code}]}


def _not_an_object() -> dict[str, Any]:
    return {"ok": False, "errors": [{"field": None, "code": "InvalidValue",
                                     "message": "a document must be a JSON object"}]}


def _without_system_fields(document: Any) -> dict[str, Any]:
    return {k: value for k, value in document.items() if k not in _SYSTEM_FIELDS}


@internal_mutation(args={"table": v.string(), "document": v.any()})
async def insert(ctx: MutationCtx, table: str, document: Any) -> dict[str, Any]:
    """Insert a document; schema errors come back as data (the form marks the field)."""
    if not isinstance(document, dict):
        return _not_an_object()
    try:
        doc_id = await ctx.db.insert(table, _without_system_fields(document))
    except ReactorError as error:
        return _field_errors(error)
    return {"ok": True, "id": doc_id}


@internal_mutation(args={"id": v.string(), "document": v.any()})
async def replace(ctx: MutationCtx, id: str, document: Any) -> dict[str, Any]:
    """Replace a document's fields (its `_id` and `_creationTime` stay)."""
    if not isinstance(document, dict):
        return _not_an_object()
    try:
        await ctx.db.replace(id, _without_system_fields(document))
    except ReactorError as error:
        return _field_errors(error)
    return {"ok": True, "id": id}


@internal_mutation(args={"ids": v.array(v.string())})
async def remove(ctx: MutationCtx, ids: list[str]) -> int:
    """Delete documents by id; how many there were."""
    for doc_id in ids:
        await ctx.db.delete(doc_id)
    return len(ids)


FUNCTIONS: dict[str, FunctionDefinition] = {
    "tables": tables, "documents": documents, "insert": insert, "replace": replace,
    "remove": remove}
