"""reactor-client's end-to-end suite (client_js/test/e2e_real.test.mjs) against `reactor serve`."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from client_js_support import CLIENT_JS, ensure_client_js_modules
from e2e_support import ReactorServer

APP = Path(__file__).parent / "apps" / "sync"
ENV = {"SYNC_TEST_HS256_SECRET": "hs256-test-secret-" + "x" * 32}


@pytest.fixture(scope="module")
def tap(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The suite's TAP report, run once against a fresh server; fails on a non-zero exit."""
    ensure_client_js_modules()
    with ReactorServer(APP, tmp_path_factory.mktemp("client-js-e2e"), env=ENV) as server:
        result = subprocess.run(["node", "--test", "test/e2e_real.test.mjs"], cwd=CLIENT_JS,
                                env={**os.environ, "REACTOR_URL": server.url},
                                capture_output=True, text=True, timeout=120)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    return report


def test_the_client_suite_passes_against_a_real_server(tap: str) -> None:
    assert "# fail 0" in tap and "# skipped 0" in tap, tap
    passed = int(re.search(r"^# pass (\d+)$", tap, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert passed >= 6, tap  # the suite ran, not skipped for want of REACTOR_URL


def test_a_live_insert_grows_its_page(tap: str) -> None:
    assert re.search(r"^\s*ok \d+ - a live insert grows its page", tap, re.MULTILINE), tap
