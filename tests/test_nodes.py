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


def test_bank_with_clients_on_both_nodes(two_nodes: tuple[ReactorServer, ReactorServer]) -> None:
    """Transfers sent to both nodes (the follower forwards them): every snapshot either
    node pushes sums right, and the final balances equal the ledger of transfers."""
    committer, follower = two_nodes
    call(committer.url, "mutation", "ledger:open_accounts",
         {"names": ACCOUNTS, "balance": OPENING})
    result = run_node(NODE_DIR / "nodes_bank.mjs", "30", ",".join(ACCOUNTS), committer.url,
                      follower.url, timeout=90)
    total = OPENING * len(ACCOUNTS)
    for node in result["nodes"]:
        assert node["summaries"] and all(s["total"] == total for s in node["summaries"])
        assert node["totals"] and all(t == total for t in node["totals"])
        # Each node pushed intermediate states, not only the last one.
        assert len(node["summaries"]) >= 2
    audit = call(follower.url, "query", "ledger:audit", {})
    assert audit == call(committer.url, "query", "ledger:audit", {})
    check_ledger(audit, result["acknowledged"])


def check_ledger(audit: dict[str, Any], acknowledged: list[list[Any]]) -> None:
    """Every acknowledged transfer stored exactly once, and the balances are the
    opening balances moved by exactly the stored transfers."""
    stored = [(t["client"], t["seq"]) for t in audit["transfers"]]
    assert len(stored) == len(set(stored)), "a transfer was applied twice"
    assert {(c, float(s)) for c, s in acknowledged} <= {(c, float(s)) for c, s in stored}
    balances = dict.fromkeys(ACCOUNTS, OPENING)
    for transfer in audit["transfers"]:
        balances[transfer["source"]] -= transfer["amount"]
        balances[transfer["target"]] += transfer["amount"]
    assert {a["name"]: a["balance"] for a in audit["accounts"]} == balances


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
    # A mutation sent to the follower is committed by the committer, and the follower
    # answers it only once it shows it: a query right after sees it, on either node.
    for seq in range(10, 15):
        call(follower.url, "mutation", "ledger:transfer",
             {"client": "c", "seq": seq, "source": ACCOUNTS[0], "target": ACCOUNTS[1],
              "amount": 1})
        expected = {"balance": OPENING + seq + 1, "moves": seq + 1}
        assert call(follower.url, "query", "ledger:account", {"name": ACCOUNTS[1]}) == expected
        assert call(committer.url, "query", "ledger:account",
                    {"name": ACCOUNTS[1]}) == expected
