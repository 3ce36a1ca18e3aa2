"""`reactor logs` against a data directory and a running server, `--log-format json`,
and the execution log across a crash and a restart (real server processes)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from e2e_support import REPO_ROOT, ReactorServer
from sync_support import http_json

from reactor.cli.main import main
from reactor.runtime.auth import AdminKey

APP = Path(__file__).parent / "apps" / "ops"


def reactor(*args: str) -> subprocess.CompletedProcess[str]:
    """`reactor ARGS` run in this process (the servers are real processes; starting an
    interpreter per command would only add seconds), with its output and exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_reactor_logs_runs_as_a_command(server: ReactorServer, calls: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "reactor", "logs", "--data",
                           str(server.data_dir), "--status", "failed"], cwd=REPO_ROOT,
                          env=os.environ, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "notes:fail" in done.stdout
    assert done.stdout == reactor("logs", "--data", str(server.data_dir), "--status",
                                  "failed").stdout


def mutation(server: ReactorServer, path: str, args: dict[str, object]) -> dict[str, object]:
    status, body = http_json(f"{server.url}/api/mutation", {"path": path, "args": args})
    assert status in (200, 560), body
    assert isinstance(body, dict)
    return body


def wait_for(check: object, timeout: float = 10.0) -> str:
    """Poll `check()` (a reactor logs run's stdout) until it returns a truthy string."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()  # type: ignore[operator]
        if result or time.monotonic() > deadline:
            return str(result)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(APP, tmp_path_factory.mktemp("logs-data"),
                       args=["--log-format", "json"]) as running:
        yield running


@pytest.fixture(scope="module")
def calls(server: ReactorServer) -> dict[str, str]:
    """Two successes and a failure; the failure's request id as its client saw it."""
    mutation(server, "notes:add", {"body": "first"})
    mutation(server, "notes:add", {"body": "second"})
    failed = mutation(server, "notes:fail", {"why": "on purpose"})
    message = str(failed["errorMessage"])
    assert message.startswith("[Request ID: ")
    request_id = message.split("]")[0].removeprefix("[Request ID: ")

    def logged() -> str:
        out = reactor("logs", "--data", str(server.data_dir)).stdout
        return out if "notes:fail" in out else ""

    assert wait_for(logged)
    return {"request_id": request_id}


def test_logs_from_the_data_directory_beside_the_running_server(
        server: ReactorServer, calls: dict[str, str]) -> None:
    out = reactor("logs", "--data", str(server.data_dir)).stdout.splitlines()
    heads = [line for line in out if not line.startswith("    ")]
    assert [h.split(" ")[3] for h in heads] == ["notes:add", "notes:add", "notes:fail"]
    assert heads[0].split(" ")[2] == "[mutation]" and " ms success" in heads[0]
    assert f"failed [Request ID: {calls['request_id']}] Uncaught ConvexError:" in heads[2]
    # Log lines follow their execution, indented.
    assert out[1] == "    [LOG] adding first"
    assert out[-1] == "    [WARN] about to fail: on purpose"


def test_logs_filters(server: ReactorServer, calls: dict[str, str]) -> None:
    data = ["--data", str(server.data_dir)]
    failed = reactor("logs", *data, "--status", "failed").stdout
    assert "notes:fail" in failed and "notes:add" not in failed
    added = reactor("logs", *data, "--function", "notes:add").stdout
    assert added.count("notes:add") == 2 and "notes:fail" not in added
    module = reactor("logs", *data, "--function", "notes:").stdout
    assert module.count("[mutation]") == 3
    second = reactor("logs", *data, "--text", "adding second").stdout
    assert second.count("[mutation]") == 1 and "    [LOG] adding second" in second
    last = reactor("logs", *data, "--limit", "1").stdout
    assert "notes:fail" in last and "notes:add" not in last
    assert reactor("logs", *data, "--since", "10m").stdout.count("[mutation]") == 3
    time.sleep(1.1)
    assert reactor("logs", *data, "--since", "1s").stdout == ""
    bad = reactor("logs", *data, "--since", "ten minutes")
    assert bad.returncode == 1 and "BadArguments" in bad.stderr and "--since" in bad.stderr
    nowhere = reactor("logs", "--data", str(server.data_dir / "absent"))
    assert nowhere.returncode == 1 and "NotADataDirectory" in nowhere.stderr


def test_logs_from_a_running_server_with_the_admin_key(
        server: ReactorServer, calls: dict[str, str]) -> None:
    key = AdminKey.load_or_create(server.data_dir).value
    remote = ["--url", server.url, "--admin-key", key]
    local = reactor("logs", "--data", str(server.data_dir)).stdout
    assert reactor("logs", *remote).stdout == local
    assert reactor("logs", *remote, "--text", "on purpose").stdout.count("[mutation]") == 1
    failed = reactor("logs", *remote, "--status", "failed", "--since", "10m").stdout
    assert "notes:fail" in failed and "notes:add" not in failed
    assert reactor("logs", *remote, "--function", "notes:add", "--limit", "1").stdout \
        .count("notes:add") == 1
    refused = reactor("logs", "--url", server.url, "--admin-key", "reactor_admin_nope")
    assert refused.returncode == 1 and "the admin key is not valid" in refused.stderr
    status, body = http_json(f"{server.url}/api/admin/logs", method="GET")
    assert status == 403 and body["code"] == "Forbidden"
    status, body = http_json(f"{server.url}/api/admin/logs?limit=lots", method="GET",
                             headers={"Authorization": f"Convex {key}"})
    assert status == 400 and body == {"code": "BadRequest", "message":
                                      "/api/admin/logs: limit must be a number, got 'lots'"}


@pytest.mark.parametrize("mode", ["data", "url"])
def test_follow_prints_new_executions(server: ReactorServer, calls: dict[str, str],
                                      mode: str) -> None:
    where = ["--data", str(server.data_dir)] if mode == "data" else \
        ["--url", server.url, "--data", str(server.data_dir)]
    follower = subprocess.Popen([sys.executable, "-m", "reactor", "logs", "--follow",
                                 "--limit", "0", "--function", "notes:add", *where],
                                cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    assert follower.stdout is not None and follower.stderr is not None

    lines: dict[int, queue.Queue[str]] = {}
    for stream in (follower.stdout, follower.stderr):
        lines[id(stream)] = queue.Queue()
        threading.Thread(target=lambda s=stream: [lines[id(s)].put(x) for x in s],
                         daemon=True).start()

    def line(stream: IO[str]) -> str:
        return lines[id(stream)].get(timeout=30)

    try:
        assert line(follower.stderr) == "following new executions (Ctrl-C stops)\n"
        mutation(server, "notes:add", {"body": f"followed-{mode}"})
        head = line(follower.stdout)
        assert "notes:add" in head and " success" in head
        assert line(follower.stdout) == f"    [LOG] adding followed-{mode}\n"
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_json_log_lines_carry_the_request_id_the_client_saw(
        server: ReactorServer, calls: dict[str, str]) -> None:
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    failed = [line for line in lines if line["path"] == "notes:fail"]
    assert len(failed) == 1
    assert failed[0]["requestId"] == calls["request_id"]
    assert failed[0]["status"] == "failed" and failed[0]["kind"] == "mutation"
    assert failed[0]["logLines"] == ["[WARN] about to fail: on purpose"]
    assert failed[0]["time"].endswith("Z") and failed[0]["durationMs"] >= 0
    assert any(line["path"] == "notes:add" and line["status"] == "success" for line in lines)


def test_the_log_survives_a_crash_and_retention_applies_at_start(tmp_path: Path) -> None:
    server = ReactorServer(APP, tmp_path / "data")
    with server:
        for index in range(3):
            mutation(server, "notes:add", {"body": f"n{index}"})

        def logged() -> str:
            out = reactor("logs", "--data", str(server.data_dir)).stdout
            return out if out.count("[mutation]") == 3 else ""

        assert wait_for(logged)
        server.kill()
        server.start()
        assert reactor("logs", "--data", str(server.data_dir)).stdout.count("[mutation]") == 3
    time.sleep(1.2)
    server.env = {"REACTOR_LOG_RETENTION_S": "1"}
    with server:
        mutation(server, "notes:add", {"body": "fresh"})

        def pruned() -> str:
            out = reactor("logs", "--data", str(server.data_dir)).stdout
            return out if out.count("[mutation]") == 1 else ""

        assert "adding fresh" in wait_for(pruned)
