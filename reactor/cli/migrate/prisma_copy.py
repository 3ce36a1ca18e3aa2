"""`reactor migrate data`: every row of a Prisma app's PostgreSQL database into Reactor.

Rows are read table by table in copy order (referenced tables first) from one
REPEATABLE READ snapshot, and written in batches, one transaction each: the
documents and their `_migration_ids` entries commit together. A rerun (after a
crash, or to pick up rows changed since) skips rows already in, replaces
documents whose row changed, and adds the rest. References inside a cycle are
written in a second pass, once every table has its documents. The transactions
themselves run wherever the `Sink` sends them (migrate/sinks.py): in this process,
or in a running server.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from reactor.cli.migrate.prisma_plan import Column, Plan
from reactor.cli.migrate.prisma_targets import Target, convert, row_key
from reactor.cli.migrate.sinks import Sink
from reactor.errors import LimitExceededError, ReactorError
from reactor.runtime.migration_batches import MigrationRowError, RowWrite
from reactor.runtime.system import MIGRATION_IDS

Progress = Callable[[str], None]
PROGRESS_BATCHES = 10
__all__ = ["Copier", "CopyReport", "MigrationRowError", "MigrationSourceError"]


class MigrationSourceError(ReactorError):
    code = "MigrationSourceFailed"


@dataclass(slots=True)
class TableReport:
    model: str
    table: str
    source_rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # Copied before, deleted in Reactor since: left deleted.
    gone: int = 0
    documents: int = 0
    references_checked: int = 0
    references_broken: int = 0

    @property
    def ok(self) -> bool:
        return (self.documents + self.gone >= self.source_rows
                and self.references_broken == 0)


@dataclass(slots=True)
class CopyReport:
    tables: list[TableReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    def lines(self) -> list[str]:
        header = (f"{'model':<24} {'table':<24} {'rows':>8} {'new':>8} {'changed':>8}"
                  f" {'gone':>6} {'docs':>8} {'refs':>8} {'broken':>6}")
        out = [header]
        for t in self.tables:
            out.append(f"{t.model:<24} {t.table:<24} {t.source_rows:>8} {t.inserted:>8}"
                       f" {t.updated:>8} {t.gone:>6} {t.documents:>8} {t.references_checked:>8}"
                       f" {t.references_broken:>6}")
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        verdict = "verified" if self.ok else "NOT verified"
        out.append(f"{self.rows} rows in {self.seconds:.1f} s ({rate:,.0f} rows/s): {verdict}")
        return out


class _Ids:
    """The mapping table in memory: (model, key) -> document id, filled as the copy goes."""

    def __init__(self) -> None:
        self.ids: dict[tuple[str, str], str] = {}

    def get(self, model: str, key: str) -> str | None:
        return self.ids.get((model, key))


class Copier:
    def __init__(self, sink: Sink, connection: asyncpg.Connection,
                 plan: Plan, targets: list[Target], *, batch: int = 500,
                 progress: Progress = lambda line: None) -> None:
        self.sink = sink
        self.connection = connection
        self.plan = plan
        self.targets = targets
        self.batch = batch
        self.progress = progress
        self.ids = _Ids()
        self.enum_names = {name: {e.db_value: e.name for e in enum.values}
                           for name, enum in plan.schema.enums.items()}
        self.report = CopyReport()

    async def run(self) -> CopyReport:
        started = time.monotonic()
        await self._load_ids()
        for target in self.targets:
            self.report.tables.append(await self._copy_table(target))
        for target in self.targets:
            deferred = [c for c in target.plan.columns if c.deferred]
            if deferred:
                await self._patch_deferred(target, deferred)
        self.report.seconds = time.monotonic() - started
        await self._verify()
        return self.report

    async def _load_ids(self) -> None:
        """Read `_migration_ids` page by page, in the order its entries were written."""
        last = -1.0
        while True:
            page = await self.sink.read_page(MIGRATION_IDS, last, 5000)
            if not page:
                return
            for entry in page:
                self.ids.ids[(entry["source"], entry["key"])] = entry["docId"]
            last = page[-1]["_creationTime"]

    def _select(self, target: Target, columns: list[Column]) -> str:
        model = target.plan.model
        keys = [model.field(name) for name in target.plan.key_columns]
        key_columns = [k.column for k in keys if k is not None]
        wanted = [*key_columns, *(c.column for c in columns)]
        order = [target.plan.created_column] if target.plan.created_column else []
        order += key_columns or wanted
        return (f"SELECT {', '.join(self._expression(target, name) for name in wanted)}"
                f" FROM {_table_name(target)}"
                f" ORDER BY {', '.join(_quote(name) for name in order)}")

    def _expression(self, target: Target, column_name: str) -> str:
        """Enum columns are read as text, so no type needs registering."""
        model = target.plan.model
        prisma_field = next((f for f in model.fields if f.column == column_name), None)
        if prisma_field is not None and prisma_field.type in self.plan.schema.enums:
            return f"{_quote(column_name)}::{'text[]' if prisma_field.is_list else 'text'}"
        return _quote(column_name)

    @staticmethod
    def _split(target: Target, row: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        """A row as (its key for the mapping table, its columns' values)."""
        count = len(target.plan.key_columns)
        if count:
            return row_key(list(row[:count])), row[count:]
        return row_key(list(row)), row

    async def _rows(self, target: Target, columns: list[Column]) -> AsyncIterator[
            list[tuple[Any, ...]]]:
        """The table's rows, a batch at a time, through a server-side cursor."""
        query = self._select(target, columns)
        try:
            cursor = await self.connection.cursor(query)
            while rows := await cursor.fetch(self.batch):
                yield [tuple(row) for row in rows]
        except asyncpg.PostgresError as error:
            raise MigrationSourceError(f"reading {target.plan.model.db_table}: {error}"
                                       ) from None

    async def _copy_table(self, target: Target) -> TableReport:
        model = target.plan.model.name
        report = TableReport(model, target.table)
        total = int(await self.connection.fetchval(f"SELECT count(*) FROM {_table_name(target)}"))
        report.source_rows = total
        done = quiet_batches = 0
        last_shown = time.monotonic()
        async for rows in self._rows(target, target.plan.columns):
            await self._write_batch(target, [self._split(target, r) for r in rows], report)
            done += len(rows)
            quiet_batches += 1
            # A line a second, or every PROGRESS_BATCHES batches if that comes first.
            if (time.monotonic() - last_shown > 1 or quiet_batches >= PROGRESS_BATCHES
                    or done == total):
                self.progress(f"{model} -> {target.table}: {done}/{total}")
                last_shown, quiet_batches = time.monotonic(), 0
        if total == 0:
            self.progress(f"{model} -> {target.table}: 0/0")
        return report

    def _document(self, target: Target, values: tuple[Any, ...] | list[Any],
                  skip_deferred: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for column, value in zip(target.plan.columns, values, strict=True):
            if (value is None and not column.field.is_list) or (skip_deferred
                                                                and column.deferred):
                continue
            if column.ref_model is not None:
                doc[column.target] = self._reference(target, column, value)
            else:
                doc[column.target] = convert(column, value, target.validators[column.target],
                                             self.enum_names)
        return doc

    def _reference(self, target: Target, column: Column, value: Any) -> Any:
        assert column.ref_model is not None
        if isinstance(value, list):
            return [self._reference(target, column, item) for item in value]
        found = self.ids.get(column.ref_model, row_key([value]))
        if found is None:
            raise MigrationRowError(f"{target.plan.model.name}.{column.field.name} = {value!r}:"
                                    f" no {column.ref_model} row has that id (was it copied?"
                                    " a foreign key without a constraint can dangle)")
        return found

    async def _write_batch(self, target: Target, rows: list[tuple[str, Any]],
                           report: TableReport) -> None:
        """One transaction for `rows`; a batch too big for one transaction (large JSON
        or text columns) is written as two halves, down to single rows."""
        try:
            outcomes, created = await self._try_batch(target, rows)
        except LimitExceededError:
            if len(rows) == 1:
                raise
            half = len(rows) // 2
            await self._write_batch(target, rows[:half], report)
            await self._write_batch(target, rows[half:], report)
            return
        for key, doc_id in created:
            self.ids.ids[(target.plan.model.name, key)] = doc_id
        report.inserted += len(created)
        report.updated += outcomes["updated"]
        report.unchanged += outcomes["unchanged"]
        report.gone += outcomes["gone"]

    async def _try_batch(self, target: Target, rows: list[tuple[str, Any]]
                         ) -> tuple[Counter[str], list[tuple[str, str]]]:
        model = target.plan.model.name
        writes = []
        for key, values in rows:
            try:
                doc = _canonical(target, self._document(target, values))
            except ReactorError as error:
                raise MigrationRowError(f"{model} row {key} -> {target.table}:"
                                        f" {error.message}") from None
            writes.append(RowWrite(key, doc, self.ids.get(model, key)))
        deferred = [c.target for c in target.plan.columns if c.deferred]
        outcome = await self.sink.write_rows(model, target.table, writes, deferred)
        return outcome.counts, outcome.created

    async def _patch_batch(self, target: Target, deferred: list[Column],
                           rows: list[tuple[Any, ...]]) -> None:
        """Write the deferred references of `rows` (in halves if too big for one go)."""
        patches = []
        for row in rows:
            key, values = self._split(target, row)
            doc_id = self.ids.get(target.plan.model.name, key)
            assert doc_id is not None
            full = self._document(target, values, skip_deferred=False)
            patches.append((doc_id, {c.target: full[c.target] for c in deferred
                                     if c.target in full}))
        try:
            await self.sink.patch_rows(patches)
        except LimitExceededError:
            if len(rows) == 1:
                raise
            await self._patch_batch(target, deferred, rows[: len(rows) // 2])
            await self._patch_batch(target, deferred, rows[len(rows) // 2:])

    async def _patch_deferred(self, target: Target, deferred: list[Column]) -> None:
        model = target.plan.model.name
        async for rows in self._rows(target, target.plan.columns):
            await self._patch_batch(target, deferred, rows)
        self.progress(f"{model} -> {target.table}: references patched")

    async def _verify(self) -> None:
        """Count the documents each table's rows became and check every reference, by
        scanning each table once (page by page) rather than a read per document."""
        existing: dict[str, set[str]] = {}
        references: list[tuple[TableReport, str, Any]] = []
        for target, report in zip(self.targets, self.report.tables, strict=True):
            model = target.plan.model.name
            mapped = {doc_id for (source, _), doc_id in self.ids.ids.items()
                      if source == model}
            refs = [c for c in target.plan.columns if c.ref_model is not None]
            ids = existing.setdefault(target.table, set())
            async for doc in self._scan(target.table):
                ids.add(doc["_id"])
                if doc["_id"] not in mapped:
                    continue
                report.documents += 1
                for column in refs:
                    value = doc.get(column.target)
                    for ref in value if isinstance(value, list) else [value]:
                        if ref is not None:
                            references.append((report, self._table_of(column), ref))
        for report, table, ref in references:
            report.references_checked += 1
            if ref not in existing.get(table, set()):
                report.references_broken += 1

    def _table_of(self, column: Column) -> str:
        return next(t.table for t in self.targets if t.plan.model.name == column.ref_model)

    async def _scan(self, table: str) -> AsyncIterator[dict[str, Any]]:
        """Every document of `table`, in pages; a page that reads more than a transaction
        may (large documents) is read again at half the size."""
        last, size = -1.0, 5000
        while True:
            try:
                page = await self.sink.read_page(table, last, size)
            except LimitExceededError:
                if size == 1:
                    raise
                size = max(1, size // 2)
                continue
            for doc in page:
                yield doc
            if not page:
                return
            last = page[-1]["_creationTime"]


def _table_name(target: Target) -> str:
    """The model's table, schema-qualified when the model says `@@schema`."""
    model = target.plan.model
    table = _quote(model.db_table)
    return f"{_quote(model.db_schema)}.{table}" if model.db_schema else table


def _quote(name: str) -> str:
    """A PostgreSQL identifier, quoted (Prisma's names keep their case)."""
    return '"' + name.replace('"', '""') + '"'


def _canonical(target: Target, doc: dict[str, Any]) -> dict[str, Any]:
    """The document as it would be stored (numbers made floats, and so on)."""
    validated: dict[str, Any] = {}
    for name, value in doc.items():
        validator = target.validators.get(name)
        validated[name] = (value if validator is None
                           else validator.validate(value, f"doc.{name}"))
    return validated
