"""`reactor export` / `reactor import`: Convex snapshot layout, semantics, round trips."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import os
import string
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from e2e_support import REPO_ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.errors import ReactorError
from reactor.runtime import Engine
from reactor.runtime.snapshots.export import export_data_dir
from reactor.runtime.snapshots.importer import import_parsed
from reactor.runtime.snapshots.sources import parse_import
from reactor.storage.blobs import LocalBlobStore
from reactor.values import Int64, dumps

APP = Path(__file__).parent / "apps" / "snapshots"


async def _insert(engine: Engine, table: str, docs: list[dict[str, Any]]) -> list[str]:
    txn = engine.database.begin()
    ids = [await txn.insert(table, doc) for doc in docs]
    await engine.database.commit(txn)
    return ids


async def _all(engine: Engine, table: str) -> list[dict[str, Any]]:
    txn = engine.database.begin(read_only=True)
    try:
        return list(await engine.database.query(txn, table).collect())
    finally:
        txn.close()


async def _import(data: Path, path: Path, mode: str = "require_empty",
                  table: str | None = None, fmt: str = "zip") -> Any:
    async with Engine(APP, data, workers=0) as engine:
        parsed = parse_import(path, fmt, table)  # type: ignore[arg-type]
        return await import_parsed(engine.database, engine.files.blobs, parsed,
                                   mode)  # type: ignore[arg-type]


def _encoded(docs: list[dict[str, Any]]) -> list[bytes]:
    return sorted(dumps(doc) for doc in docs)


# Reactor values, with the awkward ones: int64 extremes, -0.0, inf, NaN, bytes, nesting.
_names = st.text(string.ascii_letters, min_size=1, max_size=6)
_leaves = (st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 63 - 1).map(Int64)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
           | st.binary(max_size=20))
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(_names, inner, max_size=4), max_leaves=12)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(values=st.lists(_values, min_size=0, max_size=12))
def test_round_trip_keeps_documents_and_creation_times(tmp_path_factory: Any,
                                                       values: list[Any]) -> None:
    base = tmp_path_factory.mktemp("round")

    async def run() -> None:
        async with Engine(APP, base / "a", workers=0) as engine:
            await _insert(engine, "items", [{"value": value} for value in values])
            users = await _insert(engine, "users", [{"name": "ada", "age": Int64(36)}])
            await _insert(engine, "tasks", [{"title": "write the report", "owner": users[0],
                                             "done": False, "rank": -0.0}])
            before = {table: await _all(engine, table) for table in ("items", "users", "tasks")}
        result = await export_data_dir(base / "a", base / "snapshot.zip")
        assert result.tables["items"] == len(values)
        await _import(base / "b", base / "snapshot.zip")
        async with Engine(APP, base / "b", workers=0) as engine:
            for table, docs in before.items():
                assert _encoded(await _all(engine, table)) == _encoded(docs), table
            hits = await engine.run_query("tasks:search", {"text": "report"})
            assert [hit["_id"] for hit in hits.value] == [before["tasks"][0]["_id"]]

    asyncio.run(run())


def _line(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


def _convex_snapshot(path: Path, *, include_file: bool = True) -> dict[str, Any]:
    """A snapshot zip as Convex writes one, built from its documented layout."""
    user_id = "jd7f3a8k2m9q4r5t6v7w8x9y0z1b2c3d"
    task_id = "kx1b2c3d4e5f6g7h8j9k0m1n2p3q4r5s"
    file_id = "kg2h8s7d6f5g4h3j2k1l0z9x8c7v6b5n"
    content = b"hello from convex"
    files = {
        "README.md": b"This is a Convex snapshot export.\n",
        "_tables/documents.jsonl": _line({"name": "users", "id": 10001})
        + _line({"name": "tasks", "id": 10002}),
        "users/generated_schema.jsonl": b'"uniform"\n',
        "users/documents.jsonl": _line({
            "_id": user_id, "_creationTime": 1700000000000.5, "name": "Ada",
            "age": 36, "avatar": file_id,
            "key": {"$bytes": base64.b64encode(b"\x00\xff").decode()}}),
        "tasks/generated_schema.jsonl": b'"uniform"\n',
        "tasks/documents.jsonl": _line({
            "_id": task_id, "_creationTime": 1700000000001.25, "title": "Port the app",
            "owner": user_id, "done": True, "rank": 2.0}),
        "_storage/documents.jsonl": _line({
            "_id": file_id, "_creationTime": 1699999999999.0,
            "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode(),
            "size": len(content), "contentType": "text/plain"}),
    }
    if include_file:
        files[f"_storage/{file_id}"] = content
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return {"user": user_id, "task": task_id, "file": file_id, "content": content}


async def test_a_convex_snapshot_imports_with_ids_mapped_and_references_rewritten(
        tmp_path: Path) -> None:
    ids = _convex_snapshot(tmp_path / "convex.zip")
    report = await _import(tmp_path / "data", tmp_path / "convex.zip")
    assert report.tables == {"_storage": 1, "users": 1, "tasks": 1}
    assert report.mapped_ids == 3 and report.files == 1
    async with Engine(APP, tmp_path / "data", workers=0) as engine:
        (user,) = await _all(engine, "users")
        (task,) = await _all(engine, "tasks")
        assert user["_id"] != ids["user"] and task["owner"] == user["_id"]
        assert user["_creationTime"] == 1700000000000.5
        assert task["_creationTime"] == 1700000000001.25
        assert user["age"] == 36 and isinstance(user["age"], Int64)
        assert user["key"] == b"\x00\xff" and task["rank"] == 2.0
        assert await engine.files.get_bytes(user["avatar"]) == ids["content"]
        owned = await engine.run_query("tasks:byOwner", {"owner": user["_id"]})
        assert [t["title"] for t in owned.value] == ["Port the app"]


async def test_our_export_has_convex_layout_and_encoding(tmp_path: Path) -> None:
    async with Engine(APP, tmp_path / "a", workers=0) as engine:

        async def chunks():  # type: ignore[no-untyped-def]
            yield b"file bytes"

        file_id = await engine.files.store(chunks(), "text/plain")
        await _insert(engine, "users", [{"name": "Ada", "age": Int64(2 ** 40),
                                         "avatar": file_id, "key": b"\x01"}])
        await _insert(engine, "items", [{"value": [1.0, -0.0, math.inf, "x"]}])
    blobs = LocalBlobStore(tmp_path / "a" / "files")
    try:
        await export_data_dir(tmp_path / "a", tmp_path / "out.zip", blobs=blobs)
    finally:
        await blobs.close()
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        names = set(archive.namelist())
        stored = json.loads(archive.read("_storage/documents.jsonl"))
        assert {"README.md", "_tables/documents.jsonl", "users/documents.jsonl",
                "users/generated_schema.jsonl", "_storage/documents.jsonl",
                f"_storage/{stored['_id']}"} <= names
        assert archive.read("users/generated_schema.jsonl") == b'"uniform"\n'
        tables = [json.loads(x) for x in archive.read("_tables/documents.jsonl").splitlines()]
        assert {t["name"] for t in tables} == {"users", "tasks", "items"}
        assert all(isinstance(t["id"], int) for t in tables)
        user_line = archive.read("users/documents.jsonl").decode()
        assert f'"age":{2 ** 40}' in user_line and '"key":{"$bytes":"AQ=="}' in user_line
        assert json.loads(user_line)["avatar"] == stored["_id"] != file_id
        item_line = archive.read("items/documents.jsonl").decode()
        assert '[1.0,-0.0,{"$float":"AAAAAAAA8H8="},"x"]' in item_line
        assert stored["sha256"] == base64.b64encode(hashlib.sha256(b"file bytes").digest()
                                                    ).decode()
        assert stored["size"] == 10
        assert archive.read(f"_storage/{stored['_id']}") == b"file bytes"
    # And it imports back, file included, with the same (Reactor) ids.
    await _import(tmp_path / "b", tmp_path / "out.zip")
    async with Engine(APP, tmp_path / "b", workers=0) as engine:
        (user,) = await _all(engine, "users")
        assert user["avatar"] == file_id
        assert await engine.files.get_bytes(file_id) == b"file bytes"


_CONVEX_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _decode_convex_id(text: str) -> tuple[int, bytes]:
    """A Convex id, decoded by hand from the documented format (independent of the
    exporter): base32 -> varint table number + 16 bytes + Fletcher-16 footer."""
    bits = "".join(format(_CONVEX_ALPHABET.index(char), "05b") for char in text)
    whole = len(bits) // 8
    assert set(bits[whole * 8:]) <= {"0"}, "non-zero padding bits"
    raw = bytes(int(bits[i * 8:i * 8 + 8], 2) for i in range(whole))
    number, shift, position = 0, 0, 0
    while True:
        number |= (raw[position] & 0x7F) << shift
        shift += 7
        position += 1
        if raw[position - 1] < 0x80:
            break
    assert number > 0 and len(raw) == position + 16 + 2
    c0 = c1 = 0
    for byte in raw[:-2]:
        c0 = (c0 + byte) % 256
        c1 = (c1 + c0) % 256
    assert raw[-2:] == bytes([c0, c1]), "Fletcher-16 footer"
    return number, raw[position:position + 16]


@settings(max_examples=200, deadline=None)
@given(number=st.integers(1, 2 ** 32 - 1), internal=st.binary(min_size=16, max_size=16))
def test_convex_id_codec_matches_the_documented_format(number: int, internal: bytes) -> None:
    from reactor.runtime.snapshots.convex_ids import decode_convex_id, encode_convex_id

    text = encode_convex_id(number, internal)
    assert _decode_convex_id(text) == (number, internal)
    assert decode_convex_id(text) == (number, internal)
    assert decode_convex_id(text[:30]) is None
    if text.upper() != text:
        assert decode_convex_id(text.upper()) is None


async def test_export_ids_are_valid_convex_ids_and_references_follow(tmp_path: Path) -> None:
    async with Engine(APP, tmp_path / "a", workers=0) as engine:

        async def chunks():  # type: ignore[no-untyped-def]
            yield b"avatar"

        file_id = await engine.files.store(chunks(), "image/png")
        users = await _insert(engine, "users", [{"name": f"u{n}", "avatar": file_id}
                                                for n in range(3)])
        await _insert(engine, "tasks", [{"title": "t", "owner": users[0], "done": False,
                                         "rank": 1.0, "helpers": [{"who": users[1]},
                                                                  {"who": users[2]}]}])
        await _insert(engine, "items", [{"value": {"ref": users[2], "text": "keep me"}}])
        before = {table: await _all(engine, table) for table in ("users", "tasks", "items")}
    blobs = LocalBlobStore(tmp_path / "a" / "files")
    try:
        await export_data_dir(tmp_path / "a", tmp_path / "out.zip", blobs=blobs)
    finally:
        await blobs.close()
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        numbers = {json.loads(x)["name"]: json.loads(x)["id"]
                   for x in archive.read("_tables/documents.jsonl").splitlines()}
        docs = {table: [json.loads(x) for x in archive.read(f"{table}/documents.jsonl")
                        .splitlines()] for table in ("users", "tasks", "items")}
        (stored,) = [json.loads(x) for x in archive.read("_storage/documents.jsonl")
                     .splitlines()]
    assert len(set(numbers.values())) == 3 and all(n >= 10001 for n in numbers.values())
    exported: dict[str, set[str]] = {}
    for table, lines in docs.items():
        for doc in lines:
            number, internal = _decode_convex_id(doc["_id"])
            assert number == numbers[table] and len(internal) == 16
            exported.setdefault(table, set()).add(doc["_id"])
    assert _decode_convex_id(stored["_id"])[0] == 540  # Convex's default `_storage` number
    # Every reference names an exported document: v.id fields, nested ones, and ids in
    # a v.any() field; other strings are untouched.
    (task,) = docs["tasks"]
    assert task["owner"] in exported["users"]
    assert [h["who"] for h in task["helpers"]] == [
        d["_id"] for d in docs["users"][1:]]
    assert all(user["avatar"] == stored["_id"] for user in docs["users"])
    (item,) = docs["items"]
    assert item["value"] == {"ref": docs["users"][2]["_id"], "text": "keep me"}
    # Reactor reads its export back with the original ids, references included.
    await _import(tmp_path / "b", tmp_path / "out.zip")
    async with Engine(APP, tmp_path / "b", workers=0) as engine:
        for table, docs_before in before.items():
            assert _encoded(await _all(engine, table)) == _encoded(docs_before), table
        assert await engine.files.get_bytes(file_id) == b"avatar"
    # Without the marker file Reactor treats the ids as another system's: new ids,
    # references rewritten consistently.
    with zipfile.ZipFile(tmp_path / "out.zip") as source, \
            zipfile.ZipFile(tmp_path / "foreign.zip", "w") as target:
        for name in source.namelist():
            if not name.startswith("_reactor/"):
                target.writestr(name, source.read(name))
    await _import(tmp_path / "c", tmp_path / "foreign.zip")
    async with Engine(APP, tmp_path / "c", workers=0) as engine:
        new_users = {u["name"]: u["_id"] for u in await _all(engine, "users")}
        (new_task,) = await _all(engine, "tasks")
        assert set(new_users.values()).isdisjoint(users)
        assert new_task["owner"] == new_users["u0"]
        assert [h["who"] for h in new_task["helpers"]] == [new_users["u1"], new_users["u2"]]


async def test_reactor_id_format_keeps_reactor_ids(tmp_path: Path) -> None:
    async with Engine(APP, tmp_path / "a", workers=0) as engine:
        (user,) = await _insert(engine, "users", [{"name": "Ada"}])
    await export_data_dir(tmp_path / "a", tmp_path / "out.zip", id_format="reactor")
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert json.loads(archive.read("users/documents.jsonl"))["_id"] == user
        assert "_reactor/export.json" not in archive.namelist()
    with pytest.raises(ReactorError) as raised:
        await export_data_dir(tmp_path / "a", tmp_path / "bad.zip",
                              id_format="uuid")  # type: ignore[arg-type]
    assert raised.value.code == "ExportInvalid"


async def test_invalid_documents_name_line_and_field_and_nothing_is_written(
        tmp_path: Path) -> None:
    path = tmp_path / "tasks.jsonl"
    async with Engine(APP, tmp_path / "data", workers=0) as engine:
        owner = (await _insert(engine, "users", [{"name": "x"}]))[0]
    good = {"title": "t", "owner": owner, "done": False, "rank": 1}
    path.write_bytes(_line(good) * 3 + _line({**good, "done": "no"}) + _line(good))
    with pytest.raises(ReactorError) as failed:
        await _import(tmp_path / "data", path, table="tasks", fmt="jsonl")
    assert "line 4" in failed.value.message and "doc.done" in failed.value.message
    assert failed.value.code == "ValidationError" and "expected boolean" in failed.value.message
    async with Engine(APP, tmp_path / "data", workers=0) as engine:
        assert await _all(engine, "tasks") == []
    path.write_bytes(_line(good) + b"{not json\n")
    with pytest.raises(ReactorError) as bad_json:
        await _import(tmp_path / "data", path, table="tasks", fmt="jsonl")
    assert bad_json.value.code == "ImportInvalid" and "line 2" in bad_json.value.message


async def test_modes_require_empty_append_and_replace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = tmp_path / "items.jsonl"
    path.write_bytes(b"".join(_line({"value": n}) for n in range(5)))
    await _import(data, path, table="items", fmt="jsonl")
    with pytest.raises(ReactorError) as refused:
        await _import(data, path, table="items", fmt="jsonl")
    assert refused.value.code == "ImportTableNotEmpty"
    await _import(data, path, "append", table="items", fmt="jsonl")
    async with Engine(APP, data, workers=0) as engine:
        assert len(await _all(engine, "items")) == 10
        # JSON lines use the wire form: bare numbers are float64.
        assert all(isinstance(d["value"], float) for d in await _all(engine, "items"))
    path.write_bytes(_line({"value": "only"}))
    await _import(data, path, "replace", table="items", fmt="jsonl")
    async with Engine(APP, data, workers=0) as engine:
        assert [d["value"] for d in await _all(engine, "items")] == ["only"]
    # Replacing a table with its own export keeps the same ids (same document, same ts).
    await export_data_dir(data, tmp_path / "self.zip")
    await _import(data, tmp_path / "self.zip", "replace")
    async with Engine(APP, data, workers=0) as engine:
        assert [d["value"] for d in await _all(engine, "items")] == ["only"]


def test_cli_import_and_export_of_csv_and_json(tmp_path: Path) -> None:
    def reactor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reactor", *args], cwd=REPO_ROOT,
                              env=dict(os.environ), capture_output=True, text=True,
                              timeout=120)

    data = tmp_path / "data"
    csv_path = tmp_path / "users.csv"
    csv_path.write_text("name\nAda\nGrace\n")
    done = reactor("import", str(csv_path), "--table", "users", "--app", str(APP),
                   "--data", str(data))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tables"] == {"users": 2}
    assert "import: users: 2 documents" in done.stderr
    json_path = tmp_path / "items.json"
    json_path.write_text(json.dumps([{"value": {"$integer": base64.b64encode(
        (7).to_bytes(8, "little")).decode()}}]))
    done = reactor("import", str(json_path), "--table", "items", "--app", str(APP),
                   "--data", str(data), "--append")
    assert done.returncode == 0, done.stderr
    with pytest.raises(ReactorError) as missing:
        parse_import(json_path, "json", None)
    assert missing.value.code == "ImportInvalid" and "--table" in missing.value.message
    out = tmp_path / "snap.zip"
    done = reactor("export", "--path", str(out), "--data", str(data))
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        assert archive.read("items/documents.jsonl") == b'{"_id":' + archive.read(
            "items/documents.jsonl")[7:]
        assert b'"value":7}' in archive.read("items/documents.jsonl")


async def test_write_stream_is_all_or_nothing_on_both_backends(tmp_path: Path,
                                                              db_url: str | None) -> None:
    from reactor.storage import CommitRecord, DocumentWrite, IndexWrite
    from reactor.storage.choose import make_storage

    store = make_storage(tmp_path / "data", db_url)
    await store.open()
    try:
        def record(ts: int, first: int, count: int, *, deleted: bool = False
                   ) -> CommitRecord:
            docs = [DocumentWrite(f"d{n}", "t", None if deleted else {"_id": f"d{n}", "n": n})
                    for n in range(first, first + count)]
            keys = [IndexWrite("t.by_n", n.to_bytes(4, "big"), f"d{n}", deleted)
                    for n in range(first, first + count)]
            return CommitRecord(ts, docs, keys)

        async def failing() -> Any:
            yield record(10, 0, 100)
            raise RuntimeError("the producer failed")

        with pytest.raises(RuntimeError):
            await store.write_stream(failing(), {"last_ts": 10})
        assert await store.get_document("d1", 10) is None
        assert (await store.read_globals()).get("last_ts") is None

        async def batches() -> Any:
            for first in range(0, 300, 100):
                yield record(10, first, 100)

        await store.write_stream(batches(), {"last_ts": 10})
        assert await store.index_entry_count("t.by_n") == 300
        assert (await store.read_globals())["last_ts"] == 10

        # A tombstone then a new revision of the same document at the same ts: the later
        # row wins (what replacing a table with its own export writes).
        async def replace() -> Any:
            yield record(20, 0, 300, deleted=True)
            yield record(20, 0, 2)

        await store.write_stream(replace(), {"last_ts": 20})
        assert await store.index_entry_count("t.by_n") == 2
        assert await store.get_document("d1", 20) == {"_id": "d1", "n": 1}
        assert await store.get_document("d5", 20) is None
        assert await store.get_document("d5", 10) is not None
    finally:
        await store.close()


def test_commands_against_a_running_server(tmp_path: Path) -> None:
    from e2e_support import ReactorServer
    from sync_support import http_json

    from reactor.runtime.auth import AdminKey

    def reactor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "reactor", *args], cwd=REPO_ROOT,
                              env=dict(os.environ), capture_output=True, text=True,
                              timeout=120)

    lines = tmp_path / "items.jsonl"
    lines.write_bytes(b"".join(_line({"value": n}) for n in range(40)))
    with ReactorServer(APP, tmp_path / "live") as server:
        key = AdminKey.load_or_create(tmp_path / "live").value
        remote = ["--url", server.url, "--admin-key", key]
        done = reactor("import", str(lines), "--table", "items", *remote)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["tables"] == {"items": 40}
        status, counted = http_json(f"{server.url}/api/query",
                                    {"path": "items:count", "args": {}})
        assert status == 200 and counted["value"] == 40
        status, refused = http_json(f"{server.url}/api/admin/import?table=items&format=jsonl",
                                    headers={"Authorization": "Convex wrong"})
        assert status in (401, 403) and refused["code"]
        status, again = http_json(f"{server.url}/api/admin/import?table=items&format=jsonl",
                                  headers={"Authorization": f"Convex {key}"})
        assert status == 400 and again["code"] == "ImportTableNotEmpty"
        done = reactor("export", "--path", str(tmp_path / "e.zip"), *remote)
        assert done.returncode == 0, done.stderr
        with zipfile.ZipFile(tmp_path / "e.zip") as archive:
            assert len(archive.read("items/documents.jsonl").splitlines()) == 40
            assert "_reactor/export.json" in archive.namelist()
        done = reactor("export", "--path", str(tmp_path / "r.zip"), "--id-format", "reactor",
                       *remote)
        assert done.returncode == 0, done.stderr
        with zipfile.ZipFile(tmp_path / "r.zip") as archive:
            assert "_reactor/export.json" not in archive.namelist()
        status, bad = http_json(f"{server.url}/api/admin/export?idFormat=uuid",
                                headers={"Authorization": f"Convex {key}"})
        assert status == 400 and bad["code"] == "BadRequest"
        secret = tmp_path / "pass"
        secret.write_text("pw")
        done = reactor("backup", "--out", str(tmp_path / "b.rbk"), "--passphrase-file",
                       str(secret), *remote)
        assert done.returncode == 0, done.stderr
    done = reactor("restore", str(tmp_path / "b.rbk"), "--data", str(tmp_path / "back"),
                   "--passphrase-file", str(secret))
    assert done.returncode == 0, done.stderr
    assert AdminKey.load_or_create(tmp_path / "back").value == key


async def test_export_reads_tables_in_bounded_pages(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from reactor.storage import SqliteStorage
    from reactor.transactions.table_scan import PAGE

    async with Engine(APP, tmp_path / "a", workers=0) as engine:
        for start in range(0, 2500, 500):
            await _insert(engine, "items", [{"value": n} for n in range(start, start + 500)])
    limits: list[int] = []
    original = SqliteStorage.scan_index

    async def scan(self: SqliteStorage, *args: Any) -> Any:
        limits.append(args[-1])
        return await original(self, *args)

    monkeypatch.setattr(SqliteStorage, "scan_index", scan)
    result = await export_data_dir(tmp_path / "a", tmp_path / "out.zip")
    assert result.tables["items"] == 2500
    # Memory follows the page, not the table: no read asks for more than one page.
    assert max(limits) == PAGE and len(limits) >= 2500 // PAGE
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        values = [json.loads(line)["value"] for line in
                  archive.read("items/documents.jsonl").splitlines()]
    assert values == [float(n) for n in range(2500)]


async def test_replace_import_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    # The snapshots app has a text search index, which PostgreSQL does not serve yet.
    basic = Path(__file__).parent / "apps" / "basic"
    path = tmp_path / "accounts.jsonl"
    path.write_bytes(b"".join(_line({"name": f"a{n}", "balance": n}) for n in range(30)))
    async with Engine(basic, tmp_path / "data", workers=0, db_url=postgres_url) as engine:
        first = await import_parsed(engine.database, engine.files.blobs,
                                    parse_import(path, "jsonl", "accounts"), "require_empty")
        assert first.tables == {"accounts": 30}
        path.write_bytes(_line({"name": "new", "balance": 1}))
        await import_parsed(engine.database, engine.files.blobs,
                            parse_import(path, "jsonl", "accounts"), "replace")
        assert [d["name"] for d in await _all(engine, "accounts")] == ["new"]
        txn = engine.database.begin(read_only=True)
        found = await engine.database.query(txn, "accounts").with_index(
            "by_name", lambda q: q.eq("name", "new")).collect()
        txn.close()
        assert len(found) == 1


async def test_json_lines_decode_as_the_wire_form_with_or_without_tags(tmp_path: Path) -> None:
    plain, tagged = tmp_path / "plain.jsonl", tmp_path / "tagged.jsonl"
    rows = [{"value": 2 ** 60}, {"value": [1, {"k": 2.5}]}, {"value": "$5"}]
    plain.write_bytes(b"".join(_line(row) for row in rows[:2]))
    tagged.write_bytes(b"".join(_line(row) for row in rows))
    await _import(tmp_path / "a", plain, table="items", fmt="jsonl")
    await _import(tmp_path / "b", tagged, table="items", fmt="jsonl")
    for data in (tmp_path / "a", tmp_path / "b"):
        async with Engine(APP, data, workers=0) as engine:
            values = [d["value"] for d in await _all(engine, "items")]
        assert values[:2] == [float(2 ** 60), [1.0, {"k": 2.5}]]
        assert isinstance(values[0], float) and not isinstance(values[0], Int64)
