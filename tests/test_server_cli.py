"""`reactor serve/run/admin-key` as subprocesses, CORS, ServerConfig settings, and their docs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import REPO_ROOT, ReactorServer, ServerStartError
from sync_support import http_json
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from reactor.cli.main import build_parser
from reactor.runtime.auth import AdminKey
from reactor.server.config import ConfigError, ServerConfig, env_name

APP = Path(__file__).parent / "apps" / "sync"
ENV = {"SYNC_TEST_HS256_SECRET": "s" * 40}
ORIGIN = "https://app.example"


def reactor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reactor", *args], cwd=REPO_ROOT,
                          env={**os.environ, **ENV, **(env or {})}, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(APP, tmp_path_factory.mktemp("cli-data"), env=ENV,
                       args=["--cors-origin", ORIGIN]) as running:
        yield running


def test_admin_key_prints_the_key_of_the_data_directory(server: ReactorServer) -> None:
    printed = reactor("admin-key", "--data", str(server.data_dir))
    assert printed.returncode == 0
    assert printed.stdout.strip() == AdminKey.load_or_create(server.data_dir).value


def test_run_against_a_running_server(server: ReactorServer) -> None:
    data = str(server.data_dir)
    done = reactor("run", "counter:incr", '{"name": "cli", "by": 4}', "--url", server.url,
                   "--data", data)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == 4
    # The admin key (read from the data directory) reaches internal functions too.
    peek = reactor("run", "counter:peek", '{"name": "cli"}', "--url", server.url,
                   "--data", data)
    assert json.loads(peek.stdout) == 4
    failed = reactor("run", "errors:fail_mutation", '{"code": "CLI"}', "--url", server.url,
                     "--data", data)
    assert failed.returncode == 1
    assert 'data: {"code": "CLI", "where": "mutation"}' in failed.stderr
    wrong_key = reactor("run", "counter:peek", '{"name": "cli"}', "--url", server.url,
                        "--admin-key", "reactor_admin_nope")
    assert wrong_key.returncode == 1 and "the admin key is not valid" in wrong_key.stderr
    # The data directory is locked by the server: a local run says so.
    local = reactor("run", "counter:get", '{"name": "cli"}', "--app", str(APP), "--data", data)
    assert local.returncode == 1 and "DataDirLocked" in local.stderr
    nowhere = reactor("run", "counter:get", "{}", "--url", server.url, "--data",
                      str(server.data_dir / "absent"))
    assert nowhere.returncode == 1 and "AdminKeyMissing" in nowhere.stderr
    assert not (server.data_dir / "absent").exists()
    bad_args = reactor("run", "counter:get", "[1]", "--url", server.url, "--data", data)
    assert bad_args.returncode == 1 and "ARGS must be a JSON object" in bad_args.stderr


def test_run_locally_without_a_server(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = reactor("run", "counter:incr", '{"name": "local"}', "--app", str(APP), "--data", data)
    assert first.returncode == 0, first.stderr
    second = reactor("run", "counter:peek", '{"name": "local"}', "--app", str(APP),
                     "--data", data)
    assert json.loads(second.stdout) == 1


def test_http_admin_key_calls_internal_functions(server: ReactorServer) -> None:
    key = AdminKey.load_or_create(server.data_dir).value
    body = {"path": "counter:peek", "format": "convex_encoded_json", "args": [{"name": "x"}]}
    status, anonymous = http_json(f"{server.url}/api/query", body)
    assert status == 200 and anonymous["status"] == "error"
    assert "Could not find public function for " in anonymous["errorMessage"]
    status, admin = http_json(f"{server.url}/api/query", body,
                              headers={"Authorization": f"Convex {key}"})
    assert status == 200 and admin == {"status": "success", "value": None, "logLines": []}
    status, wrong = http_json(f"{server.url}/api/query", body,
                              headers={"Authorization": "Convex reactor_admin_wrong"})
    assert status == 401 and "admin key" in wrong["message"]
    status, _ = http_json(f"{server.url}/api/run", {**body, "path": "counter:reset"})
    assert status == 401


def test_cors_preflight_from_the_configured_origin(server: ReactorServer) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,authorization"}
    allowed = _options(f"{server.url}/api/query", {"Origin": ORIGIN, **preflight})
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = _options(f"{server.url}/api/query", {"Origin": "https://elsewhere.example",
                                                   **preflight})
    assert refused.status == 400
    assert "access-control-allow-origin" not in refused.headers


def test_cors_allows_any_origin_by_default_and_sigterm_exits_cleanly(tmp_path: Path) -> None:
    with ReactorServer(APP, tmp_path / "data", env=ENV) as running:
        answer = _options(f"{running.url}/api/mutation", {
            "Origin": "https://anywhere.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert answer.status == 200
        assert answer.headers["access-control-allow-origin"] in ("*", "https://anywhere.example")
        url = running.url.replace("http://", "ws://") + "/api/1.48.0/sync"
        with connect(url) as socket:
            socket.send(json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()),
                                    "connectionCount": 0, "lastCloseReason": None,
                                    "clientTs": 0}))
            socket.send(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                                    "modifications": [{"type": "Add", "queryId": 0,
                                                       "udfPath": "counter:get",
                                                       "args": [{"name": "x"}]}]}))
            assert json.loads(socket.recv(timeout=5))["type"] == "Transition"
            started = time.monotonic()
            # SIGTERM with a client connected: it is told (1001 going away), the server exits 0.
            assert running.stop() == 0
            assert time.monotonic() - started < 5
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


class _Answer:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status = status
        self.headers = headers


def _options(url: str, headers: dict[str, str]) -> _Answer:
    request = urllib.request.Request(url, method="OPTIONS", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return _Answer(response.status, {k.lower(): v for k, v in response.headers.items()})
    except urllib.error.HTTPError as error:
        return _Answer(error.code, {k.lower(): v for k, v in error.headers.items()})


def test_startup_errors_exit_non_zero_with_the_reason(tmp_path: Path) -> None:
    # The app's auth_config.py needs its secret in the environment.
    failing = ReactorServer(APP, tmp_path / "a", env={"SYNC_TEST_HS256_SECRET": ""},
                            startup_timeout=15)
    with pytest.raises(ServerStartError) as raised:
        failing.start()
    assert "exited with 1" in str(raised.value)
    assert "SYNC_TEST_HS256_SECRET" in failing.log() and "Traceback" not in failing.log()
    bad_setting = ReactorServer(APP, tmp_path / "b", env={**ENV, "REACTOR_PING_INTERVAL_S": "x"},
                                startup_timeout=15)
    with pytest.raises(ServerStartError):
        bad_setting.start()
    assert "REACTOR_PING_INTERVAL_S: expected a number, got 'x'" in bad_setting.log()


def test_server_config_from_environment() -> None:
    config = ServerConfig.from_env({"REACTOR_PING_INTERVAL_S": "2.5",
                                    "REACTOR_MAX_INFLIGHT_REQUESTS": "10",
                                    "REACTOR_CORS_ORIGINS": "https://a.test, https://b.test",
                                    "UNRELATED": "1"})
    assert config.ping_interval_s == 2.5 and config.max_inflight_requests == 10
    assert config.cors_origins == ("https://a.test", "https://b.test")
    assert ServerConfig.from_env({}) == ServerConfig()
    overridden = ServerConfig.from_env({"REACTOR_CORS_ORIGINS": "https://a.test"},
                                       cors_origins=("https://c.test",), send_timeout_s=None)
    assert overridden.cors_origins == ("https://c.test",)
    for variable, text, fragment in [
        ("REACTOR_MAX_QUERIES_PER_CONNECTION", "1.5", "expected an integer, got '1.5'"),
        ("REACTOR_SEND_TIMEOUT_S", "-1", "expected a positive value"),
        ("REACTOR_CORS_ORIGINS", " , ", "comma-separated list"),
        ("REACTOR_WS_COMPRESSION", "maybe", "expected 1 or 0 (on or off)"),
    ]:
        with pytest.raises(ConfigError) as raised:
            ServerConfig.from_env({variable: text})
        assert raised.value.message.startswith(variable) and fragment in raised.value.message


def test_permessage_deflate_only_when_turned_on(server: ReactorServer, tmp_path: Path) -> None:
    assert ServerConfig.from_env({"REACTOR_WS_COMPRESSION": "off"}).ws_compression is False
    assert ServerConfig.from_env({"REACTOR_WS_COMPRESSION": "1"}).ws_compression is True
    # The client asks for permessage-deflate, as the official client does.
    with connect(server.url.replace("http", "ws") + "/api/sync") as socket:
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
    with ReactorServer(APP, tmp_path, env={**ENV, "REACTOR_WS_COMPRESSION": "1"}) as deflating, \
            connect(deflating.url.replace("http", "ws") + "/api/sync") as socket:
        assert "permessage-deflate" in socket.response.headers.get(
            "Sec-WebSocket-Extensions", "")
        # Pushed Transitions (written without awaiting) are compressed frames too.
        socket.send(json.dumps({"type": "Connect", "sessionId": str(uuid.uuid4()),
                                "connectionCount": 0, "lastCloseReason": None,
                                "clientTs": 0}))
        socket.send(json.dumps({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                                "modifications": [{"type": "Add", "queryId": 0,
                                                   "udfPath": "counter:get",
                                                   "args": [{"name": "deflated"}]}]}))
        socket.send(json.dumps({"type": "Mutation", "requestId": 0, "udfPath": "counter:incr",
                                "args": [{"name": "deflated", "by": 5}]}))
        values = []
        while 5 not in values:
            message = json.loads(socket.recv(timeout=10))
            values += [m.get("value") for m in message.get("modifications", ())]
        assert values[0] == 0


def test_every_setting_and_command_is_documented() -> None:
    operations = (REPO_ROOT / "docs" / "guide" / "operations.md").read_text()
    clients = (REPO_ROOT / "docs" / "guide" / "clients.md").read_text()
    for setting in dataclasses.fields(ServerConfig):
        assert f"`{env_name(setting.name)}`" in operations, setting.name
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("dev", "serve", "run", "admin-key"):
        assert f"reactor {command}" in operations, command
        for option in commands.choices[command]._option_string_actions:
            if option.startswith("--") and option != "--help":
                assert option in operations, f"{command} {option}"
    for topic in ("setAuth", "Authorization: Convex", "/api/debug/stats", "--cors-origin",
                  "TooManyConcurrentRequests", ".data"):
        assert topic in clients, topic


def test_http_bad_requests_get_a_status_and_a_message(server: ReactorServer) -> None:
    def post(body: bytes, path: str = "/api/query") -> tuple[int, object]:
        request = urllib.request.Request(f"{server.url}{path}", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    cases = [
        (b"{nope", 400, "not valid JSON"),
        (b"[1]", 400, "must be a JSON object"),
        (b'{"args": [{}]}', 400, 'missing "path"'),
        (b'{"path": "counter:get", "args": 5}', 400, '"args" must be'),
        (b'{"path": "counter:get", "args": [{}, {}]}', 400, "one arguments object"),
        (b'{"path": "counter:get", "format": "xml", "args": [{}]}', 400, "unsupported format"),
        (b'{"path": "counter:get", "args": [{"name": "x"}], "pad": "'
         + b"x" * 9_000_000 + b'"}', 413, "exceeds the limit"),
    ]
    for body, status, fragment in cases:
        got_status, got = post(body)
        assert got_status == status and fragment in got["message"], (body[:40], got)  # type: ignore[index]
    status, answer = post(b'{"path": "counter:get", "args": [{"name": 5}]}')
    assert status == 200 and answer["status"] == "error"  # type: ignore[index]
    assert "args.name" in answer["errorMessage"]  # type: ignore[index]
    status, _ = http_json(f"{server.url}/health", method="GET")
    assert status == 200
