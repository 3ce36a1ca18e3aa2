"""`reactor migrate data --url URL --admin-key KEY`: the copy sent to a live server process
in batches, from a real PostgreSQL; killed midway, resumed without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from e2e_support import REPO_ROOT, ReactorServer
from prisma_support import FIXTURES, fill_seed, fresh_database, run_sql, server_or_skip
from sync_support import http_json
from test_migrate_prisma_data import APP_DIR, OLD_HASH, migrate, report_rows

from reactor.runtime.auth import AdminKey


def test_copy_into_a_running_server_resumes_after_a_kill(tmp_path: Path) -> None:
    server_or_skip()
    with fresh_database("reactor_prisma_remote") as url, \
            ReactorServer(APP_DIR, tmp_path / "live") as server:
        run_sql(url, (FIXTURES / "seed.sql").read_text())
        data = fill_seed(url, users=2, tasks_per_user=2, messages_per_task=100,
                         password_hash=OLD_HASH)
        total = len(data.messages)
        key = AdminKey.load_or_create(tmp_path / "live").value
        common = ["--from", url, "--prisma", str(FIXTURES / "seed.prisma"), "--app",
                  str(APP_DIR), "--url", server.url, "--admin-key", key, "--batch", "20"]
        # The command's own process, killed while it sends ChatMessage batches.
        process = subprocess.Popen([sys.executable, "-m", "reactor", "migrate", "data",
                                    *common], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        killed_at = None
        for line in process.stderr:
            if line.startswith("ChatMessage -> chatMessages:"):
                done = int(line.rsplit(" ", 1)[1].split("/")[0])
                if 0 < done < total:
                    os.kill(process.pid, signal.SIGKILL)
                    killed_at = done
                    break
        process.wait(timeout=60)
        assert killed_at is not None, "the copy ended before it could be killed"

        resumed = migrate("data", *common)
        report = report_rows(resumed.stdout)
        messages = report["ChatMessage"]
        assert messages["rows"] == messages["docs"] == total
        assert 0 < messages["new"] < total, messages  # some were in before the kill
        assert resumed.stdout.strip().endswith(": verified"), resumed.stdout
        assert all(row["broken"] == 0 and row["docs"] == row["rows"]
                   for row in report.values()), report

        # A rerun sends no row twice; a row changed at the source is replaced.
        run_sql(url, f"""UPDATE "Task" SET title = 'Renamed'
                         WHERE id = '{data.tasks[0]["id"]}'""")
        again = report_rows(migrate("data", *common).stdout)
        assert again["Task"]["changed"] == 1
        assert all(row["new"] == 0 for row in again.values()), again

        # The server holds the documents (its own HTTP API answers from them).
        status, reply = http_json(f"{server.url}/api/admin/migration",
                                  {"op": "page", "table": "chatMessages", "after": -1,
                                   "size": 5000},
                                  headers={"Authorization": f"Convex {key}"})
        assert status == 200 and len(reply["documents"]) == total
        status, refused = http_json(f"{server.url}/api/admin/migration", {"op": "page"},
                                    headers={"Authorization": f"Convex {key}"})
        assert status == 400 and refused["code"] == "BadRequest"
        assert "'table': expected a table name" in refused["message"]

        wrong = migrate("data", *common[:-4], "--admin-key", "wrong", "--batch", "20",
                        check=False)
        assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
        assert wrong.stderr.strip().splitlines()[-1].startswith("error ["), wrong.stderr
