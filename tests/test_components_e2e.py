"""Components seen through the official `convex` client against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import NODE_DIR, ReactorServer, run_node

APP = Path(__file__).parent / "apps" / "components"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[ReactorServer]:
    with ReactorServer(APP, tmp_path_factory.mktemp("components-data")) as running:
        yield running


def test_app_functions_use_a_component_and_admins_call_it_directly(
        server: ReactorServer) -> None:
    key = (server.data_dir / "auth" / "admin_key").read_text().strip()
    r = run_node(NODE_DIR / "components.mjs", server.url, env={"REACTOR_ADMIN_KEY": key},
                 timeout=60)
    assert isinstance(r["written"]["value"], str)
    assert r["failed"] == {"value": "kept"}  # the component's failed part rolled back alone
    assert r["counted"] == {"value": 2}
    assert r["live"] == {"notes": 2, "counter": 1, "second": 0}
    # Clients cannot reach a component's functions; the admin key can, by componentPath.
    assert "Could not find public function for '@counter/lib:get'" in r["publicCall"]["error"]
    assert r["adminQuery"] == {"value": 2}
    assert isinstance(r["adminMutation"]["value"], str)
    assert r["adminSecond"] == {"value": 4}
    assert "ComponentNotFound" in r["unknown"]["error"]
    assert "no component is installed under that name (installed: counter, second)" in (
        r["unknown"]["error"])
