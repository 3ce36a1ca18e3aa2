"""The PostgreSQL layout: where Reactor keeps its tables (one schema of a shared database),
how it creates and versions them, and how driver failures become `StorageError`s."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from reactor.errors import StorageError

FORMAT_VERSION = 1

# A connection as the pool lends it.
Conn: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
DEFAULT_SCHEMA = "reactor"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# Text columns compare bytewise (COLLATE "C"), as SQLite's do: the prune walk's
# watermark comparison and its ORDER BY must agree whatever the database's locale.
# Keys are bytea, so index order is the bytes' order. The `*_by_ts` indexes make
# every commit's rows readable in ts order (pruning walks them; docs/architecture.md);
# `commit_log` has a row per commit still retained, written in the commit's statement,
# so whether a commit whose acknowledgement was lost happened can be looked up.
TABLES = """
CREATE TABLE IF NOT EXISTS storage_format (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commit_log (
    ts BIGINT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT COLLATE "C" NOT NULL,
    ts BIGINT NOT NULL,
    table_name TEXT NOT NULL,
    deleted BOOLEAN NOT NULL,
    value BYTEA,
    PRIMARY KEY (doc_id, ts)
);
CREATE INDEX IF NOT EXISTS documents_by_ts ON documents (ts, doc_id);
CREATE TABLE IF NOT EXISTS index_entries (
    index_id TEXT COLLATE "C" NOT NULL,
    key BYTEA NOT NULL,
    ts BIGINT NOT NULL,
    deleted BOOLEAN NOT NULL,
    doc_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (index_id, key, ts)
);
CREATE INDEX IF NOT EXISTS index_entries_by_ts ON index_entries (ts, index_id, key);
CREATE TABLE IF NOT EXISTS globals (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mutation_outcomes (
    session_id TEXT COLLATE "C" NOT NULL,
    request_id DOUBLE PRECISION NOT NULL,
    ts BIGINT NOT NULL,
    recorded_ms DOUBLE PRECISION NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (session_id, request_id)
);
CREATE INDEX IF NOT EXISTS mutation_outcomes_by_recorded ON mutation_outcomes (recorded_ms);
CREATE TABLE IF NOT EXISTS vector_entries (
    entry_id BIGSERIAL PRIMARY KEY,
    index_id TEXT COLLATE "C" NOT NULL,
    doc_id TEXT COLLATE "C" NOT NULL,
    ts BIGINT NOT NULL,
    end_ts BIGINT NOT NULL,
    vector BYTEA NOT NULL,
    filters TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vector_entries_current ON vector_entries (index_id, doc_id, end_ts);
CREATE INDEX IF NOT EXISTS vector_entries_by_end ON vector_entries (end_ts);
CREATE TABLE IF NOT EXISTS search_entries (
    entry_id BIGSERIAL PRIMARY KEY,
    index_id TEXT COLLATE "C" NOT NULL,
    doc_id TEXT COLLATE "C" NOT NULL,
    ts BIGINT NOT NULL,
    end_ts BIGINT NOT NULL,
    creation DOUBLE PRECISION NOT NULL,
    tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS search_entries_current ON search_entries (index_id, doc_id, end_ts);
CREATE INDEX IF NOT EXISTS search_entries_by_end ON search_entries (end_ts);
CREATE TABLE IF NOT EXISTS search_postings (
    index_id TEXT COLLATE "C" NOT NULL,
    field SMALLINT NOT NULL,
    term TEXT COLLATE "C" NOT NULL,
    entry_id BIGINT NOT NULL,
    hits INTEGER NOT NULL,
    PRIMARY KEY (index_id, field, term, entry_id)
);
CREATE INDEX IF NOT EXISTS search_postings_by_entry ON search_postings (entry_id);
CREATE TABLE IF NOT EXISTS committer_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    holder TEXT NOT NULL,
    address TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prune_watermarks (
    target TEXT PRIMARY KEY,
    ts BIGINT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    key BYTEA NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Target:
    """A `postgresql://` URL taken apart: what to connect to, and in which schema.

    `display` is the URL without its password, for messages and logs.
    """

    dsn: str
    schema: str
    display: str


def parse_url(url: str) -> Target:
    """`postgresql://user[:password]@host[:port]/dbname[?schema=NAME&sslmode=...]`.

    `schema` is Reactor's own parameter (default `reactor`); the others go to the driver.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise StorageError(f"--db: expected postgresql://user@host/dbname, got {_hide(url)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = dict(query).get("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.fullmatch(schema):
        raise StorageError(f"--db: schema: expected a lowercase SQL name ([a-z_][a-z0-9_]*,"
                           f" at most 63 characters), got {schema!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    dsn = urlunsplit(parts._replace(query=rest))
    return Target(dsn, schema, _hide(dsn) + f" (schema {schema})")


def _hide(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


async def prepare(conn: asyncpg.Connection, target: Target) -> None:
    """Create the schema and its tables, or check that an existing one is of our format.

    An advisory lock serializes this between processes opening the same schema at once.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "reactor:" + target.schema)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"')
        await conn.execute(f'SET LOCAL search_path TO "{target.schema}"')
        await conn.execute(TABLES)
        version = await conn.fetchval("SELECT version FROM storage_format")
        if version is None:
            await conn.execute("INSERT INTO storage_format (version) VALUES ($1)", FORMAT_VERSION)
        elif version != FORMAT_VERSION:
            raise StorageError(f"{target.display}: storage format {version} is not supported"
                               f" (this version of Reactor reads format {FORMAT_VERSION})")


def owner_lock_key(target: Target) -> str:
    """The advisory lock the one writing process holds for as long as it is connected."""
    return "reactor-writer:" + target.schema


def is_storage_exception(exc: BaseException) -> bool:
    """Whether `exc` is a failure of PostgreSQL or of the connection (not of the caller)."""
    return isinstance(exc, asyncpg.PostgresError) or is_connection_failure(exc)


def is_connection_failure(exc: BaseException) -> bool:
    """Whether `exc` says the connection (not the statement) failed."""
    return isinstance(exc, OSError | ConnectionError | asyncpg.InterfaceError
                      | asyncpg.InternalClientError | asyncpg.PostgresConnectionError
                      | asyncpg.CannotConnectNowError | asyncpg.AdminShutdownError)


def storage_failure(target: Target, action: str, exc: BaseException, *,
                    writing: bool) -> StorageError:
    """The error to raise for `exc`: all of it for the log, a plain sentence for clients."""
    detail = f"{target.display}: {action} failed: {type(exc).__name__}: {exc}"
    verb = "write" if writing else "read"
    if isinstance(exc, asyncpg.DiskFullError):
        return StorageError(detail, code="StorageFull", public=(
            "StorageFull: the server could not write the data: its disk is full"))
    if isinstance(exc, asyncpg.DataCorruptedError | asyncpg.IndexCorruptedError):
        code = "StorageCorrupt"
    elif is_connection_failure(exc):
        code = "StorageIOError"
    else:
        code = "StorageError"
    return StorageError(detail, code=code, public=(
        f"{code}: the server could not {verb} the data (the details are in the server log)"))
