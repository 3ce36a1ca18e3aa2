"""Against a real server: exactly-once jobs across SIGKILL, SSE streaming, `reactor env --url`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import ReactorServer

from reactor.cli.main import main
from reactor.runtime.auth import AdminKey

APP = Path(__file__).parent / "apps" / "scheduler"
JOBS = 40


def call(url: str, kind: str, path: str, args: dict[str, Any]) -> Any:
    reply = httpx.post(f"{url}/api/{kind}", json={"path": path, "args": [args],
                                                  "format": "json"}, timeout=30)
    body = reply.json()
    assert body["status"] == "success", body
    return body["value"]


def wait_for(condition: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_a_scheduled_mutation_runs_exactly_once_across_sigkill(tmp_path: Path) -> None:
    server = ReactorServer(APP, tmp_path / "data")
    server.start()
    try:
        names = [f"k{i:02d}" for i in range(JOBS)]
        delays = [0.4 + 0.025 * i for i in range(JOBS)]
        call(server.url, "mutation", "jobs:schedule_many", {"names": names, "delays": delays})
        time.sleep(0.4 + 0.025 * JOBS / 2)
        done_before = call(server.url, "query", "jobs:all_counters", {})
        server.kill()
        server.start()

        def all_finished() -> bool:
            jobs = call(server.url, "query", "jobs:jobs", {})
            return len(jobs) == JOBS and all(j["state"]["kind"] == "success" for j in jobs)

        assert wait_for(all_finished), server.log()
        counters = call(server.url, "query", "jobs:all_counters", {})
        assert counters == {name: 1 for name in names}, "a job ran twice or not at all"
        for name in names:
            assert len(call(server.url, "query", "jobs:runs", {"name": name})) == 1
        assert all(value == 1 for value in done_before.values())
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    server = ReactorServer(APP, tmp_path_factory.mktemp("live"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_an_http_action_streams_server_sent_events(live: ReactorServer) -> None:
    events: list[dict[str, Any]] = []
    arrivals: list[float] = []
    current: dict[str, Any] = {}
    with httpx.Client(timeout=10) as client, \
            client.stream("GET", f"{live.url}/http/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line == "":
                events.append(current)
                arrivals.append(time.monotonic())
                current = {}
            else:
                field, _, value = line.partition(": ")
                current[field] = value
    assert events == [
        {"event": "tick", "id": str(i), "data": json.dumps({"index": i, "counter": i + 1.0})}
        for i in range(3)] + [{"data": "done"}]
    assert arrivals[-1] - arrivals[0] >= 0.3, "events were buffered, not streamed"


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


def test_env_changes_reach_a_running_server_without_restart(
        live: ReactorServer, capsys: pytest.CaptureFixture[str]) -> None:
    remote = ["--url", live.url, "--data", str(live.data_dir)]
    assert call(live.url, "query", "settings:read", {"name": "FEATURE"}) is None
    assert run_cli("env", "set", "FEATURE", "on", *remote) == 0
    assert call(live.url, "query", "settings:read", {"name": "FEATURE"}) == "on"
    assert httpx.get(f"{live.url}/http/env", params={"name": "FEATURE"}).json() == {
        "value": "on"}
    capsys.readouterr()
    assert run_cli("env", "get", "FEATURE", *remote) == 0
    assert run_cli("env", "list", *remote) == 0
    assert capsys.readouterr().out == "on\nFEATURE=on\n"
    assert run_cli("env", "remove", "FEATURE", *remote) == 0
    assert call(live.url, "query", "settings:read", {"name": "FEATURE"}) is None
    assert run_cli("env", "get", "FEATURE", *remote) == 1
    assert run_cli("env", "set", "FEATURE", "x", "--url", live.url,
                   "--admin-key", "wrong") == 1
    assert "admin key is not valid" in capsys.readouterr().err


def test_env_admin_endpoints_need_the_admin_key(live: ReactorServer) -> None:
    anonymous = httpx.get(f"{live.url}/api/admin/env")
    assert (anonymous.status_code, anonymous.json()["code"]) == (403, "Forbidden")
    key = AdminKey.load_or_create(live.data_dir).value
    admin = {"Authorization": f"Convex {key}"}
    bad = httpx.put(f"{live.url}/api/admin/env/X", json={"value": 3}, headers=admin)
    assert (bad.status_code, bad.json()["code"]) == (400, "BadRequest")
    missing = httpx.get(f"{live.url}/api/admin/env/NOPE", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "EnvironmentVariableNotFound")
