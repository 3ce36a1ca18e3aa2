"""Search subscriptions through the official `convex` client (Node) against `reactor serve`."""

from __future__ import annotations

from pathlib import Path

from e2e_support import NODE_DIR, ReactorServer, run_node

APP = Path(__file__).parent / "apps" / "search"


def test_the_official_client_gets_pushed_search_results(tmp_path: Path,
                                                        node_modules: Path) -> None:
    with ReactorServer(APP, tmp_path / "data") as server:
        result = run_node(NODE_DIR / "search_live.mjs", server.url, timeout=60)
    assert result["texts"] == [[], ["hello world"]]
    assert result["vectors"] == [[], [result["id"]]]
    # The commit on board "b" pushed nothing to either subscription.
    assert result["afterOtherBoard"] == {"texts": 1, "vectors": 1}
