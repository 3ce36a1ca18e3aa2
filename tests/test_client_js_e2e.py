"""reactor-client's end-to-end suites (client_js/test/e2e_*.test.mjs) against `reactor serve`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from client_js_support import CLIENT_JS, ensure_client_js_modules
from e2e_support import ReactorServer
from sync_support import NodeProcess, http_json

APP = Path(__file__).parent / "apps" / "sync"
ENV = {"SYNC_TEST_HS256_SECRET": "hs256-test-secret-" + "x" * 32}


@pytest.fixture(scope="module")
def tap(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The suite's TAP report, run once against a fresh server; fails on a non-zero exit."""
    ensure_client_js_modules()
    with ReactorServer(APP, tmp_path_factory.mktemp("client-js-e2e"), env=ENV) as server:
        result = subprocess.run(["node", "--test", "test/e2e_real.test.mjs"], cwd=CLIENT_JS,
                                env={**os.environ, **ENV, "REACTOR_URL": server.url},
                                capture_output=True, text=True, timeout=120)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    return report


def test_the_client_suite_passes_against_a_real_server(tap: str) -> None:
    assert "# fail 0" in tap and "# skipped 0" in tap, tap
    passed = int(re.search(r"^# pass (\d+)$", tap, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert passed >= 10, tap  # the suite ran, not skipped for want of REACTOR_URL or the secret


@pytest.mark.parametrize("name", [
    "a live insert grows its page",
    "a short-lived token is refreshed before it expires",
    "an optimistic update for a mutation the server rejects is rolled back",
    "an optimistic update is replayed on top of another client's write",
])
def test_a_live_server_scenario_passes(tap: str, name: str) -> None:
    assert re.search(rf"^\s*ok \d+ - {re.escape(name)}", tap, re.MULTILINE), tap


def test_a_tokens_own_claims_reach_the_queries_it_runs(tap: str) -> None:
    assert re.search(r"^\s*ok \d+ - a token's own claims reach", tap, re.MULTILINE), tap


def test_the_client_survives_a_crash_and_applies_each_mutation_once(tmp_path: Path) -> None:
    """client_js/test/e2e_restart.test.mjs: the server is SIGKILLed with mutations in flight."""
    ensure_client_js_modules()
    name = uuid.uuid4().hex[:10]
    with ReactorServer(APP, tmp_path / "data", env=ENV) as server:
        script = NodeProcess(CLIENT_JS / "test" / "e2e_restart.test.mjs", env={
            "REACTOR_RESTART_URL": server.url, "REACTOR_RESTART_NAME": name})
        try:
            script.wait_line("ready")
            script.wait_line("fired")
            time.sleep(0.4)  # of the 30 mutations (committing over 0.75 s) some are answered
            server.kill()
            server.start()
            status, body = http_json(f"{server.url}/api/mutation", {
                "path": "counter:incr", "args": [{"name": name}]})
            assert status == 200 and body["value"] == 1
            line = script.wait_line("result ", timeout=60)
            code = script.process.wait(timeout=10)
        finally:
            script.kill()
        assert code == 0, script.seen  # the node test's own assertions passed
        result = json.loads(line.removeprefix("result "))
        _, applied = http_json(f"{server.url}/api/query", {
            "path": "counter:applied", "args": [{"prefix": name}]})
    assert applied["value"] == result["tags"] == result["values"]
    assert len(result["tags"]) == 33
    assert 0 < result["resolvedAtDisconnect"] < 30
    # The reconnect re-sent every unanswered mutation and sent the 3 made while down.
    assert result["unanswered"] > 0 and result["resent"] >= result["unanswered"] + 3
    assert result["counter"][0] == 0 and result["counter"][-1] == 1
