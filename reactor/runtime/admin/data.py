"""System functions of the Data page: tables with counts, pages of documents, writes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from reactor.errors import ReactorError
from reactor.runtime.context import MutationCtx, QueryCtx
from reactor.runtime.functions import FunctionDefinition, internal_mutation, internal_query
from reactor.schema import IndexDefinition, get_field
from reactor.transactions import IndexRange, QueryBuilder
from reactor.values import MISSING, v

# `doc.title: expected ...` -> the field the dashboard marks (`title`).
_FIELD_ERROR = re.compile(r"^doc\.([A-Za-z_$][\w$]*)[^:]*: (.*)$", re.S)
_SYSTEM_FIELDS = ("_id", "_creationTime")

# A filtered page reads at most this many documents (well under the transaction's limit
# of documents scanned), in chunks of SCAN_CHUNK.
SCAN_BUDGET = 4096
SCAN_CHUNK = 512

_filter = v.object({"field": v.string(), "value": v.any()})


@internal_query(args={"tick": v.optional(v.number())})
async def tables(ctx: QueryCtx, tick: float | None = None) -> list[dict[str, Any]]:
    """Every app table with its document count. Counts are not live (see
    `Transaction.count`): the dashboard asks again with a new `tick` every few seconds."""
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
    prefix: dict[str, Any] = {}
    if index:
        prefix = _index_prefix(ctx.transaction.catalog.require(table).indexes.get(index), wanted)
        for name in prefix:
            wanted.pop(name)

    def query() -> QueryBuilder:
        built = ctx.db.query(table)
        if index:
            built = built.with_index(index, lambda q: _eq_all(q, prefix))
        return built.order("asc" if order == "asc" else "desc")

    def matches(doc: dict[str, Any]) -> bool:
        return all(_equals(get_field(doc, name), value) for name, value in wanted.items())

    if not wanted or not isinstance(paginationOpts, dict) or paginationOpts.get("endCursor"):
        # No filter to check, or a page pinned to its end: the range bounds the reading.
        plain: dict[str, Any] = await (query().filter(matches) if wanted else query()).paginate(
            paginationOpts)
        return plain
    return await _scan_page(query, matches, paginationOpts)


async def _scan_page(query: Callable[[], QueryBuilder],
                     matches: Callable[[dict[str, Any]], bool],
                     options: dict[str, Any]) -> dict[str, Any]:
    """A page of documents passing a filter no index serves, read in chunks and stopped
    after SCAN_BUDGET documents: a rare value in a large table gives short (even empty)
    pages that go on from where the reading stopped, instead of one read past the
    transaction limits. `scanned` says how many documents the page read."""
    wanted = options.get("numItems")
    wanted = int(wanted) if isinstance(wanted, int | float) and wanted > 0 else 1
    cursor, found, scanned = options.get("cursor"), [], 0
    while True:
        chunk = await query().paginate({"numItems": SCAN_CHUNK, "cursor": cursor})
        found += [doc for doc in chunk["page"] if matches(doc)]
        scanned += len(chunk["page"])
        cursor = chunk["continueCursor"]
        if chunk["isDone"] or len(found) >= wanted or scanned >= SCAN_BUDGET:
            return {"page": found, "isDone": chunk["isDone"], "continueCursor": cursor,
                    "scanned": scanned}


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
