"""Reading an import file: a snapshot zip, or one table as JSON lines, a JSON array or CSV.

Each table is a `TableSource` whose lines can be read again from the start (the
importer reads twice when ids must be mapped), one parsed line at a time.

A Reactor export written with Convex ids (its `_reactor/export.json` names the table
of each table number) is read with those ids turned back into the Reactor ids they
came from, so the importer sees Reactor's own snapshot and keeps the ids.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from reactor.errors import ReactorError
from reactor.runtime.snapshots.convex_ids import decode_convex_id, rewrite_strings
from reactor.schema.namespace import component_table
from reactor.values import id_from_random_bytes

Format = Literal["zip", "jsonl", "json", "csv"]
FORMATS: tuple[Format, ...] = ("zip", "jsonl", "json", "csv")
# As Convex: a JSON array is read whole, so it is capped.
MAX_JSON_ARRAY_BYTES = 8 * 1024 * 1024
STORAGE = "_storage"
_DOCUMENTS = re.compile(r"^(?:(.*)/)?([^/]+)/documents\.jsonl$")
_SCHEMA = re.compile(r"^(?:(.*)/)?([^/]+)/generated_schema\.jsonl$")
_BLOB = re.compile(r"^(?:(.*)/)?_storage/([^/.]+)(?:\.[^/]+)?$")
MARKER = "_reactor/export.json"
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


class ImportFileError(ReactorError):
    code = "ImportInvalid"


Line = tuple[int, Any]


@dataclass(slots=True)
class TableSource:
    """One table's documents: `lines()` yields (line number, parsed JSON) from the start.

    `lossless`: the lines use Convex's lossless export JSON (bare integers are
    int64); otherwise the wire form (every number a float64).
    """

    table: str
    where: str
    lines: Callable[[], Iterator[Line]]
    lossless: bool


@dataclass(slots=True)
class ParsedImport:
    tables: list[TableSource] = field(default_factory=list)
    storage: TableSource | None = None
    # Stored files' contents: the zip member of each, by its id in the snapshot.
    blobs: dict[str, str] = field(default_factory=dict)
    zip_path: Path | None = None
    skipped: list[str] = field(default_factory=list)


def detect_format(path: Path, given: str | None) -> Format:
    wanted = given if given is not None else path.suffix.lower().lstrip(".")
    for fmt in FORMATS:
        if wanted == fmt:
            return fmt
    if given is not None:
        raise ImportFileError(f"--format: expected one of {', '.join(FORMATS)}, got"
                              f" {given!r}")
    raise ImportFileError(f"{path}: cannot tell the format from the name; pass --format"
                          f" ({', '.join(FORMATS)})")


def parse_import(path: Path, fmt: Format, table: str | None) -> ParsedImport:
    """The tables (and stored files) in the import file at `path`."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file", code="ImportNotFound")
    if fmt == "zip":
        return _parse_zip(path, table)
    if table is None:
        raise ImportFileError(f"{path}: a {fmt} file holds one table: name it with --table T")
    reader = {"jsonl": _jsonl_file, "json": _json_array, "csv": _csv_file}[fmt]
    return ParsedImport([TableSource(table, str(path), lambda: reader(path), lossless=False)])


def _json_lines(handle: IO[bytes], where: str) -> Iterator[Line]:
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raise ImportFileError(f"{where} line 1: starts with a UTF-8 byte order mark;"
                                  " save the file without it")
        if not raw.strip():
            continue
        try:
            yield number, orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise ImportFileError(f"{where} line {number}: not valid JSON ({error})") from None


def _jsonl_file(path: Path) -> Iterator[Line]:
    with open(path, "rb") as handle:
        yield from _json_lines(handle, str(path))


def _json_array(path: Path) -> Iterator[Line]:
    size = path.stat().st_size
    if size > MAX_JSON_ARRAY_BYTES:
        raise ImportFileError(f"{path}: a JSON array import is limited to"
                              f" {MAX_JSON_ARRAY_BYTES} bytes ({size} given); use JSON lines")
    try:
        parsed = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise ImportFileError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(parsed, list):
        raise ImportFileError(f"{path}: expected a JSON array of documents")
    yield from enumerate(parsed, start=1)


def _csv_cell(text: str) -> Any:
    """A CSV cell: a number when it reads as one, else the string."""
    return float(text) if _NUMBER.match(text.strip()) else text


def _csv_file(path: Path) -> Iterator[Line]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows, None)
        if header is None:
            raise ImportFileError(f"{path}: the CSV file has no header row")
        names = [name.strip(" ") for name in header]
        for number, row in enumerate(rows, start=2):
            if len(row) != len(names):
                raise ImportFileError(f"{path} line {number}: {len(row)} fields, the header"
                                      f" has {len(names)}")
            yield number, {name: _csv_cell(cell) for name, cell in zip(names, row, strict=True)}


def _zip_lines(path: Path, member: str) -> Iterator[Line]:
    with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
        yield from _json_lines(handle, f"{path}: {member}")


def _is_uniform(path: Path, archive: zipfile.ZipFile, member: str) -> bool:
    with archive.open(member) as handle:
        first = handle.readline().strip()
    try:
        value = orjson.loads(first) if first else None
    except orjson.JSONDecodeError:
        raise ImportFileError(f"{path}: {member} line 1: not valid JSON") from None
    if value == "uniform":
        return True
    raise ImportFileError(f"{path}: {member} holds an inferred shape (written by an old Convex"
                          " export); export again with a current version, or remove the"
                          " generated_schema.jsonl files to read numbers as float64")


def _parse_zip(path: Path, only: str | None) -> ParsedImport:
    parsed = ParsedImport(zip_path=path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as error:
        raise ImportFileError(f"{path}: not a zip file ({error})") from None
    with archive:
        names = archive.namelist()
        back = _reactor_ids(path, archive) if MARKER in names else None
        uniform = {}
        for name in names:
            found = _SCHEMA.match(name)
            table = None if found is None else _stored_table(found.group(1), found.group(2))
            if found and table is not None:
                uniform[table] = _is_uniform(path, archive, name)
        for name in names:
            found = _DOCUMENTS.match(name)
            if found is None:
                blob = _BLOB.match(name)
                if blob is not None and blob.group(2) != "documents":
                    key = blob.group(2) if back is None else back.id(blob.group(2))
                    parsed.blobs[key] = name
                continue
            stored = _stored_table(found.group(1), found.group(2))
            if found.group(2) == "_tables":
                continue
            if stored is None:
                parsed.skipped.append(f"{name} (a nested component is not imported)")
                continue
            table = stored
            source = TableSource(table, f"{path}: {name}", _zip_reader(path, name, back),
                                 lossless=uniform.get(table, False))
            if table == STORAGE:
                parsed.storage = source
            elif table.startswith("_"):
                parsed.skipped.append(f"{name} (system table)")
            elif only is None or table == only:
                parsed.tables.append(source)
    if only is not None and not any(s.table == only for s in parsed.tables):
        raise ImportFileError(f"{path}: no table {only!r} in the snapshot")
    return parsed



def _stored_table(prefix: str | None, table: str) -> str | None:
    """The table a snapshot's `<prefix>/<table>/` folder fills: the app's at the top,
    an installed component's under `_components/<name>/` (stored as `<name>/<table>`;
    its system tables get a `_` name, so they are skipped); None for deeper nesting."""
    if not prefix:
        return table
    parts = prefix.split("/")
    if len(parts) != 2 or parts[0] != "_components" or not parts[1]:
        return None
    return f"_{parts[1]}{table}" if table.startswith("_") else component_table(parts[1], table)


class _ReactorIds:
    """Turns the Convex ids of a Reactor export back into the Reactor ids they encode."""

    def __init__(self, tables: dict[int, str]) -> None:
        self._tables = tables

    def id(self, value: str) -> str:
        decoded = decode_convex_id(value)
        table = None if decoded is None else self._tables.get(decoded[0])
        if decoded is None or table is None:
            return value
        return id_from_random_bytes(table, decoded[1])

    def value(self, value: Any) -> Any:
        return rewrite_strings(value, self.id)


def _reactor_ids(path: Path, archive: zipfile.ZipFile) -> _ReactorIds | None:
    try:
        marker = orjson.loads(archive.read(MARKER))
    except orjson.JSONDecodeError:
        raise ImportFileError(f"{path}: {MARKER} is not valid JSON") from None
    tables = marker.get("tables") if isinstance(marker, dict) else None
    if not isinstance(marker, dict) or marker.get("idFormat") != "convex":
        return None
    if not isinstance(tables, dict) or not all(
            isinstance(name, str) and number.isdigit() for number, name in tables.items()):
        raise ImportFileError(f"{path}: {MARKER}: expected \"tables\": an object of table"
                              " number -> table name")
    return _ReactorIds({int(number): name for number, name in tables.items()})


def _zip_reader(path: Path, member: str, back: _ReactorIds | None
                ) -> Callable[[], Iterator[Line]]:
    if back is None:
        return lambda: _zip_lines(path, member)
    return lambda: ((number, back.value(line)) for number, line in _zip_lines(path, member))
