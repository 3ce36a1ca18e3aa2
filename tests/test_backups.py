"""`reactor backup` / `reactor restore`: consistent online copies, checks, keys, crashes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from e2e_support import REPO_ROOT, ReactorServer

from reactor.errors import ReactorError
from reactor.runtime import Engine
from reactor.runtime.auth import AdminKey
from reactor.runtime.backups import restore_backup, verify_backup, write_backup
from reactor.runtime.backups.backup import sweep_partials

APP = Path(__file__).parent / "apps" / "files"


async def _fill(engine: Engine, count: int) -> str:
    """`count` messages, the first with a stored file; the file's storage id."""

    async def chunks():  # type: ignore[no-untyped-def]
        yield b"attached bytes " * 100

    storage_id = await engine.files.store(chunks(), "text/plain")
    txn = engine.database.begin()
    for index in range(count):
        doc = {"author": "ada", "body": f"message {index}", "format": "text"}
        if index == 0:
            doc["file"] = storage_id
        await txn.insert("messages", doc)
    await engine.database.commit(txn)
    return storage_id


def reactor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reactor", *args], cwd=REPO_ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=120)


async def test_online_backup_restores_data_files_and_keys(tmp_path: Path) -> None:
    live = tmp_path / "live"
    async with Engine(APP, live, workers=0) as engine:
        storage_id = await _fill(engine, 25)

        async def large():  # type: ignore[no-untyped-def]
            yield b"large " * 20_000  # past the inline size: a blob file

        large_id = await engine.files.store(large(), "text/plain")
        token = engine.issuer.issue_token("user-1", expires_in=3600)
        admin_key = AdminKey.load_or_create(live).value
        # The engine holds the data directory: the backup runs beside it.
        result = await write_backup(live, tmp_path / "b.rbk")
        txn = engine.database.begin()
        await txn.insert("messages", {"author": "bob", "body": "after", "format": "text"})
        await engine.database.commit(txn)
    assert result.manifest.tables["messages"] == 25
    assert result.manifest.tables["_storage"] == 2
    assert "reactor.sqlite3" in result.manifest.files
    # The large file's blob is copied; the small one is in the database (the copy holds it).
    assert [name for name in result.manifest.files if name.startswith("files/")] == [
        f"files/{hashlib.sha256(b'large ' * 20_000).hexdigest()}"]

    restored = tmp_path / "restored"
    manifest = await restore_backup(result.path, restored)
    assert manifest.ts == result.manifest.ts
    assert AdminKey.load_or_create(restored).value == admin_key
    # A fresh process on the restored directory: the old token verifies, data and file are
    # there, and the message committed after the backup is not.
    script = textwrap.dedent(f"""
        import asyncio, json
        from reactor.runtime import Engine
        async def main():
            async with Engine({str(APP)!r}, {str(restored)!r}, workers=0) as engine:
                claims = await engine.token_verifier().verify({token!r})
                txn = engine.database.begin(read_only=True)
                docs = await engine.database.query(txn, "messages").collect()
                data = await engine.files.get_bytes({storage_id!r})
                large = await engine.files.get_bytes({large_id!r})
                print(json.dumps({{"sub": claims["subject"], "count": len(docs),
                                   "bodies": sorted(d["body"] for d in docs)[:1],
                                   "after": any(d["body"] == "after" for d in docs),
                                   "file": len(data or b""), "large": len(large or b"")}}))
        asyncio.run(main())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"sub": "user-1", "count": 25, "bodies": ["message 0"], "after": False,
                    "file": len(b"attached bytes " * 100), "large": len(b"large " * 20_000)}


async def test_encrypted_backup_needs_its_passphrase(tmp_path: Path) -> None:
    live = tmp_path / "live"
    async with Engine(APP, live, workers=0) as engine:
        await _fill(engine, 3)
    result = await write_backup(live, tmp_path / "b.enc", passphrase="correct horse")
    raw = result.path.read_bytes()
    assert b"message 1" not in raw and b"reactor_admin_" not in raw
    with pytest.raises(ReactorError) as missing:
        await restore_backup(result.path, tmp_path / "r0")
    assert missing.value.code == "BackupPassphraseMissing"
    with pytest.raises(ReactorError) as wrong:
        await restore_backup(result.path, tmp_path / "r1", passphrase="wrong")
    assert wrong.value.code == "BackupDecryptFailed"
    assert not (tmp_path / "r1").exists()
    # Cut short: the last sealed chunk is missing, so it is not a shorter backup.
    cut = tmp_path / "cut.enc"
    cut.write_bytes(raw[: len(raw) - 40])
    with pytest.raises(ReactorError) as truncated:
        await verify_backup(cut, passphrase="correct horse")
    assert truncated.value.code == "BackupDecryptFailed"
    manifest = await restore_backup(result.path, tmp_path / "r2", passphrase="correct horse")
    assert manifest.encrypted and manifest.tables["messages"] == 3


async def test_restore_checks_before_touching_the_target(tmp_path: Path) -> None:
    live = tmp_path / "live"
    async with Engine(APP, live, workers=0) as engine:
        await _fill(engine, 4)
    result = await write_backup(live, tmp_path / "b.rbk")
    # A byte changed inside the database member: the checksum catches it.
    tampered = tmp_path / "tampered.rbk"
    _rewrite_member(result.path, tampered, "reactor.sqlite3")
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(ReactorError) as refused:
        await restore_backup(result.path, target)
    assert refused.value.code == "RestoreTargetNotEmpty"
    with pytest.raises(ReactorError) as bad:
        await restore_backup(tampered, target, force=True)
    assert bad.value.code == "BackupInvalid" and "checksum" in bad.value.message
    assert (target / "keep.txt").read_text() == "precious"
    await restore_backup(result.path, target, force=True)
    assert not (target / "keep.txt").exists()
    assert (target / "reactor.sqlite3").is_file()
    assert not list(tmp_path.glob(".target.*"))


def _rewrite_member(source: Path, dest: Path, name: str) -> None:
    with tarfile.open(source) as old, tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == name:
                data = data[:-100] + bytes([data[-100] ^ 1]) + data[-99:]
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))


async def test_cli_backup_and_restore_a_stopped_deployment(tmp_path: Path) -> None:
    live = tmp_path / "live"
    async with Engine(APP, live, workers=0) as engine:
        await _fill(engine, 2)
    secret = tmp_path / "pass"
    secret.write_text("s3cret\n")
    out = tmp_path / "nightly.rbk"
    backed = reactor("backup", "--data", str(live), "--out", str(out),
                     "--passphrase-file", str(secret))
    assert backed.returncode == 0, backed.stderr
    summary = json.loads(backed.stdout)
    assert summary["encrypted"] and summary["documents"] >= 2
    with pytest.raises(ReactorError) as exists:
        await write_backup(live, out)
    assert exists.value.code == "BackupExists"
    restored = reactor("restore", str(out), "--data", str(tmp_path / "new"),
                       env={"REACTOR_BACKUP_PASSPHRASE": "s3cret"})
    assert restored.returncode == 0, restored.stderr
    refused = reactor("restore", str(out), "--data", str(tmp_path / "new"),
                      "--passphrase-file", str(secret))
    assert refused.returncode == 1 and "RestoreTargetNotEmpty" in refused.stderr


_KILLED_BACKUP = """
import asyncio, sys
from pathlib import Path
from reactor.runtime.backups import write_backup
asyncio.run(write_backup(Path(sys.argv[1]), Path(sys.argv[2])))
"""


async def test_sigkill_during_a_backup_leaves_no_complete_looking_file(tmp_path: Path) -> None:
    live = tmp_path / "live"
    async with Engine(APP, live, workers=0) as engine:
        await _fill(engine, 5)
        # Enough data that the backup takes a moment to write.
        blob = os.urandom(1024 * 1024)

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(48):
                yield blob

        await engine.files.store(chunks(), "application/octet-stream")
    before = (live / "reactor.sqlite3").read_bytes()
    backups = tmp_path / "backups"
    backups.mkdir()
    out = backups / "b.rbk"
    killed_midway = False
    for delay in (0.6, 0.9, 1.3, 1.8):
        process = subprocess.Popen([sys.executable, "-c", _KILLED_BACKUP, str(live), str(out)],
                                   cwd=REPO_ROOT)
        # Kill once the partial archive exists (the copy is under way).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(backups.glob(".b.rbk.partial-*")):
            time.sleep(0.005)
        time.sleep(delay / 20)
        process.send_signal(signal.SIGKILL)
        process.wait()
        if not out.exists():
            killed_midway = True
            break
        out.unlink()
    assert killed_midway, "every backup finished before the kill"
    assert not out.exists()
    assert (live / "reactor.sqlite3").read_bytes() == before
    assert sweep_partials(backups) >= 1
    assert not list(backups.iterdir())
    result = await write_backup(live, out)
    assert (await verify_backup(out)).tables == result.manifest.tables


def test_scheduled_backups_are_verified_and_pruned(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    with ReactorServer(APP, tmp_path / "live",
                       args=["--backup-every", "0.4s", "--backup-keep", "2",
                             "--backup-dir", str(folder)]) as server:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.log_path.read_text().count("verified") < 3:
            time.sleep(0.1)
        log = server.log_path.read_text()
        key = AdminKey.load_or_create(tmp_path / "live").value
        request = urllib.request.Request(f"{server.url}/api/debug/stats",
                                         headers={"Authorization": f"Convex {key}"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            status = json.loads(reply.read())["backups"]
    assert log.count("verified") >= 3, log
    assert status["runs"] >= 3 and status["failures"] == 0 and status["last"]["ok"]
    assert status["last"]["path"].startswith(str(folder))
    kept = sorted(folder.glob("backup-*.rbk"))
    assert 1 <= len(kept) <= 2
    assert not list(folder.glob("*.failed"))


def test_backup_flags_are_checked() -> None:
    from reactor.cli.main import _backup_schedule, build_parser

    def schedule(*flags: str) -> object:
        return _backup_schedule(build_parser().parse_args(["serve", str(APP), *flags]))

    assert schedule() is None
    for flags, text in ((["--backup-every", "soon", "--backup-dir", "x"], "--backup-every"),
                        (["--backup-every", "6h"], "--backup-dir"),
                        (["--backup-every", "6h", "--backup-dir", "x", "--backup-keep", "0"],
                         "--backup-keep")):
        with pytest.raises(ReactorError) as bad:
            schedule(*flags)
        assert bad.value.code == "BadConfig" and text in bad.value.message
    made = schedule("--backup-every", "1.5d", "--backup-dir", "x", "--backup-keep", "3")
    assert made.every_s == 1.5 * 86400 and made.keep == 3  # type: ignore[attr-defined]


async def test_a_token_issued_before_the_backup_works_on_a_server_of_the_restored_data(
        tmp_path: Path) -> None:
    from sync_support import http_json

    app = Path(__file__).parent / "apps" / "snapshots"
    async with Engine(app, tmp_path / "live", workers=0) as engine:
        token = engine.issuer.issue_token("user-7", expires_in=3600)
    result = await write_backup(tmp_path / "live", tmp_path / "b.rbk")
    await restore_backup(result.path, tmp_path / "restored")
    with ReactorServer(app, tmp_path / "restored") as server:
        status, reply = http_json(f"{server.url}/api/query",
                                  {"path": "items:whoami", "args": {}},
                                  headers={"Authorization": f"Bearer {token}"})
    assert status == 200 and reply["value"] == "user-7", reply
    # A server with other keys refuses the same token.
    with ReactorServer(app, tmp_path / "other") as server:
        status, reply = http_json(f"{server.url}/api/query",
                                  {"path": "items:whoami", "args": {}},
                                  headers={"Authorization": f"Bearer {token}"})
    assert status != 200 or reply.get("status") != "success", reply


async def test_restore_force_refuses_a_directory_in_use(tmp_path: Path) -> None:
    live = tmp_path / "live"
    async with Engine(APP, live, workers=0) as engine:
        await _fill(engine, 1)
    result = await write_backup(live, tmp_path / "b.rbk")
    async with Engine(APP, live, workers=0):
        with pytest.raises(ReactorError) as locked:
            await restore_backup(result.path, live, force=True)
        assert locked.value.code == "DataDirLocked"
    assert (live / "reactor.sqlite3").is_file()
    assert not list(tmp_path.glob(".live.*"))
