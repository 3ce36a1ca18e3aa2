"""Files in an S3-compatible bucket: a real S3 server (moto's, as a process) behind the store."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import NODE_DIR, ReactorServer, free_port, run_node
from files_support import FILES_APP, call, served, upload

from reactor.runtime.files import FileOptions
from reactor.storage.s3_blobs import S3BlobStore

pytest.importorskip("aiobotocore")
pytest.importorskip("moto")

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "reactor-test", "AWS_SECRET_ACCESS_KEY": "reactor-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}
BUCKET = "reactor-files"


@pytest.fixture(scope="module")
def s3_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server on a free port, with the bucket made."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, **CREDENTIALS})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        request = urllib.request.Request(f"{url}/{BUCKET}", method="PUT")
        urllib.request.urlopen(request, timeout=5).close()
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


async def keys(s3_url: str, prefix: str) -> list[str]:
    store = S3BlobStore(BUCKET, "/tmp", prefix=prefix, endpoint_url=s3_url, region="us-east-1")
    try:
        return sorted([entry.sha256 async for entry in store.entries()])
    finally:
        await store.close()


def s3_store(s3_url: str, prefix: str, **options: Any) -> Any:
    return lambda data_dir: S3BlobStore(BUCKET, data_dir / "files", prefix=prefix,
                                        endpoint_url=s3_url, region="us-east-1", **options)


# 13 KB goes up in one PUT from memory; 104 KB (past SMALL_BLOB_BYTES) is staged first.
@pytest.mark.parametrize("repeat", [1000, 8000])
async def test_files_round_trip_through_the_bucket(s3_url: str, tmp_path: Path,
                                                   repeat: int) -> None:
    data = b"stored in S3 " * repeat
    sha = hashlib.sha256(data).hexdigest()
    async with served(tmp_path, blob_store=s3_store(s3_url, "round/")) as (engine, client):
        first = await upload(engine, client, data, "text/plain")
        second = await upload(engine, client, data, "text/plain")
        assert await keys(s3_url, "round/") == [sha]  # stored once
        local = tmp_path / "files"
        assert list(local.glob("??/*")) == list(local.glob("tmp/*")) == []  # nothing kept
        reply = await client.get(f"/api/storage/{first}")
        assert reply.content == data and reply.headers["etag"] == f'"{sha}"'
        ranged = await client.get(f"/api/storage/{first}", headers={"range": "bytes=13-25"})
        assert ranged.status_code == 206 and ranged.content == data[13:26]
        assert await call(engine, "action", "files:read_text", {"id": second}) == data.decode()
        await call(engine, "mutation", "files:delete", {"id": first})
        await engine.files.released()
        assert await keys(s3_url, "round/") == [sha]
        await call(engine, "action", "files:delete_from_action", {"id": second})
        assert await keys(s3_url, "round/") == []


async def test_large_files_go_up_in_parts_and_stream_back(s3_url: str, tmp_path: Path) -> None:
    part = 5 * 1024 * 1024
    store = s3_store(s3_url, "large/", part_bytes=part)
    async with served(tmp_path, blob_store=store) as (engine, client):
        block = os.urandom(1024 * 1024)

        async def body() -> AsyncIterator[bytes]:
            for _ in range(11):
                yield block

        url = await call(engine, "mutation", "messages:generateUploadUrl")
        reply = await client.post(url, content=body())
        storage_id = reply.json()["storageId"]
        sha = hashlib.sha256(block * 11).hexdigest()
        assert (await call(engine, "query", "files:metadata", {"id": storage_id}))["sha256"] == sha
        digest = hashlib.sha256()
        async with client.stream("GET", f"/api/storage/{storage_id}") as download:
            async for chunk in download.aiter_bytes():
                digest.update(chunk)
        assert digest.hexdigest() == sha
        tail = await client.get(f"/api/storage/{storage_id}", headers={"range": "bytes=-10"})
        assert tail.content == block[-10:]


async def test_the_sweep_removes_orphans_from_the_bucket(s3_url: str, tmp_path: Path) -> None:
    async with served(tmp_path, blob_store=s3_store(s3_url, "sweep/")) as (engine, client):
        kept = await upload(engine, client, b"kept")

        async def orphan() -> AsyncIterator[bytes]:
            yield b"orphan"

        await engine.files.blobs.publish(await engine.files.blobs.stage(orphan()))
        assert len(await keys(s3_url, "sweep/")) == 2
        engine.files.options = FileOptions(orphan_grace_s=0)  # the grace period is over
        assert (await engine.files.sweep())["orphans"] == 1
        assert await keys(s3_url, "sweep/") == [hashlib.sha256(b"kept").hexdigest()]
        assert (await client.get(f"/api/storage/{kept}")).content == b"kept"


def test_reactor_serve_stores_in_the_bucket_from_environment_variables(
        s3_url: str, tmp_path: Path, node_modules: Path) -> None:
    env = {**CREDENTIALS, "REACTOR_S3_BUCKET": BUCKET, "REACTOR_S3_PREFIX": "served",
           "REACTOR_S3_ENDPOINT_URL": s3_url, "REACTOR_S3_REGION": "us-east-1"}
    with ReactorServer(FILES_APP, tmp_path / "data", env=env) as server:
        result = run_node(NODE_DIR / "files_upload.mjs", server.url, timeout=60)
    assert (result["uploadStatus"], result["status"], result["same"]) == (200, 200, True)
    assert result["rangedBody"] == result["expectedRange"]
    assert list((tmp_path / "data" / "files").glob("??/*")) == []
    # The message (and with it the file) was deleted at the end of the flow.
    assert asyncio.run(keys(s3_url, "served/")) == []
