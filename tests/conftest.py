"""Shared pytest fixtures."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ensure_node_modules

from reactor.testing_postgres import Unavailable, create_database, drop_database, find_server


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/node/node_modules, installed from the lock file if missing or stale."""
    return ensure_node_modules()


def fresh_database(why_skipped: str, **options: str) -> Iterator[str]:
    """A new database on a reachable (or throwaway) server, dropped afterwards; skips with
    `why_skipped` and the reason when no PostgreSQL can be had."""
    try:
        server, cluster = find_server()
    except Unavailable as exc:
        pytest.skip(f"{why_skipped}: {exc}")
    url = create_database(server, **options)
    try:
        yield url
    finally:
        drop_database(url)
        if cluster is not None:
            cluster.stop()
            cluster.remove()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at its end.

    From REACTOR_TEST_DB_URL's server (default 127.0.0.1:5432, user postgres), or a
    throwaway cluster started with pg_ctl; the tests skip when neither is possible.
    """
    yield from fresh_database("PostgreSQL tests skipped")


@pytest.fixture
def database_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own (several-node tests), dropped after it."""
    yield from fresh_database("several-node tests need PostgreSQL", prefix="reactor_nodes")


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    """A URL of a store of its own: a fresh schema of the session's database."""
    return f"{postgres_database}?schema=t_{uuid.uuid4().hex[:16]}"


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    """Each test using it runs on both backends: None (SQLite in the data directory),
    then a fresh PostgreSQL store."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))
