"""The commands that open a deployment without a server, on PostgreSQL (`--db`): `run`,
`data`, `export` and `import` use the database (never the SQLite data directory), with
or without a node serving it; `backup`, `restore` and `logs` refuse it, saying what to
use instead."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest
from e2e_support import ReactorServer

from reactor.cli.main import main

APP = Path(__file__).parent / "apps" / "ledger"


def reactor(*args: str) -> subprocess.CompletedProcess[str]:
    """`reactor ARGS` run in this process, with its output and exit code."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def ok(*args: str) -> str:
    done = reactor(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cells(output: str) -> set[str]:
    """Every cell of a table `reactor data` printed."""
    return {cell.strip() for line in output.splitlines() if line.startswith("│")
            for cell in line.strip("│").split("│")}


def query(url: str, path: str) -> object:
    request = urllib.request.Request(f"{url}/api/query", data=json.dumps(
        {"path": path, "args": [{}]}).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["value"]


@pytest.fixture(autouse=True)
def no_db_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REACTOR_DB_URL", raising=False)


def test_run_data_export_and_import_use_the_database(tmp_path: Path, postgres_url: str) -> None:
    """With no node serving it: `run` commits to the database, `data` reads it, `export`
    writes its snapshot and `import` loads that into another schema. The data directory
    gets no SQLite database."""
    data = tmp_path / "data"
    app = ["--app", str(APP), "--data", str(data)]
    ok("run", "ledger:open_accounts", '{"names": ["x", "y"], "balance": 10}', *app,
       "--db", postgres_url)
    assert json.loads(ok("run", "ledger:summary", *app, "--db", postgres_url)) == {
        "total": 20, "moves": 0}
    assert not (data / "reactor.sqlite3").exists()
    # Without --db the same data directory is an empty SQLite deployment.
    assert json.loads(ok("run", "ledger:summary", *app)) == {"total": 0, "moves": 0}

    assert {"x", "y"} <= cells(ok("data", "accounts", *app, "--db", postgres_url))
    snapshot = tmp_path / "snapshot.zip"
    ok("export", "--path", str(snapshot), *app, "--db", postgres_url)
    with zipfile.ZipFile(snapshot) as archive:
        lines = archive.read("accounts/documents.jsonl").decode().splitlines()
    assert sorted(json.loads(line)["name"] for line in lines) == ["x", "y"]

    other = postgres_url.rsplit("=", 1)[0] + f"=t_{uuid.uuid4().hex[:16]}"
    ok("import", str(snapshot), *app, "--db", other)
    assert json.loads(ok("run", "ledger:summary", *app, "--db", other)) == {
        "total": 20, "moves": 0}


def test_commands_beside_a_running_node(tmp_path: Path, postgres_url: str) -> None:
    """While a node serves the database: `run` commits through it, `data` and `export`
    read the database, `import` refuses and names --url."""
    node = ReactorServer(APP, tmp_path / "node", args=["--db", postgres_url])
    app = ["--app", str(APP), "--data", str(tmp_path / "cli"), "--db", postgres_url]
    with node:
        ok("run", "ledger:open_accounts", '{"names": ["x", "y"], "balance": 10}', *app)
        ok("run", "ledger:transfer", json.dumps({"client": "cli", "seq": 1, "source": "x",
                                                  "target": "y", "amount": 3}), *app)
        audit = query(node.url, "ledger:audit")
        assert isinstance(audit, dict)
        assert {a["name"]: a["balance"] for a in audit["accounts"]} == {"x": 7, "y": 13}
        assert "cli" in cells(ok("data", "transfers", *app))
        snapshot = tmp_path / "snapshot.zip"
        ok("export", "--path", str(snapshot), *app)
        with zipfile.ZipFile(snapshot) as archive:
            assert len(archive.read("transfers/documents.jsonl").decode().splitlines()) == 1
        refused = reactor("import", str(snapshot), "--table", "transfers", "--append", *app)
        assert refused.returncode == 1
        assert "a Reactor node is serving this database" in refused.stderr
        assert "--url" in refused.stderr


def test_sqlite_only_commands_refuse_the_database(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://reactor@db.invalid/app"
    app = ["--app", str(APP), "--data", str(tmp_path / "data")]
    backup = reactor("backup", "--out", str(tmp_path / "b.tar"), *app, "--db", url)
    assert backup.returncode == 1
    assert "--db names a PostgreSQL database" in backup.stderr and "pg_dump" in backup.stderr
    restore = reactor("restore", str(tmp_path / "b.tar"), "--data", str(tmp_path / "r"),
                      "--db", url)
    assert restore.returncode == 1 and "reactor export --db" in restore.stderr
    logs = reactor("logs", *app, "--db", url)
    assert logs.returncode == 1 and "its own data directory" in logs.stderr
    # The deployment's variable counts as --db: a backup would copy the wrong thing.
    monkeypatch.setenv("REACTOR_DB_URL", url)
    backup = reactor("backup", "--out", str(tmp_path / "b.tar"), *app)
    assert backup.returncode == 1 and "REACTOR_DB_URL names" in backup.stderr
    assert not (tmp_path / "b.tar").exists()
