"""An in-process server over the files test app, with an httpx client bound to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from reactor.runtime import Engine
from reactor.runtime.files import FileOptions
from reactor.runtime.system.inline_blobs import INLINE_BLOBS
from reactor.runtime.system.transact import read
from reactor.server.app import ReactorServer
from reactor.server.config import ServerConfig
from reactor.transactions import QueryBuilder

FILES_APP = Path(__file__).parent / "apps" / "files"
BASE = "http://testserver"


@asynccontextmanager
async def served(data_dir: Path, *, options: FileOptions | None = None,
                 config: ServerConfig | None = None, app_dir: Path = FILES_APP, **engine: Any
                 ) -> AsyncIterator[tuple[Engine, httpx.AsyncClient]]:
    """The files app served in-process; `Engine.public_url` is the client's base URL."""
    server = ReactorServer(Engine(app_dir, data_dir, durability="normal", public_url=BASE,
                                  file_options=options, **engine), config or ServerConfig())
    asgi = server.build()
    await server.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url=BASE)
    try:
        yield server.engine, client
    finally:
        await client.aclose()
        await server.stop()


async def call(engine: Engine, kind: str, path: str, args: dict[str, Any] | None = None) -> Any:
    """Run a function as an admin caller and return its value (raising its error)."""
    outcome = await getattr(engine, f"run_{kind}")(path, args or {}, admin=True)
    return outcome.unwrap()


async def upload(engine: Engine, client: httpx.AsyncClient, data: bytes,
                 content_type: str | None = "text/plain") -> str:
    """The official flow: an upload URL from a mutation, then a POST of the bytes."""
    url = await call(engine, "mutation", "messages:generateUploadUrl")
    headers = {"content-type": content_type} if content_type else {}
    reply = await client.post(url, content=data, headers=headers)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["storageId"])


def blob_files(data_dir: Path) -> list[str]:
    """Names of the published blobs in the data directory's file store."""
    root = data_dir / "files"
    return sorted(p.name for p in root.glob("??/*")) if root.exists() else []


async def inline_blobs(engine: Engine) -> list[str]:
    """The sha256 of the small files kept in the database (`_inline_blobs`)."""
    rows = await read(engine.database, lambda txn: QueryBuilder(txn, INLINE_BLOBS).collect())
    return sorted(str(row["sha256"]) for row in rows)


async def stored_blobs(engine: Engine, data_dir: Path) -> list[str]:
    """Every stored blob's sha256, in the file store or in the database."""
    return sorted(blob_files(data_dir) + await inline_blobs(engine))


def staged_files(data_dir: Path) -> list[str]:
    staging = data_dir / "files" / "tmp"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


def open_files_under(folder: Path) -> list[str]:
    """Paths under `folder` this process holds open (a leaked or early-closed file shows)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except FileNotFoundError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found
