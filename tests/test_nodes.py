"""Several `reactor serve --db` nodes on one PostgreSQL database (docs/guide/nodes.md):
real processes, the official client spread over them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import NODE_DIR, ReactorServer, run_node
from sync_support import NodeProcess, ProtocolClient

from reactor.errors import StorageError
from reactor.server.protocol import decode_ts
from reactor.storage import CommitRecord, DocumentWrite
from reactor.storage.postgres import PostgresStorage

LEDGER_APP = Path(__file__).resolve().parent / "apps" / "ledger"
ACCOUNTS = [f"acct{i}" for i in range(6)]
OPENING = 1000.0


def post(base_url: str, route: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(f"{base_url}{route}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def call(base_url: str, kind: str, path: str, args: dict[str, Any]) -> Any:
    answer = post(base_url, f"/api/{kind}", {"path": path, "args": [args]})
    assert answer["status"] == "success", f"{path}: {answer}"
    return answer["value"]


def open_accounts(committer: ReactorServer, nodes: list[ReactorServer]) -> None:
    """Open the ledger's accounts, and wait until every node shows them (other clients'
    first transfers go to those nodes)."""
    call(committer.url, "mutation", "ledger:open_accounts",
         {"names": ACCOUNTS, "balance": OPENING})
    ts = post(committer.url, "/api/query_ts", {})["ts"]
    for node in nodes:
        answer = post(node.url, "/api/query_at_ts",
                      {"path": "ledger:summary", "args": [{}], "ts": ts})
        assert answer["status"] == "success", answer


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
    open_accounts(committer, [follower])
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
    open_accounts(committer, [follower])
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


class HttpTransfers:
    """A client sending transfers over HTTP to a list of nodes in turn, without
    re-sending a failed one (the ledger would count a re-sent transfer twice)."""

    def __init__(self, name: str, urls: list[str]) -> None:
        self.name = name
        self.urls = urls
        self.acknowledged: list[list[Any]] = []
        self.failed = 0
        self.errors: list[str] = []
        # monotonic time of each success, to measure the gap a failover leaves.
        self.success_times: list[float] = []

    def run(self, stop: threading.Event) -> None:
        seq = 0
        while not stop.is_set():
            url = self.urls[seq % len(self.urls)]
            source, target = ACCOUNTS[seq % len(ACCOUNTS)], ACCOUNTS[(seq + 1) % len(ACCOUNTS)]
            try:
                answer = post(url, "/api/mutation", {"path": "ledger:transfer", "args": [
                    {"client": self.name, "seq": seq, "source": source, "target": target,
                     "amount": 1}]})
            except (OSError, ValueError) as exc:
                answer = {"status": "error", "errorMessage": repr(exc)}
            if answer.get("status") == "success":
                self.acknowledged.append([self.name, seq])
                self.success_times.append(time.monotonic())
            else:
                self.failed += 1
                self.errors.append(str(answer.get("errorMessage")))
                time.sleep(0.05)
            seq += 1


@pytest.mark.slow
def test_sigkill_of_the_committer_under_load(tmp_path: Path, database_url: str) -> None:
    """Three nodes; transfers go to the two followers; the committer is SIGKILLed. A
    follower takes over within the documented bound (10 s), no acknowledged transfer is
    lost or applied twice, and both survivors end with the same ledger."""
    committer = ReactorServer(LEDGER_APP, tmp_path / "a", args=["--db", database_url])
    followers = [ReactorServer(LEDGER_APP, tmp_path / name,
                               args=["--db", database_url, "--follow"]) for name in "bc"]
    try:
        committer.start()
        for follower in followers:
            follower.start()
        open_accounts(committer, followers)
        urls = [f.url for f in followers]
        clients = [HttpTransfers(f"client{i}", urls[i:] + urls[:i]) for i in range(2)]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        before = sum(len(c.acknowledged) for c in clients)
        killed_at = time.monotonic()
        committer.kill()
        deadline = killed_at + 15
        while time.monotonic() < deadline and not any(
                t > killed_at + 0.5 for c in clients for t in c.success_times):
            time.sleep(0.1)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(30)
        resumed = [t for c in clients for t in c.success_times if t > killed_at + 0.5]
        assert before > 0, "no transfer succeeded before the kill"
        assert resumed, "no transfer succeeded after the committer was killed: " + "".join(
            f.log() for f in followers)
        gap = min(resumed) - killed_at
        print(f"first commit {gap:.1f} s after the kill; acknowledged"
              f" {sum(len(c.acknowledged) for c in clients)}, failed"
              f" {sum(c.failed for c in clients)}")
        assert gap <= 10.0
        # Followers hold mutations while the new committer takes over: only a transfer
        # in flight to the killed committer (one per client at most) can fail.
        assert sum(c.failed for c in clients) <= len(clients), [c.errors for c in clients]
        # The newest ts either survivor knows (the new committer's): every acknowledged
        # transfer is at or before it, and both survivors answer at it.
        ts = max((post(url, "/api/query_ts", {})["ts"] for url in urls), key=decode_ts)
        audits = [post(url, "/api/query_at_ts", {"path": "ledger:audit", "args": [{}],
                                                 "ts": ts}) for url in urls]
        assert audits[0]["status"] == "success", audits[0]
        assert audits[0] == audits[1]
        check_ledger(audits[0]["value"], [a for c in clients for a in c.acknowledged])
    finally:
        for follower in followers:
            follower.stop()
        committer.stop()


async def test_a_deposed_committer_cannot_write(database_url: str) -> None:
    """The fence: once the lease's epoch has moved on (another node took over), the old
    holder's batch fails whole and its renewal says it is deposed."""
    store = PostgresStorage(database_url)
    await store.open()
    try:
        await store.claim_commits("a", "http://a", 5.0)
        await store.write([commit(1, "x")], {"last_ts": 1})
        assert await store.renew("a", 5.0)
        await store._fetch("UPDATE committer_lease SET holder = 'b', epoch = epoch + 1")
        with pytest.raises(StorageError):
            await store.write([commit(2, "y")], {"last_ts": 2})
        assert await store.get_document("x", 5) == {"v": 1.0}
        assert await store.get_document("y", 5) is None
        assert await store.log_tail() == 1
        assert not await store.renew("a", 5.0)
    finally:
        await store.close()


def commit(ts: int, doc_id: str) -> CommitRecord:
    return CommitRecord(ts, [DocumentWrite(doc_id, "t", {"v": float(ts)})], [], [])


class Proxy:
    """One address in front of the nodes (what a load balancer is): TCP relayed to the
    node `target` names; `switch` sends new connections elsewhere."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def switch(self, target: int) -> None:
        self.target = target

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def test_sigkill_of_a_follower_its_clients_resume_on_another_node(
        tmp_path: Path, database_url: str) -> None:
    """A client of a follower (behind one address) keeps sending transfers while the
    follower is SIGKILLed and the address moves to another follower: it reconnects,
    its subscription resumes, each transfer is applied exactly once (the client re-sends
    unanswered ones; their stored outcomes answer them), and every snapshot sums right."""
    committer = ReactorServer(LEDGER_APP, tmp_path / "a", args=["--db", database_url])
    followers = [ReactorServer(LEDGER_APP, tmp_path / name,
                               args=["--db", database_url, "--follow"]) for name in "bc"]
    proxy: Proxy | None = None
    try:
        committer.start()
        for follower in followers:
            follower.start()
        open_accounts(committer, followers)
        proxy = Proxy(followers[0].port)
        script = NodeProcess(NODE_DIR / "nodes_reconnect.mjs", proxy.url, "40",
                             ",".join(ACCOUNTS))
        try:
            script.wait_line("ready")
            script.wait_line("sent 15")
            proxy.switch(followers[1].port)
            followers[0].kill()
            result = script.result(timeout=60)
        finally:
            script.kill()
        total = OPENING * len(ACCOUNTS)
        assert all(s["total"] == total for s in result["summaries"])
        assert result["connectionCount"] >= 2
        audit = call(followers[1].url, "query", "ledger:audit", {})
        stored = sorted(t["seq"] for t in audit["transfers"] if t["client"] == "reconnecting")
        assert stored == list(range(40)), "a transfer was lost or applied twice"
        check_ledger(audit, [])
    finally:
        if proxy is not None:
            proxy.close()
        for follower in followers:
            follower.stop()
        committer.stop()


def test_jobs_scheduled_on_any_node_run_once(
        two_nodes: tuple[ReactorServer, ReactorServer]) -> None:
    """Mutations on both nodes schedule transfers: only the committer runs scheduled
    jobs, so each runs exactly once."""
    committer, follower = two_nodes
    open_accounts(committer, [follower])
    for seq in range(10):
        node = (committer, follower)[seq % 2]
        call(node.url, "mutation", "ledger:transfer_later",
             {"client": "later", "seq": seq, "source": ACCOUNTS[0], "target": ACCOUNTS[1],
              "amount": 1})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        audit = call(follower.url, "query", "ledger:audit", {})
        if len(audit["transfers"]) >= 10:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # a second run of any job would show by now
    audit = call(follower.url, "query", "ledger:audit", {})
    assert sorted(t["seq"] for t in audit["transfers"]) == list(range(10))
    check_ledger(audit, [])


def test_nodes_all_started_with_follow_elect_a_committer(
        tmp_path: Path, database_url: str) -> None:
    """On a new store, every node may start with --follow: one takes the lease and
    commits, and mutations sent to either node are committed once."""
    nodes = [ReactorServer(LEDGER_APP, tmp_path / name, args=["--db", database_url, "--follow"])
             for name in "ab"]
    try:
        for node in nodes:
            node.start()
        open_accounts(nodes[1], [nodes[0]])
        for seq in range(6):
            call(nodes[seq % 2].url, "mutation", "ledger:transfer",
                 {"client": "c", "seq": seq, "source": ACCOUNTS[0], "target": ACCOUNTS[1],
                  "amount": 1})
        logs = [node.log() for node in nodes]
        assert sum("takes over committing" in log for log in logs) == 1, logs
        ts = max((post(node.url, "/api/query_ts", {})["ts"] for node in nodes), key=decode_ts)
        audits = [post(node.url, "/api/query_at_ts", {"path": "ledger:audit", "args": [{}],
                                                      "ts": ts}) for node in nodes]
        assert audits[0] == audits[1]
        assert sorted(t["seq"] for t in audits[0]["value"]["transfers"]) == list(range(6))
        check_ledger(audits[0]["value"], [])
    finally:
        for node in nodes:
            node.stop()


PIPELINE_APP = Path(__file__).resolve().parent / "apps" / "pipeline"


async def test_one_clients_pipelined_mutations_through_a_follower_keep_their_order(
        tmp_path: Path, database_url: str) -> None:
    """A client sends its mutations to a follower without waiting for answers: the
    follower forwards them together (linked, so the committer commits each after the one
    before), and each takes effect in the order sent — every result is what running
    them one after another gives, and the commits' ts follow the order sent."""
    committer = ReactorServer(PIPELINE_APP, tmp_path / "committer", args=["--db", database_url])
    follower = ReactorServer(PIPELINE_APP, tmp_path / "follower",
                             args=["--db", database_url, "--follow"])
    try:
        committer.start()
        follower.start()
        async with ProtocolClient(follower.url) as client:
            for round_ in range(4):
                key = f"k{round_}"
                # The first add sleeps after reading: the ones after it run meanwhile and
                # read before it commits (the second add conflicts, and runs again), and
                # a note, which reads nothing, must still commit after that second add.
                sequence: list[tuple[str, dict[str, Any], Any]] = [
                    ("add", {"key": key, "amount": 1.0, "delay": 0.05}, 1),
                    ("add", {"key": key, "amount": 2.0, "delay": 0.0}, 3),
                    ("note", {"text": key, "delay": 0.0}, key),
                    ("add", {"key": key, "amount": 3.0, "delay": 0.0}, 6),
                    ("take", {"key": key, "amount": 1.0, "delay": 0.0}, 5),
                    ("note", {"text": key + "'", "delay": 0.0}, key + "'"),
                    ("peek", {"key": key, "delay": 0.0}, 5),
                    ("take", {"key": key, "amount": 9.0, "delay": 0.0}, {"short": 5}),
                ]
                ids = [await client.send_mutation(f"ops:{name}", args)
                       for name, args, _ in sequence]
                responses: dict[int, dict[str, Any]] = {}
                while len(responses) < len(ids):
                    frame = await client.receive(timeout=30)
                    if frame["type"] == "MutationResponse":
                        responses[frame["requestId"]] = frame
                results = [responses[i]["result"] if responses[i]["success"]
                           else responses[i].get("errorData") for i in ids]
                assert results == [expected for _, _, expected in sequence], responses
                written = [decode_ts(responses[i]["ts"]) for i, (name, _, _) in
                           zip(ids, sequence, strict=True)
                           if responses[i]["success"] and name != "peek"]
                assert written == sorted(written) and len(set(written)) == len(written)
    finally:
        follower.stop()
        committer.stop()
