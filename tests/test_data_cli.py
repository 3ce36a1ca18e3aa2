"""`reactor data`: tables with counts and a table's documents, from a stopped server's data
directory and from a running server (`--url`)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from e2e_support import REPO_ROOT, ReactorServer
from sync_support import http_json

from reactor.cli.main import main
from reactor.runtime.auth import AdminKey

APP = Path(__file__).parent / "apps" / "ops"


def reactor(*args: str) -> subprocess.CompletedProcess[str]:
    """`reactor ARGS` run in this process, with its output and exit code (the server is a
    real process; an interpreter per command would only add seconds)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def rows(output: str) -> list[list[str]]:
    """The cells of each body row of a printed table."""
    return [[cell.strip() for cell in line.strip("│").split("│")]
            for line in output.splitlines() if line.startswith("│")]


def test_data_lists_tables_and_documents_locally_and_from_a_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    local = ["--app", str(APP), "--data", str(data)]
    for body, rank in (("first", 1), ("[bold]markup stays text[/bold]", 2.5), ("third", 3)):
        added = reactor("run", "notes:add", f'{{"body": "{body}", "rank": {rank}}}', *local)
        assert added.returncode == 0, added.stderr
    tables = subprocess.run([sys.executable, "-m", "reactor", "data", *local], cwd=REPO_ROOT,
                            env=os.environ, capture_output=True, text=True, timeout=60)
    assert tables.returncode == 0, tables.stderr
    assert rows(tables.stdout) == [["notes", "3"], ["tags", "0"]]
    newest = reactor("data", "notes", *local)
    assert [row[2:] for row in rows(newest.stdout)] == [
        ["third", "3"], ["[bold]markup stays text[/bold]", "2.5"], ["first", "1"]]
    header = next(line for line in newest.stdout.splitlines() if line.startswith("┃"))
    assert [c.strip() for c in header.strip("┃").split("┃")] == \
        ["_id", "_creationTime", "body", "rank"]
    oldest = reactor("data", "notes", "--order", "asc", "--limit", "2", *local)
    assert [row[2] for row in rows(oldest.stdout)] == ["first", "[bold]markup stays text[/bold]"]
    assert "2 of 3 documents (oldest first)" in oldest.stdout
    assert reactor("data", "tags", *local).stdout.strip() == "tags has no documents"
    missing = reactor("data", "nope", *local)
    assert missing.returncode == 1
    assert "error [TableNotFound]: there is no table 'nope' (tables: notes, tags)" \
        in missing.stderr
    bad_limit = reactor("data", "notes", "--limit", "0", *local)
    assert bad_limit.returncode == 1 and "BadArguments" in bad_limit.stderr

    with ReactorServer(APP, data) as server:
        http_json(f"{server.url}/api/mutation", {"path": "notes:add", "args": {"body": "live"}})
        remote = ["--url", server.url, "--admin-key", AdminKey.load_or_create(data).value]
        assert rows(reactor("data", *remote).stdout) == [["notes", "4"], ["tags", "0"]]
        latest = reactor("data", "notes", "--limit", "1", *remote)
        assert [row[2:] for row in rows(latest.stdout)] == [["live", "0"]]
        assert "1 of 4 documents (newest first)" in latest.stdout
        refused = reactor("data", "--url", server.url, "--admin-key", "reactor_admin_nope")
        assert refused.returncode == 1 and "the admin key is not valid" in refused.stderr
