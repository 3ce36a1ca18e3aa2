"""Several `reactor serve --db` nodes on one PostgreSQL database (docs/guide/nodes.md):
real processes, the official client spread over them."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import NODE_DIR, ReactorServer, run_node

from reactor.testing_postgres import Unavailable, create_database, drop_database, find_server

LEDGER_APP = Path(__file__).resolve().parent / "apps" / "ledger"
ACCOUNTS = [f"acct{i}" for i in range(6)]
OPENING = 1000.0


@pytest.fixture
def database_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped after it."""
    try:
        server, cluster = find_server()
    except Unavailable as exc:
        pytest.skip(f"several-node tests need PostgreSQL: {exc}")
    url = create_database(server, prefix="reactor_nodes")
    try:
        yield url
    finally:
        drop_database(url)
        if cluster is not None:
            cluster.stop()
            cluster.remove()


def post(base_url: str, route: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(f"{base_url}{route}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def call(base_url: str, kind: str, path: str, args: dict[str, Any]) -> Any:
    answer = post(base_url, f"/api/{kind}", {"path": path, "args": [args]})
    assert answer["status"] == "success", f"{path}: {answer}"
    return answer["value"]


@pytest.fixture
def two_nodes(tmp_path: Path, database_url: str) -> Iterator[tuple[ReactorServer, ReactorServer]]:
    committer = ReactorServer(LEDGER_APP, tmp_path / "committer", args=["--db", database_url])
    follower = ReactorServer(LEDGER_APP, tmp_path / "follower",
                             args=["--db", database_url, "--follow"])
    try:
        committer.start()
        follower.start()
        yield committer, follower
    finally:
        follower.stop()
        committer.stop()


def test_follower_pushes_consistent_snapshots_and_refuses_mutations(
        two_nodes: tuple[ReactorServer, ReactorServer]) -> None:
    committer, follower = two_nodes
    call(committer.url, "mutation", "ledger:open_accounts",
         {"names": ACCOUNTS, "balance": OPENING})
    result = run_node(NODE_DIR / "nodes_follow.mjs", committer.url, follower.url, "40",
                      *ACCOUNTS, timeout=60)
    total = OPENING * len(ACCOUNTS)
    # Every snapshot the follower pushed is one state of the ledger: the total holds.
    assert result["summaries"] and all(s["total"] == total for s in result["summaries"])
    assert result["balances"] and all(b == total for b in result["balances"])
    assert "NotCommitter" in (result["refused"] or ""), result["refused"]
    # The follower saw intermediate states, not only the last one.
    assert len(result["summaries"]) >= 2
    # Its final state is the committer's, document for document.
    assert call(follower.url, "query", "ledger:audit", {}) == call(
        committer.url, "query", "ledger:audit", {})


def test_read_your_writes_across_nodes(two_nodes: tuple[ReactorServer, ReactorServer]) -> None:
    committer, follower = two_nodes
    call(committer.url, "mutation", "ledger:open_accounts",
         {"names": ACCOUNTS, "balance": OPENING})
    for seq in range(10):
        call(committer.url, "mutation", "ledger:transfer",
             {"client": "c", "seq": seq, "source": ACCOUNTS[0], "target": ACCOUNTS[1],
              "amount": 1})
        ts = post(committer.url, "/api/query_ts", {})["ts"]
        # At once, at the ts the committer answered with: the follower waits for it.
        answer = post(follower.url, "/api/query_at_ts",
                      {"path": "ledger:account", "args": [{"name": ACCOUNTS[1]}], "ts": ts})
        assert answer["status"] == "success", answer
        assert answer["value"] == {"balance": OPENING + seq + 1, "moves": seq + 1}
