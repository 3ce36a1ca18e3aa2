"""The example app's demo page (/demo/) in two headless Chromium pages against `reactor serve`."""

from __future__ import annotations

import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import NODE_DIR, REPO_ROOT, ReactorServer, run_node

from reactor.server.demo import demo_routes

CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists() and shutil.which("chromium") is None,
    reason="chromium is not installed (.ci/run installs it: apt-get install -y chromium)",
)


def test_only_an_app_with_a_demo_folder_gets_demo_routes(tmp_path: Path) -> None:
    assert demo_routes(tmp_path) == []
    (tmp_path / "demo").mkdir()
    assert demo_routes(tmp_path) == []  # no index.html
    (tmp_path / "demo" / "index.html").write_text("<p>hi</p>")
    assert [route.path for route in demo_routes(tmp_path)] == ["/demo/client", "/demo"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(REPO_ROOT, tmp_path_factory.mktemp("demo-data")) as running:
        yield running


def test_demo_is_served_with_the_client_modules(server: ReactorServer) -> None:
    with urllib.request.urlopen(f"{server.url}/demo") as page:  # redirected to /demo/
        assert page.url == f"{server.url}/demo/"
        html = page.read().decode()
    assert '"reactor-client": "./client/index.js"' in html
    with urllib.request.urlopen(f"{server.url}/demo/client/index.js") as module:
        assert "javascript" in module.headers["content-type"]
        assert "export { ReactorClient }" in module.read().decode()


@needs_chromium
def test_a_write_in_one_page_shows_in_the_other_without_reload(
    server: ReactorServer, tmp_path: Path, node_modules: Path
) -> None:
    # Screenshots land in REACTOR_SCREENSHOTS when set (to look at them), else in tmp_path.
    shots = Path(os.environ.get("REACTOR_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    key = (server.data_dir / "auth" / "admin_key").read_text().strip()
    result = run_node(NODE_DIR / "demo_browser.mjs", server.url, str(shots),
                      env={"REACTOR_ADMIN_KEY": key}, timeout=120)
    assert result["problems"] == []  # no page errors, no console errors
    assert result["sameDocument"] == [True, True]  # neither page reloaded
    assert result["who"].startswith("Demo User · demo+")
    first, from_a, from_b = ("How is this project built?", "Hello from page A",
                             "And hello from page B")
    for messages in (result["messagesA"], result["messagesB"]):
        assert messages[:3] == [first, from_a, from_b]
        assert messages[3].startswith(f"You said: “{from_b}”.")
        assert messages[3].endswith("sees it grow.") and len(messages) == 4
    assert result["sawStreaming"] is True  # B saw the answer while it was still growing
    assert result["statusInB"] == "completed"
    attachment = result["attachment"]  # uploaded in A, listed live in B, served, removed
    assert attachment["href"].startswith(f"{server.url}/api/storage/")
    assert (attachment["text"], attachment["type"]) == (attachment["expected"], "text/plain")
    assert attachment["goneStatus"] == 404
    assert {p.name for p in shots.iterdir()} >= {"demo_sign_in.png", "demo_page_a.png",
                                                 "demo_page_b.png", "demo_attachment_b.png"}
