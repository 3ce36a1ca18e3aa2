"""The official `convex` client (1.48.0, in Node) against a real `reactor serve`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from e2e_support import NODE_DIR, ReactorServer, run_node
from sync_support import NodeProcess, http_json

from reactor.runtime.auth import AdminKey

APP = Path(__file__).parent / "apps" / "sync"
HS256_SECRET = "hs256-test-secret-" + "x" * 32
ENV = {"SYNC_TEST_HS256_SECRET": HS256_SECRET}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[ReactorServer]:
    with ReactorServer(APP, tmp_path_factory.mktemp("client-data"), env=ENV) as running:
        yield running


def node(script: str, *args: str) -> Any:
    return run_node(NODE_DIR / script, *args, timeout=60)


def name() -> str:
    return uuid.uuid4().hex[:10]


def hs256_token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "https://hs256.test", "aud": "sync-tests", "sub": "hs-user",
               "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, HS256_SECRET, algorithm="HS256")


def test_mutation_resolves_after_its_write_is_visible(server: ReactorServer) -> None:
    result = node("sync_visibility.mjs", server.url, name(), "25")
    assert result["stale"] == []
    assert result["seen"] == list(range(26))  # every value once, none skipped or repeated
    assert result["viaHttp"] == 25
    assert result["connectionCount"] == 1


def test_errors_carry_their_data(server: ReactorServer) -> None:
    result = node("sync_errors.mjs", server.url, name())
    assert result["mutation"]["error"]["data"] == {"code": "M1", "where": "mutation"}
    assert result["action"]["error"]["data"] == {"code": "A1", "where": "action"}
    assert result["echo"] == {"value": {"echo": "hi"}}
    # Internal functions cannot be called by clients; an internal error carries no data.
    assert result["internal"]["error"]["data"] is None
    assert "Could not find public function for " in result["internal"]["error"]["message"]
    # The failing query errors on its own subscription; the other keeps updating.
    assert result["guardErrors"][0]["data"] == {"code": "TooHigh", "value": 2}
    assert result["guarded"] == [0, 1] or result["guarded"] == [0]
    assert result["values"][-1] == 3 and result["values"][:2] == [0, 2]
    assert result["httpMutation"]["error"]["data"] == {"code": "H1", "where": "mutation"}
    assert result["httpQuery"]["error"]["data"]["code"] == "TooHigh"
    assert result["httpAction"]["error"]["data"] == {"code": "H2", "where": "action"}
    crash = result["httpCrash"]["error"]
    assert crash["data"] is None and "internal detail" in crash["message"]
    assert "Traceback" not in crash["message"]


def test_auth_builtin_issuer_hs256_bad_token_and_admin_key(server: ReactorServer) -> None:
    key = AdminKey.load_or_create(server.data_dir).value
    token = hs256_token(email="hs@example.com", name="Hedy")
    bad = hs256_token(sub="mallory")[:-4] + "AAAA"
    result = node("sync_auth.mjs", server.url, token, bad, key)

    builtin = result["builtin"]
    # The built-in issuer mints a new token per fetch; the client reports each one
    # it gets confirmed (an extra `true` is the client's own doing).
    assert builtin["authChanges"][0] is True and set(builtin["authChanges"]) == {True}
    identity = builtin["identity"]
    assert identity["subject"] == "user-1" and identity["name"] == "Ada"
    assert identity["role"] == "tester"
    assert identity["tokenIdentifier"] == f"{identity['issuer']}|user-1"

    hs256 = result["hs256"]
    assert hs256["authChanges"] == [True]
    assert hs256["identity"] == {
        "subject": "hs-user", "issuer": "https://hs256.test",
        "tokenIdentifier": "https://hs256.test|hs-user", "email": "hs@example.com",
        "name": "Hedy"}

    # A refused token: the client learns it (onChange(false)) and carries on signed out.
    bad_run = result["bad"]
    assert bad_run["authChanges"] == [False] and bad_run["identity"] is None
    assert bad_run["after"] == 1

    assert result["httpIdentity"]["subject"] == "hs-user"
    assert "signature" in result["httpBad"]["message"].lower()
    assert result["adminInternal"] == "reset" and result["adminPeek"] is None
    assert result["actingAs"]["subject"] == "acted-as"
    assert "Could not find public function for " in result["userInternal"]["message"]


def test_client_survives_a_crash_and_mutations_apply_once(
        tmp_path: Path, node_modules: Path, db_url: str | None) -> None:
    counter = name()
    args = ["--db", db_url] if db_url else None
    with ReactorServer(APP, tmp_path / "data", env=ENV, args=args) as crashing:
        script = NodeProcess(NODE_DIR / "sync_restart.mjs", crashing.url, counter, "30")
        try:
            script.wait_line("ready")
            script.wait_line("fired")
            time.sleep(0.4)  # some of the mutations (committing over 0.75 s) are answered
            crashing.kill()
            crashing.start()
            status, body = http_json(f"{crashing.url}/api/mutation", {
                "path": "counter:incr", "args": [{"name": counter}]})
            assert status == 200 and body["value"] == 1
            result = script.result(timeout=60)
        finally:
            script.kill()
        # Every promise resolved with its own result, each mutation ran exactly once.
        assert result["values"] == result["tags"]
        assert result["lastApplied"] == result["tags"]
        _, body = http_json(f"{crashing.url}/api/query", {
            "path": "counter:applied", "args": [{"prefix": counter}]})
        assert body["value"] == result["tags"]
        # The crash really interrupted the batch, and the same client reconnected.
        assert 0 < result["resolvedAtDisconnect"] < 30
        assert result["connectionCount"] >= 2
        assert result["counter"][0] == 0 and result["counter"][-1] == 1


def test_functions_declared_by_their_signatures(server: ReactorServer) -> None:
    result = node("sync_signatures.mjs", server.url)
    assert result["defaults"]["value"] == {"limit": 2, "isInt": True, "tag": "absent",
                                           "order": "asc"}
    assert result["given"]["value"] == {"limit": 5, "isInt": True, "tag": None,
                                        "order": "desc"}
    assert "typed:window: args.limit: expected integer, got 5.5" in \
        result["fraction"]["error"]["message"]
    assert 'args.order: expected "asc" | "desc", got "up"' in \
        result["literal"]["error"]["message"]
    assert result["refused"]["error"]["data"] == {"limit": "bigint:3", "raw": [1]}
    assert "Too many" in result["refused"]["error"]["message"]
