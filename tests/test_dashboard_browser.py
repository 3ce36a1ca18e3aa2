"""The dashboard (/_dashboard/) in headless Chromium and Firefox against `reactor serve`, with
the official `convex` client watching the data the dashboard edits."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import NODE_DIR, ReactorServer, run_node
from PIL import Image, ImageStat

APP = Path(__file__).parent / "apps" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
PAGES = ("sign_in", "data", "data_edit_error", "functions", "schedules", "env", "files",
         "schema", "logs", "health")

FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox")
needs_firefox = pytest.mark.skipif(
    FIREFOX is None, reason="firefox is not installed (scripts/ensure-browsers.sh installs it)")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and shutil.which("chromium") is None,
    reason="chromium is not installed (scripts/ensure-browsers.sh installs it)",
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(APP, tmp_path_factory.mktemp("dashboard-data")) as running:
        yield running


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _login_link(server: ReactorServer) -> str:
    done = subprocess.run([sys.executable, "-m", "reactor", "dashboard", "--app", str(APP),
                           "--data", str(server.data_dir), "--url", server.url],
                          capture_output=True, text=True, timeout=60, check=True)
    link = done.stdout.strip()
    assert link.startswith(f"{server.url}/_dashboard/#code=")
    return link


def test_only_the_static_shell_is_served_without_the_key(server: ReactorServer) -> None:
    status, html = _get(f"{server.url}/_dashboard/")
    assert status == 200 and 'id="sign-in-form"' in html
    assert _get(f"{server.url}/_dashboard/api/health")[0] == 403
    status, body = _get(f"{server.url}/_dashboard/api/health",
                        {"Authorization": "Convex reactor_admin_nope"})
    assert status == 401 and "not valid" in body
    key = (server.data_dir / "auth" / "admin_key").read_text().strip()
    status, body = _get(f"{server.url}/_dashboard/api/health", {"Authorization": f"Convex {key}"})
    assert status == 200 and '"databaseBytes"' in body


def test_a_login_code_gives_the_key_once(server: ReactorServer) -> None:
    code = _login_link(server).split("#code=", 1)[1]

    def redeem() -> tuple[int, str]:
        request = urllib.request.Request(f"{server.url}/_dashboard/api/login",
                                         data=f'{{"code": "{code}"}}'.encode(), method="POST")
        try:
            with urllib.request.urlopen(request) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    status, body = redeem()
    key = (server.data_dir / "auth" / "admin_key").read_text().strip()
    assert status == 200 and key in body
    status, body = redeem()
    assert status == 401 and "LoginCodeInvalid" in body


_FILLED: dict[str, int] = {}


def _fill(server: ReactorServer, count: int) -> None:
    """`items` holds documents n = 0 .. count - 1 (filled once per server)."""
    if _FILLED.get(server.url, 0) >= count:
        return
    _FILLED[server.url] = count
    for start in range(0, count, 2500):
        request = urllib.request.Request(
            f"{server.url}/api/mutation", method="POST",
            headers={"Content-Type": "application/json"},
            data=(f'{{"path": "items:fill", "args": {{"count": 2500, "start": {start}}},'
                  ' "format": "json"}').encode())
        with urllib.request.urlopen(request, timeout=60) as reply:
            assert b'"success"' in reply.read()


def _not_blank(path: Path) -> None:
    """A screenshot with real content: many colours and visible contrast."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16)
        stddev = ImageStat.Stat(rgb.convert("L")).stddev[0]
    assert colours is None or len(colours) > 20, f"{path.name} has {len(colours)} colours"
    assert stddev > 10, f"{path.name} is nearly uniform (stddev {stddev:.1f})"


@pytest.mark.slow  # about 30 s: 10,000 documents, every page, a few sampling intervals
@needs_chromium
def test_sign_in_browse_edit_run_and_cancel_in_chromium(
        server: ReactorServer, tmp_path: Path, node_modules: Path) -> None:
    _fill(server, 10_000)
    shots = Path(os.environ.get("REACTOR_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    result = run_node(NODE_DIR / "dashboard_browser.mjs", server.url, _login_link(server),
                      str(shots), timeout=180)
    assert result["problems"] == []
    assert "not valid" in result["wrongKey"]
    assert "#code=" not in result["addressAfterSignIn"]
    assert result["count"] == "10,000" and result["firstPageRows"] == 50
    assert result["secondPage"] == "documents 51–100"
    assert "number" in result["fieldError"] and result["fieldInvalid"] == "true"
    assert result["convexSaw"] == "edited in the dashboard"
    assert result["convexSawBig"] == "9007199254740993"
    assert result["afterDelete"] == "10,000"
    assert result["inserted"] == "made in the dashboard"
    assert result["greet"] == {"status": "success", "value": '"hello dashboard"',
                               "logs": "greeting dashboard"} or (
        result["greet"]["status"] == "success"
        and "hello dashboard" in result["greet"]["value"]
        and "greeting dashboard" in result["greet"]["logs"])
    assert result["whoami"]["subject"] == "user-7" and result["whoami"]["name"] == "Seven"
    assert result["canceled"] == "canceled"
    assert result["envHidden"] == "••••••" and result["envRevealed"] == "https://api.example"
    assert result["logLine"] == "[LOG] greeting dashboard"
    assert result["failedOnly"] >= 1
    assert result["textFiltered"] == "[LOG] greeting while watching"
    assert "by_tag_n" in result["schemaText"]
    assert int(result["health"]) >= 1
    assert 0 < result["pushP95"] <= 10_000 and 0 < result["commitP95"] <= 10_000
    assert result["sameDocument"] is True
    for name in PAGES:
        _not_blank(shots / f"dashboard_{name}.png")


def test_system_functions_refuse_clients_without_the_key(server: ReactorServer) -> None:
    """Over HTTP and the official client's WebSocket, as anonymous callers."""
    request = urllib.request.Request(
        f"{server.url}/api/query", method="POST", headers={"Content-Type": "application/json"},
        data=b'{"path": "_system/dashboard:tables", "args": {}, "format": "json"}')
    with urllib.request.urlopen(request, timeout=30) as reply:
        body = reply.read().decode()
    assert '"status":"error"' in body and "needs the admin key" in body
    assert "documents" not in body
    result = run_node("""
import { ConvexClient } from "convex/browser";
const client = new ConvexClient(process.argv[2]);
const outcome = await new Promise((resolve) => client.onUpdate(
  "_system/dashboard:documents", { table: "items", paginationOpts: { numItems: 5, cursor: null } },
  (value) => resolve({ value }), (error) => resolve({ error: error.message })));
await client.close();
console.log(JSON.stringify(outcome));
""", server.url, timeout=60)
    assert "value" not in result and "needs the admin key" in result["error"]


@pytest.mark.slow  # about 25 s: Firefox starts, signs in, pages, edits, opens every page
@needs_firefox
def test_sign_in_browse_edit_and_run_in_firefox(
        server: ReactorServer, tmp_path: Path, node_modules: Path) -> None:
    _fill(server, 10_000)
    shots = Path(os.environ.get("REACTOR_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    result = run_node(NODE_DIR / "dashboard_firefox.mjs", server.url, _login_link(server),
                      str(shots), str(FIREFOX), timeout=180)
    assert result["problems"] == [], result["problems"]
    assert result["browser"].lower().startswith("firefox")
    assert "#code=" not in result["addressAfterSignIn"]
    assert result["count"] == "10,000" and result["firstPageRows"] == 50
    assert result["secondPage"] == "documents 51–100"
    assert result["convexSaw"] == "edited in firefox"
    assert result["greet"]["status"] == "success" and "greeting firefox" in result["greet"]["logs"]
    assert set(result["pages"]) == {"functions", "logs", "schedules", "env", "files", "schema",
                                    "health"}
    _not_blank(shots / "dashboard_firefox_data.png")
