"""File storage in-process: upload URLs, `_storage`, serving with ETag and ranges, deletes."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from files_support import blob_files, call, inline_blobs, served, staged_files, stored_blobs, upload

from reactor.runtime import Engine
from reactor.runtime.files.service import SMALL_BLOB_BYTES
from reactor.runtime.outcome import FunctionError
from reactor.storage import blobs

DATA = b"hello, files!\n" * 100


@pytest.fixture
async def app(tmp_path: Path):
    async with served(tmp_path) as pair:
        yield pair


async def test_upload_creates_a_storage_document_with_the_sha256(
        app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    url = await call(engine, "mutation", "messages:generateUploadUrl")
    assert url.startswith("http://testserver/api/storage/upload?token=")
    reply = await client.post(url, content=DATA, headers={"content-type": "text/plain"})
    assert reply.status_code == 200
    storage_id = reply.json()["storageId"]
    doc = await call(engine, "query", "files:metadata", {"id": storage_id})
    assert doc["_id"] == storage_id and isinstance(doc["_creationTime"], float)
    assert {k: doc[k] for k in ("sha256", "size", "contentType")} == {
        "sha256": hashlib.sha256(DATA).hexdigest(), "size": len(DATA),
        "contentType": "text/plain"}
    assert await call(engine, "query", "files:all") == [doc]


async def test_get_serves_the_bytes_with_length_type_and_etag(
        app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    storage_id = await upload(engine, client, DATA, "image/png")
    url = await call(engine, "query", "files:url", {"id": storage_id})
    assert url == f"http://testserver/api/storage/{storage_id}"
    reply = await client.get(url)
    assert reply.status_code == 200 and reply.content == DATA
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["content-length"] == str(len(DATA))
    assert reply.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    head = await client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(DATA))
    again = await client.get(url, headers={"if-none-match": reply.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    other = await client.get(url, headers={"if-none-match": '"abc"'})
    assert other.status_code == 200 and other.content == DATA


async def test_an_upload_without_content_type_is_served_as_octet_stream(
        app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    storage_id = await upload(engine, client, b"\x00\x01", None)
    assert "contentType" not in await call(engine, "query", "files:metadata", {"id": storage_id})
    reply = await client.get(f"/api/storage/{storage_id}")
    assert reply.headers["content-type"] == "application/octet-stream"


@pytest.mark.parametrize(("header", "status", "body", "content_range"), [
    ("bytes=2-5", 206, DATA[2:6], f"bytes 2-5/{len(DATA)}"),
    ("bytes=10-", 206, DATA[10:], f"bytes 10-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=-3", 206, DATA[-3:], f"bytes {len(DATA) - 3}-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=5-999999", 206, DATA[5:], f"bytes 5-{len(DATA) - 1}/{len(DATA)}"),
    ("bytes=0-1,4-5", 200, DATA, None),  # several ranges: the whole file
    ("items=0-1", 200, DATA, None),
    (f"bytes={len(DATA)}-", 416, None, f"bytes */{len(DATA)}"),
])
async def test_single_range_requests(app: tuple[Engine, httpx.AsyncClient], header: str,
                                     status: int, body: bytes | None,
                                     content_range: str | None) -> None:
    engine, client = app
    storage_id = await upload(engine, client, DATA)
    reply = await client.get(f"/api/storage/{storage_id}", headers={"range": header})
    assert reply.status_code == status
    assert reply.headers.get("content-range") == content_range
    if body is not None:
        assert reply.content == body
        assert reply.headers["content-length"] == str(len(body))


async def test_each_upload_url_works_once(app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    url = await call(engine, "mutation", "messages:generateUploadUrl")
    assert (await client.post(url, content=b"one")).status_code == 200
    reply = await client.post(url, content=b"two")
    assert reply.status_code == 403
    assert reply.json()["code"] == "UploadTokenUsed"
    assert "works once" in reply.json()["message"]
    large = await client.post(url, content=b"x" * (2 * 1024 * 1024))  # refused before its body
    assert (large.status_code, large.json()["code"]) == (403, "UploadTokenUsed")
    assert await call(engine, "query", "files:count") == 1


async def test_concurrent_uploads_with_one_token_commit_once(
        app: tuple[Engine, httpx.AsyncClient], tmp_path: Path) -> None:
    engine, client = app
    url = await call(engine, "mutation", "messages:generateUploadUrl")
    replies = await asyncio.gather(*(client.post(url, content=f"body {i}".encode())
                                     for i in range(5)))
    assert sorted(r.status_code for r in replies) == [200, 403, 403, 403, 403]
    assert await call(engine, "query", "files:count") == 1
    await engine.files.released()
    assert len(await stored_blobs(engine, tmp_path)) == 1  # the losers' blobs are gone again
    assert staged_files(tmp_path) == []


@pytest.mark.parametrize(("token", "code"), [
    ("", "InvalidUploadToken"),
    ("nonsense", "InvalidUploadToken"),
    ("A" * 60, "InvalidUploadToken"),
])
async def test_bad_tokens_are_refused_clearly(app: tuple[Engine, httpx.AsyncClient],
                                              token: str, code: str) -> None:
    _, client = app
    reply = await client.post(f"/api/storage/upload?token={token}", content=b"x")
    assert reply.status_code == 400
    assert reply.json()["code"] == code
    assert "token" in reply.json()["message"]


async def test_a_token_altered_in_one_character_is_refused(
        app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    url = await call(engine, "mutation", "messages:generateUploadUrl")
    flipped = url[:-3] + ("A" if url[-3] != "A" else "B") + url[-2:]
    reply = await client.post(flipped, content=b"x")
    assert (reply.status_code, reply.json()["code"]) == (400, "InvalidUploadToken")


async def test_expired_upload_urls_are_refused(tmp_path: Path) -> None:
    from reactor.runtime.files import FileOptions

    async with served(tmp_path, options=FileOptions(upload_url_ttl_s=0.2)) as (engine, client):
        url = await call(engine, "mutation", "messages:generateUploadUrl")
        await asyncio.sleep(0.3)
        reply = await client.post(url, content=b"late")
        assert (reply.status_code, reply.json()["code"]) == (403, "UploadTokenExpired")
        assert "new upload URL" in reply.json()["message"]


async def test_identical_uploads_share_one_blob_until_the_last_is_deleted(
        app: tuple[Engine, httpx.AsyncClient], tmp_path: Path) -> None:
    engine, client = app
    first = await upload(engine, client, DATA)
    second = await upload(engine, client, DATA)
    assert first != second
    assert await stored_blobs(engine, tmp_path) == [hashlib.sha256(DATA).hexdigest()]
    await call(engine, "mutation", "files:delete", {"id": first})
    await engine.files.released()
    assert await stored_blobs(engine, tmp_path) == [hashlib.sha256(DATA).hexdigest()]
    assert (await client.get(f"/api/storage/{second}")).content == DATA
    await call(engine, "mutation", "files:delete", {"id": second})
    await engine.files.released()
    assert await stored_blobs(engine, tmp_path) == []


@pytest.mark.parametrize("size", [SMALL_BLOB_BYTES, SMALL_BLOB_BYTES + 1])
async def test_files_either_side_of_the_small_size_arrive_whole_and_are_stored_once(
        app: tuple[Engine, httpx.AsyncClient], tmp_path: Path, size: int) -> None:
    """Up to SMALL_BLOB_BYTES a file is gathered in memory and written in one step;
    past it, the chunks already read lead the rest of the stream into a staged file."""
    engine, client = app
    data = bytes(range(256)) * (size // 256) + b"t" * (size % 256)

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, size, 1000):
            yield data[start:start + 1000]

    ids = []
    for _ in range(2):
        url = await call(engine, "mutation", "messages:generateUploadUrl")
        reply = await client.post(url, content=chunked())
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["storageId"])
    for storage_id in ids:
        assert (await client.get(f"/api/storage/{storage_id}")).content == data
    sha256 = hashlib.sha256(data).hexdigest()
    assert await stored_blobs(engine, tmp_path) == [sha256]
    # Up to the small size, kept in the database; past it, a file.
    assert (sha256 in blob_files(tmp_path)) is (size > SMALL_BLOB_BYTES)
    assert staged_files(tmp_path) == []


@pytest.mark.parametrize("failing", ["file", "folder"])
async def test_a_small_upload_whose_fsync_fails_leaves_no_document_and_no_blob(
        app: tuple[Engine, httpx.AsyncClient], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    """The file's fsync fails: nothing is named. The folder's fails after the rename: the
    name may not survive a crash, so the blob is removed again rather than trusted."""
    engine, _ = app
    engine.files.options = dataclasses.replace(engine.files.options, inline_max_bytes=0)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode) == (failing == "folder"):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(blobs.os, "fsync", fsync)

    async def body() -> AsyncIterator[bytes]:
        yield DATA

    with pytest.raises(OSError, match="Input/output"):
        await engine.files.store(body(), "text/plain")
    assert await call(engine, "query", "files:all") == []
    assert await stored_blobs(engine, tmp_path) == [] and staged_files(tmp_path) == []


async def test_a_delete_in_a_failed_mutation_keeps_the_file(
        app: tuple[Engine, httpx.AsyncClient], tmp_path: Path) -> None:
    engine, client = app
    storage_id = await upload(engine, client, DATA)
    with pytest.raises(FunctionError, match="rolled back"):
        await call(engine, "mutation", "files:delete_then_fail", {"id": storage_id})
    await engine.files.released()
    assert await stored_blobs(engine, tmp_path) == [hashlib.sha256(DATA).hexdigest()]
    assert (await client.get(f"/api/storage/{storage_id}")).content == DATA


async def test_deleted_files_give_none_404_and_a_clear_error(
        app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    storage_id = await upload(engine, client, DATA)
    url = await call(engine, "query", "files:url", {"id": storage_id})
    await call(engine, "mutation", "files:delete", {"id": storage_id})
    assert await call(engine, "query", "files:url", {"id": storage_id}) is None
    assert await call(engine, "query", "files:metadata", {"id": storage_id}) is None
    assert await call(engine, "action", "files:read_text", {"id": storage_id}) is None
    assert await call(engine, "action", "files:url_from_action", {"id": storage_id}) is None
    reply = await client.get(url)
    assert (reply.status_code, reply.json()["code"]) == (404, "FileNotFound")
    with pytest.raises(FunctionError) as error:
        await call(engine, "mutation", "files:delete", {"id": storage_id})
    assert error.value.code == "FileNotFound"
    assert "deleted, or never stored" in error.value.message


async def test_ids_of_other_tables_are_named_in_the_error(
        app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    message_id = await call(engine, "mutation", "messages:send", {"body": "hi", "author": "a"})
    for kind, path in (("query", "files:url"), ("mutation", "files:delete"),
                       ("action", "files:read_text"), ("action", "files:delete_from_action")):
        with pytest.raises(FunctionError) as error:
            await call(engine, kind, path, {"id": message_id})
        assert error.value.code == "InvalidStorageId"
        assert "table 'messages', not of _storage" in error.value.message
    with pytest.raises(FunctionError) as error:
        await call(engine, "query", "files:url", {"id": "not-an-id"})
    assert "expected an id of _storage" in error.value.message
    reply = await client.get(f"/api/storage/{message_id}")
    assert (reply.status_code, reply.json()["code"]) == (400, "InvalidStorageId")
    with pytest.raises(FunctionError) as error:  # v.id("_storage") in args
        await call(engine, "mutation", "messages:sendImage",
                   {"storageId": message_id, "author": "a"})
    assert error.value.code == "ArgsValidation" and '_storage' in error.value.message


async def test_get_url_in_a_query_is_reactive(app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    storage_id = await upload(engine, client, DATA)
    await call(engine, "mutation", "messages:sendImage", {"storageId": storage_id,
                                                          "author": "ada"})
    async with engine.subscribe("messages:list", {}, admin=True) as live:
        first = await live.next(timeout=5)
        assert first[0]["url"] == f"http://testserver/api/storage/{storage_id}"
        await call(engine, "mutation", "files:delete", {"id": storage_id})
        second = await live.next(timeout=5)
        assert second[0]["url"] is None
    async with engine.subscribe("files:count", {}, admin=True) as live:
        assert await live.next(timeout=5) == 0
        await upload(engine, client, b"another")
        assert await live.next(timeout=5) == 1


async def test_actions_store_read_stream_and_delete(
        app: tuple[Engine, httpx.AsyncClient], tmp_path: Path) -> None:
    engine, client = app
    text_id = await call(engine, "action", "files:store_text",
                         {"text": "from an action", "contentType": "text/markdown"})
    assert await call(engine, "action", "files:read_text", {"id": text_id}) == "from an action"
    meta = await call(engine, "action", "files:metadata_from_action", {"id": text_id})
    assert (meta["size"], meta["contentType"]) == (14, "text/markdown")
    stream_id = await call(engine, "action", "files:store_stream", {"parts": 3, "size": 500_000})
    reply = await client.get(f"/api/storage/{stream_id}")
    assert reply.content == b"\x00" * 500_000 + b"\x01" * 500_000 + b"\x02" * 500_000
    sizes = await call(engine, "action", "files:stream_sizes", {"id": stream_id})
    assert sum(sizes) == 1_500_000 and len(sizes) > 1  # streamed in chunks
    await call(engine, "action", "files:delete_from_action", {"id": stream_id})
    assert hashlib.sha256(reply.content).hexdigest() not in await stored_blobs(engine, tmp_path)
    assert await call(engine, "action", "files:stream_sizes", {"id": stream_id}) is None
    url = await call(engine, "action", "files:upload_url_from_action")
    assert (await client.post(url, content=b"via action url")).status_code == 200


async def test_storage_methods_outside_their_function_kinds_fail_clearly(
        app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, _ = app
    with pytest.raises(FunctionError) as error:
        await call(engine, "query", "files:upload_url_in_query")
    assert error.value.code == "NotAllowed"
    assert "use it in a mutation or an action" in error.value.message


async def test_http_actions_stream_a_stored_file(app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    data = bytes(range(256)) * 4096
    storage_id = await upload(engine, client, data, "application/x-test")
    reply = await client.get("/http/file", params={"id": storage_id})
    assert reply.status_code == 200 and reply.content == data
    assert reply.headers["content-type"] == "application/x-test"


async def test_upload_tokens_are_not_readable_by_app_code(
        app: tuple[Engine, httpx.AsyncClient]) -> None:
    engine, client = app
    await upload(engine, client, DATA)
    from reactor.runtime.system.transact import read
    from reactor.transactions import QueryBuilder

    records = await read(engine.database,
                         lambda txn: QueryBuilder(txn, "_upload_tokens").collect())
    assert len(records) == 1
    assert await call(engine, "query", "files:metadata", {"id": records[0]["_id"]}) is None
    with pytest.raises(FunctionError) as error:
        await call(engine, "query", "files:system_rows", {"table": "_upload_tokens"})
    assert error.value.code == "TableNotFound"
    assert len(await call(engine, "query", "files:system_rows", {"table": "_storage"})) == 1
    assert await inline_blobs(engine) == [hashlib.sha256(DATA).hexdigest()]
    with pytest.raises(FunctionError) as error:
        await call(engine, "query", "files:system_rows", {"table": "_inline_blobs"})
    assert error.value.code == "TableNotFound"


async def test_small_files_are_kept_in_the_database_and_served_like_others(
        app: tuple[Engine, httpx.AsyncClient], tmp_path: Path) -> None:
    engine, client = app
    storage_id = await upload(engine, client, DATA, "text/plain")
    assert await inline_blobs(engine) == [hashlib.sha256(DATA).hexdigest()]
    assert blob_files(tmp_path) == [] and staged_files(tmp_path) == []
    url = f"/api/storage/{storage_id}"
    whole = await client.get(url)
    assert whole.content == DATA
    assert whole.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    part = await client.get(url, headers={"range": "bytes=10-19"})
    assert (part.status_code, part.content) == (206, DATA[10:20])
    assert part.headers["content-range"] == f"bytes 10-19/{len(DATA)}"
    tail = await client.get(url, headers={"range": "bytes=-5"})
    assert tail.content == DATA[-5:]
    assert await engine.files.get_bytes(storage_id) == DATA


async def test_small_files_are_kept_inline_on_either_database(tmp_path: Path,
                                                              db_url: str | None) -> None:
    async with served(tmp_path, db_url=db_url) as (engine, client):
        first = await upload(engine, client, DATA)
        second = await upload(engine, client, DATA)
        assert await inline_blobs(engine) == [hashlib.sha256(DATA).hexdigest()]
        assert blob_files(tmp_path) == []
        assert (await client.get(f"/api/storage/{second}")).content == DATA
        await call(engine, "mutation", "files:delete", {"id": first})
        await engine.files.released()
        assert (await client.get(f"/api/storage/{second}")).content == DATA
        await call(engine, "mutation", "files:delete", {"id": second})
        await engine.files.released()
        assert await inline_blobs(engine) == []


async def test_small_blobs_stored_as_files_before_are_served_shared_and_released(
        tmp_path: Path) -> None:
    """A data directory from before small files were kept in the database: its blob files
    are served, a new upload of the same contents shares the file, the last delete removes
    it."""
    from reactor.runtime.files import FileOptions

    async with served(tmp_path, options=FileOptions(inline_max_bytes=0)) as (engine, client):
        old = await upload(engine, client, DATA)
    sha256 = hashlib.sha256(DATA).hexdigest()
    assert blob_files(tmp_path) == [sha256]
    async with served(tmp_path) as (engine, client):
        assert (await client.get(f"/api/storage/{old}")).content == DATA
        new = await upload(engine, client, DATA)
        other = await upload(engine, client, b"new contents")
        assert await inline_blobs(engine) == [hashlib.sha256(b"new contents").hexdigest()]
        assert (await client.get(f"/api/storage/{new}")).content == DATA
        await call(engine, "mutation", "files:delete", {"id": old})
        await engine.files.released()
        assert blob_files(tmp_path) == [sha256]
        await call(engine, "mutation", "files:delete", {"id": new})
        await call(engine, "mutation", "files:delete", {"id": other})
        await engine.files.released()
        assert await stored_blobs(engine, tmp_path) == []


async def test_functions_moved_to_worker_processes_have_ctx_storage(
        app: tuple[Engine, httpx.AsyncClient], tmp_path: Path) -> None:
    from reactor.runtime.workers import SLICE_S

    engine, client = app
    busy = SLICE_S * 3
    storage_id = await upload(engine, client, DATA)
    url = await call(engine, "query", "files:busy_url", {"id": storage_id, "busy": busy})
    assert engine.pool is not None and engine.pool.isolated("files:busy_url")
    assert url == f"http://testserver/api/storage/{storage_id}"
    upload_url = await call(engine, "mutation", "files:busy_upload_url", {"busy": busy})
    assert engine.pool.isolated("files:busy_upload_url")
    assert (await client.post(upload_url, content=b"from a worker's URL")).status_code == 200
    await call(engine, "mutation", "files:busy_delete", {"id": storage_id, "busy": busy})
    assert engine.pool.isolated("files:busy_delete")
    assert await call(engine, "query", "files:url", {"id": storage_id}) is None
    # The server sees the worker's delete commit and removes the blob.
    await engine.files.released()
    assert hashlib.sha256(DATA).hexdigest() not in await stored_blobs(engine, tmp_path)
