"""`ctx.db` of queries and mutations: the app's tables, or an installed component's.

Each `ctx.db` reads and writes through its scope (scope.py): a component's
functions name their own tables as they declared them and cannot reach the
app's; the app's cannot reach a component's.
"""

from __future__ import annotations

from typing import Any, cast

from reactor.errors import NotFoundError, ReactorError
from reactor.runtime.scope import APP_SCOPE, Scope
from reactor.runtime.system.environment import ENVIRONMENT_VARIABLES
from reactor.runtime.system.inline_blobs import INLINE_BLOBS
from reactor.runtime.system.scheduled_functions import SCHEDULED_FUNCTIONS
from reactor.runtime.system.upload_tokens import UPLOAD_TOKENS
from reactor.transactions import QueryBuilder, ReadOnlyError, Transaction
from reactor.values import Id, is_id_for


class SystemTableError(ReactorError):
    code = "SystemTable"


# System tables that app code cannot read through ctx.db.system.
_PRIVATE_TABLES = (ENVIRONMENT_VARIABLES, UPLOAD_TOKENS, INLINE_BLOBS)


def _user_table(name: object) -> str:
    if isinstance(name, str) and name.startswith("_"):
        raise SystemTableError(
            f'table "{name}" is a system table: read it with ctx.db.system.query("{name}")')
    return name  # type: ignore[return-value]


def _job_owner(job: dict[str, Any]) -> str | None:
    """The component whose function a scheduled job runs (None: the app's)."""
    name = job.get("name", "")
    return name[1:].partition("/")[0] if isinstance(name, str) and name[:1] == "@" else None


class SystemReader:
    """Read-only access to system tables such as `_scheduled_functions`."""

    def __init__(self, txn: Transaction, scope: Scope = APP_SCOPE) -> None:
        self._txn = txn
        self._scope = scope

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        """The system document with this id (a scheduled job, a stored file), or None;
        an id of an app table is an error, as in Convex."""
        table = self._txn.catalog.table_of_id(doc_id)
        if table is not None and not table.startswith("_"):
            raise SystemTableError(f'ctx.db.system.get: {doc_id!r} is an id of the app table'
                                   f' "{table}", not of a system table: use ctx.db.get')
        if table is None or table in _PRIVATE_TABLES:
            return None
        document = await self._txn.get(doc_id)
        if document is not None and table == SCHEDULED_FUNCTIONS \
                and not self._scope.sees_everything \
                and _job_owner(document) != self._scope.component:
            return None
        return document

    def query(self, table: str) -> QueryBuilder:
        """A query over a system table, e.g. `ctx.db.system.query("_scheduled_functions")`
        (a component sees its own jobs, the app its own)."""
        if table == ENVIRONMENT_VARIABLES:
            raise SystemTableError("read environment variables with ctx.env.get(name)")
        if not (isinstance(table, str) and table in self._txn.catalog.system_tables) \
                or table in _PRIVATE_TABLES:
            raise NotFoundError(f"no system table {table!r}"
                                f" (system tables: {', '.join(self._txn.catalog.system_tables)})",
                                code="TableNotFound")
        builder = QueryBuilder(self._txn, table)
        if table == SCHEDULED_FUNCTIONS and not self._scope.sees_everything:
            owner = self._scope.component
            builder = builder.filter(lambda job: _job_owner(job) == owner)
        return builder


class DatabaseReader:
    """`ctx.db` in a query."""

    def __init__(self, txn: Transaction, scope: Scope = APP_SCOPE) -> None:
        self._txn = txn
        self._scope = scope
        self.system = SystemReader(txn, scope)

    def _table(self, name: object, operation: str) -> str:
        table = _user_table(name)
        return self._scope.table(table, f"ctx.db.{operation}",
                                 not isinstance(table, str) or self._txn.catalog.get(table)
                                 is not None)

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        """The document with this id, or None if there is none (the query then depends
        on that id: it re-runs when such a document appears)."""
        table = self._txn.catalog.table_of_id(doc_id)
        if table is not None and table.startswith("_"):
            raise SystemTableError("ctx.db.get: that id belongs to a system table;"
                                   " use ctx.db.system.get")
        self._scope.check_stored(table, "ctx.db.get")
        return await self._txn.get(doc_id)

    def query(self, table: str) -> QueryBuilder:
        """A query over `table`: chain `with_index`, `order`, `filter`, then await a
        terminal (`take`, `first`, `unique`, `collect`, `paginate`) or `async for`."""
        return QueryBuilder(self._txn, self._table(table, "query"))

    def normalize_id(self, table: str, doc_id: object) -> str | None:
        """`doc_id` if it is a well-formed id of `table`, else None."""
        stored = self._table(table, "normalize_id")
        if isinstance(doc_id, str) and is_id_for(stored, doc_id):
            return doc_id
        return None

    # Present so that a write in a query fails with ReadOnly, not AttributeError.
    async def insert(self, table: str, document: dict[str, Any]) -> Id[Any]:
        """Not in queries (they are read-only): fails with `ReadOnly`."""
        raise _read_only("insert")

    async def patch(self, doc_id: str, fields: dict[str, Any]) -> None:
        """Not in queries (they are read-only): fails with `ReadOnly`."""
        raise _read_only("patch")

    async def replace(self, doc_id: str, document: dict[str, Any]) -> None:
        """Not in queries (they are read-only): fails with `ReadOnly`."""
        raise _read_only("replace")

    async def delete(self, doc_id: str) -> None:
        """Not in queries (they are read-only): fails with `ReadOnly`."""
        raise _read_only("delete")


def _read_only(operation: str) -> ReadOnlyError:
    return ReadOnlyError(f"ctx.db.{operation} is not allowed in a query:"
                         " queries are read-only, use a mutation")


class DatabaseWriter(DatabaseReader):
    """`ctx.db` in a mutation."""

    async def insert(self, table: str, document: dict[str, Any]) -> Id[Any]:
        """Insert `document` into `table` and return its new `_id`.

        The document is checked against the table's schema now; `_id` and
        `_creationTime` are set by the system.
        """
        return cast(Id[Any], await self._txn.insert(self._table(table, "insert"), document))

    async def patch(self, doc_id: str, fields: dict[str, Any]) -> None:
        """Shallow-merge `fields` into the document: `None` stores null, `MISSING`
        removes the field. Fails with `NotFound` if there is no such document."""
        self._check_user_id(doc_id, "patch")
        await self._txn.patch(doc_id, fields)

    async def replace(self, doc_id: str, document: dict[str, Any]) -> None:
        """Replace the whole document (keeping `_id` and `_creationTime`)."""
        self._check_user_id(doc_id, "replace")
        await self._txn.replace(doc_id, document)

    async def delete(self, doc_id: str) -> None:
        """Delete the document. Fails with `NotFound` if there is no such document."""
        self._check_user_id(doc_id, "delete")
        await self._txn.delete(doc_id)

    def _check_user_id(self, doc_id: str, operation: str) -> None:
        table = self._txn.catalog.table_of_id(doc_id)
        if table is not None and table.startswith("_"):
            raise SystemTableError("system tables cannot be written by app code")
        self._scope.check_stored(table, f"ctx.db.{operation}")
