"""File storage limits and access: upload size, timeout and rate; signed URLs; the sweep."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from files_support import blob_files, call, inline_blobs, served, staged_files, stored_blobs, upload

from reactor.runtime.files import FileOptions
from reactor.runtime.outcome import FunctionError
from reactor.server.config import ServerConfig
from reactor.server.rate_limit import RateLimiter

DATA = b"0123456789" * 50


async def test_uploads_over_the_limit_get_413_and_leave_nothing(tmp_path: Path) -> None:
    async with served(tmp_path, config=ServerConfig(max_upload_bytes=1000)) as (engine, client):
        url = await call(engine, "mutation", "messages:generateUploadUrl")
        declared = await client.post(url, content=b"x" * 1001)
        assert (declared.status_code, declared.json()["code"]) == (413, "FileTooLarge")
        assert "limit of 1000 bytes" in declared.json()["message"]

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
            for _ in range(3):
                yield b"y" * 400

        streamed = await client.post(url, content=chunked())
        assert (streamed.status_code, streamed.json()["code"]) == (413, "FileTooLarge")
        assert staged_files(tmp_path) == [] and blob_files(tmp_path) == []
        assert (await client.post(url, content=b"z" * 1000)).status_code == 200  # token unused


async def test_uploads_slower_than_the_timeout_get_408(tmp_path: Path) -> None:
    async with served(tmp_path, config=ServerConfig(upload_timeout_s=0.3)) as (engine, client):
        url = await call(engine, "mutation", "messages:generateUploadUrl")

        async def slow() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"s" * 10
                await asyncio.sleep(0.1)

        reply = await client.post(url, content=slow())
        assert (reply.status_code, reply.json()["code"]) == (408, "UploadTimeout")
        assert staged_files(tmp_path) == [] and blob_files(tmp_path) == []
        assert await call(engine, "query", "files:count") == 0


async def test_upload_rate_is_limited_per_user(tmp_path: Path) -> None:
    config = ServerConfig(uploads_per_minute=3)
    async with served(tmp_path, config=config) as (engine, client):
        ada = {"subject": "ada", "issuer": "reactor", "tokenIdentifier": "reactor|ada"}
        bob = {"subject": "bob", "issuer": "reactor", "tokenIdentifier": "reactor|bob"}

        async def url_for(identity: dict[str, str]) -> str:
            outcome = await engine.run_mutation("messages:generateUploadUrl", {}, identity)
            return str(outcome.unwrap())

        for _ in range(3):
            assert (await client.post(await url_for(ada), content=b"a")).status_code == 200
        refused = await client.post(await url_for(ada), content=b"a")
        assert (refused.status_code, refused.json()["code"]) == (429, "UploadRateExceeded")
        assert int(refused.headers["retry-after"]) >= 1
        assert (await client.post(await url_for(bob), content=b"b")).status_code == 200


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.take("k") == 0 for _ in range(60))
    assert limiter.take("k") == pytest.approx(1.0)
    now[0] = 1.0
    assert limiter.take("k") == 0 and limiter.take("k") > 0
    assert limiter.take("other") == 0


async def test_signed_urls_work_until_they_expire(tmp_path: Path) -> None:
    async with served(tmp_path) as (engine, client):
        storage_id = await upload(engine, client, DATA)
        url = await call(engine, "query", "files:signed_url", {"id": storage_id, "seconds": 0.5})
        assert "expires=" in url and "signature=" in url
        assert (await client.get(url)).content == DATA
        tampered = url.replace("expires=", "expires=9")
        reply = await client.get(tampered)
        assert (reply.status_code, reply.json()["code"]) == (403, "InvalidFileUrl")
        other = await upload(engine, client, b"other")
        moved = url.replace(storage_id, other)
        assert (await client.get(moved)).status_code == 403  # a signature is for one file
        await asyncio.sleep(0.6)
        reply = await client.get(url)
        assert (reply.status_code, reply.json()["code"]) == (403, "FileUrlExpired")
        plain = await call(engine, "query", "files:url", {"id": storage_id})
        assert (await client.get(plain)).status_code == 200
        with pytest.raises(FunctionError, match="expires_in must be positive"):
            await call(engine, "query", "files:signed_url", {"id": storage_id, "seconds": 0})
        from_action = await call(engine, "action", "files:url_from_action",
                                 {"id": storage_id, "seconds": 60})
        assert (await client.get(from_action)).content == DATA


async def test_required_signatures_refuse_plain_urls(tmp_path: Path) -> None:
    options = FileOptions(require_signed_urls=True, default_signed_url_ttl_s=60)
    async with served(tmp_path, options=options) as (engine, client):
        storage_id = await upload(engine, client, DATA)
        plain = await client.get(f"/api/storage/{storage_id}")
        assert (plain.status_code, plain.json()["code"]) == (403, "SignedUrlRequired")
        url = await call(engine, "query", "files:url", {"id": storage_id})
        expires = int(url.split("expires=")[1].split("&")[0])
        assert abs(expires - (time.time() + 60) * 1000) < 5_000  # signed with the default TTL
        assert (await client.get(url)).content == DATA


async def test_the_signing_key_lives_in_the_auth_folder_and_survives_restarts(
        tmp_path: Path) -> None:
    async with served(tmp_path) as (engine, client):
        storage_id = await upload(engine, client, DATA)
        url = await call(engine, "query", "files:signed_url", {"id": storage_id, "seconds": 60})
    key = tmp_path / "auth" / "storage.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    async with served(tmp_path) as (engine, client):
        assert (await client.get(url)).content == DATA


async def test_the_sweep_removes_old_orphans_and_keeps_referenced_blobs(tmp_path: Path) -> None:
    async with served(tmp_path, options=FileOptions(orphan_grace_s=60)) as (engine, client):
        kept = await upload(engine, client, DATA)
        files = engine.files
        # An orphan: a published blob whose document never committed (a crash between).
        async def body() -> AsyncIterator[bytes]:
            yield b"orphan"

        staged = await files.blobs.stage(body())
        await files.blobs.publish(staged)
        left = await files.blobs.stage(body())  # a staged file an upload abandoned
        orphan = hashlib.sha256(b"orphan").hexdigest()
        assert orphan in blob_files(tmp_path) and staged_files(tmp_path) == [f"{left.token}.part"]
        assert await files.sweep() == {"staged": 0, "orphans": 0, "tokens": 0}  # too young
        old = time.time() - 120
        for path in [*(tmp_path / "files").glob("??/*"), *(tmp_path / "files" / "tmp").iterdir()]:
            os.utime(path, (old, old))
        assert await files.sweep() == {"staged": 1, "orphans": 1, "tokens": 0}
        assert await stored_blobs(engine, tmp_path) == [hashlib.sha256(DATA).hexdigest()]
        assert (await client.get(f"/api/storage/{kept}")).content == DATA


async def test_the_sweep_removes_unreferenced_inline_blobs_once_old(tmp_path: Path) -> None:
    """A small file's row left without a document (a crash after the delete's commit,
    before the release) is swept after the grace period; referenced rows stay."""
    from reactor.runtime.system.inline_blobs import InlineBlobs
    from reactor.runtime.system.transact import transact

    async with served(tmp_path, options=FileOptions(orphan_grace_s=0.5)) as (engine, client):
        kept = await upload(engine, client, DATA)
        orphan = hashlib.sha256(b"left behind").hexdigest()
        await transact(engine.database,
                       lambda txn: InlineBlobs(txn).insert(orphan, b"left behind"))
        expected = sorted([orphan, hashlib.sha256(DATA).hexdigest()])
        assert await inline_blobs(engine) == expected and blob_files(tmp_path) == []
        assert (await engine.files.sweep())["orphans"] == 0  # too young
        await asyncio.sleep(0.6)
        assert (await engine.files.sweep())["orphans"] == 1
        assert await inline_blobs(engine) == [hashlib.sha256(DATA).hexdigest()]
        assert (await client.get(f"/api/storage/{kept}")).content == DATA


async def test_the_sweep_prunes_records_of_expired_tokens(tmp_path: Path) -> None:
    async with served(tmp_path, options=FileOptions(upload_url_ttl_s=0.2)) as (engine, client):
        await upload(engine, client, DATA)
        assert (await engine.files.sweep())["tokens"] == 0
        await asyncio.sleep(0.3)
        assert (await engine.files.sweep())["tokens"] == 1


def test_every_file_setting_is_documented() -> None:
    import dataclasses

    from reactor.cli.files_config import file_options_from_env

    text = (Path(__file__).resolve().parent.parent / "docs" / "guide" / "files.md").read_text()
    for setting in dataclasses.fields(FileOptions):
        assert f"`{setting.name}`" in text and f"REACTOR_FILES_{setting.name.upper()}" in text
    for name in ("max_upload_bytes", "upload_timeout_s", "uploads_per_minute"):
        assert f"`{name}`" in text and f"REACTOR_{name.upper()}" in text
    options = file_options_from_env({"REACTOR_FILES_REQUIRE_SIGNED_URLS": "yes",
                                     "REACTOR_FILES_ORPHAN_GRACE_S": "5"})
    assert options.require_signed_urls is True and options.orphan_grace_s == 5
    from reactor.server.config import ConfigError

    with pytest.raises(ConfigError, match="REACTOR_FILES_REQUIRE_SIGNED_URLS"):
        file_options_from_env({"REACTOR_FILES_REQUIRE_SIGNED_URLS": "maybe"})
    assert file_options_from_env({"REACTOR_FILES_INLINE_MAX_BYTES": "0"}).inline_max_bytes == 0
    with pytest.raises(ConfigError, match="whole number of bytes"):
        file_options_from_env({"REACTOR_FILES_INLINE_MAX_BYTES": "4k"})


async def test_browsers_on_other_origins_may_upload(tmp_path: Path) -> None:
    async with served(tmp_path) as (engine, client):
        url = await call(engine, "mutation", "messages:generateUploadUrl")
        preflight = await client.options(url, headers={
            "origin": "https://app.example", "access-control-request-method": "POST",
            "access-control-request-headers": "content-type"})
        assert preflight.status_code == 200
        assert "POST" in preflight.headers["access-control-allow-methods"]
        reply = await client.post(url, content=b"cross-origin",
                                  headers={"origin": "https://app.example",
                                           "content-type": "text/plain"})
        assert reply.status_code == 200
        assert reply.headers["access-control-allow-origin"] in ("*", "https://app.example")


async def test_the_app_can_require_signed_urls_in_functions_storage_py(tmp_path: Path) -> None:
    import shutil
    from datetime import timedelta

    from files_support import FILES_APP

    from reactor import storage_settings
    from reactor.errors import SchemaError

    app = tmp_path / "app"
    shutil.copytree(FILES_APP, app)
    (app / "functions" / "storage.py").write_text(
        "from datetime import timedelta\nfrom reactor import storage_settings\n\n"
        "storage = storage_settings(require_signed_urls=True,"
        " signed_url_ttl=timedelta(minutes=2), upload_url_ttl=30)\n")
    async with served(tmp_path / "data", app_dir=app) as (engine, client):
        assert engine.files.options.upload_url_ttl_s == 30
        storage_id = await upload(engine, client, DATA)
        plain = await client.get(f"/api/storage/{storage_id}")
        assert (plain.status_code, plain.json()["code"]) == (403, "SignedUrlRequired")
        url = await call(engine, "query", "files:url", {"id": storage_id})
        expires = int(url.split("expires=")[1].split("&")[0])
        assert abs(expires - (time.time() + 120) * 1000) < 5_000
        assert (await client.get(url)).content == DATA
        (app / "functions" / "storage.py").unlink()  # a reload applies the change at once
        await engine.reload()
        assert (await client.get(f"/api/storage/{storage_id}")).content == DATA
    assert storage_settings().apply(FileOptions()) == FileOptions()
    assert storage_settings(signed_url_ttl=timedelta(seconds=5)).default_signed_url_ttl_s == 5
    with pytest.raises(SchemaError, match="signed_url_ttl must be positive"):
        storage_settings(signed_url_ttl=0)
    with pytest.raises(SchemaError, match="require_signed_urls must be True or False"):
        storage_settings(require_signed_urls="yes")  # type: ignore[arg-type]
