"""Data at rest: a real server creates its data directory 0700 and every file in it 0600,
even under umask 0, and warns at start about an existing directory open to others."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from e2e_support import ReactorServer
from sync_support import http_json

from reactor.storage.data_dir import prepare

APP = Path(__file__).parent / "apps" / "journal"


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """Child processes started inside inherit `mask`."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def modes(root: Path) -> dict[str, int]:
    """Mode of `root` ("." ) and of everything under it."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_a_server_under_umask_0_keeps_its_files_private(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    # The harness keeps its own log elsewhere; the server's --data is the new directory.
    with umask(0), ReactorServer(APP, tmp_path / "harness", args=["--data", str(data)]) as server:
        status, body = http_json(f"{server.url}/api/mutation", {
            "path": "journal:write", "args": [{"seq": 1, "payload": "secret"}]})
        assert status == 200 and body["status"] == "success", body
        found = modes(data)
    assert {"reactor.sqlite3", "reactor.sqlite3-wal", "reactor.sqlite3-shm", "LOCK",
            "auth"} <= set(found), found
    for name, mode in found.items():
        expected = 0o700 if (data / name).is_dir() else 0o600
        assert mode == expected, f"{name}: {mode:04o}"


def test_an_existing_directory_open_to_others_is_named_in_a_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)
    with ReactorServer(APP, tmp_path / "harness", args=["--data", str(data)]) as server:
        log = server.log()
    assert f"{data} has mode 0755" in log and "chmod 700" in log
    # Left as the operator set it.
    assert stat.S_IMODE(data.stat().st_mode) == 0o755


def test_prepare_lists_each_loose_entry(tmp_path: Path) -> None:
    with umask(0):
        prepare(tmp_path / "fresh")
        (tmp_path / "fresh" / "mine").write_text("x")
    assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
    warnings = prepare(tmp_path / "fresh")
    assert len(warnings) == 1 and "mine has mode 0666" in warnings[0]
