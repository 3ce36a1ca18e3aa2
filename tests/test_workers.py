"""`reactor serve --workers N` on SQLite (docs/guide/nodes.md, "Worker processes on one
machine"): real processes on one port and one data directory, the official client
spread over them."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import NODE_DIR, NodeError, ReactorServer, run_node
from sync_support import NodeProcess
from test_nodes import (
    ACCOUNTS,
    LEDGER_APP,
    OPENING,
    HttpTransfers,
    Proxy,
    call,
    check_ledger,
    open_accounts,
    post,
)

from reactor.server.protocol import decode_ts

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="--workers needs Linux")


class Workers:
    """The parent process (`server`) and what its data directory says of the workers."""

    def __init__(self, server: ReactorServer, size: int) -> None:
        self.server = server
        self.size = size

    @property
    def url(self) -> str:
        return self.server.url

    def listed(self) -> list[dict[str, Any]]:
        try:
            text = (self.server.data_dir / "workers.json").read_text()
        except FileNotFoundError:
            return []
        workers: list[dict[str, Any]] = json.loads(text)["workers"]
        return workers

    def wait_ready(self, timeout: float = 60.0, *, replaced: int | None = None) -> None:
        """Until every worker serves (and, with `replaced`, that pid is not among them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = self.listed()
            if len(listed) == self.size and all(w["pid"] != replaced for w in listed):
                return
            time.sleep(0.1)
        raise AssertionError(f"workers not ready: {self.listed()}\n{self.server.log()}")

    def committer(self) -> dict[str, Any]:
        named: dict[str, Any] = json.loads((self.server.data_dir / "committer.json").read_text())
        return named

    def follower_urls(self) -> list[str]:
        address = self.committer()["address"]
        return [w["url"] for w in self.listed() if w["url"] != address]

    def urls(self) -> list[str]:
        return [w["url"] for w in self.listed()]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Workers]:
    server = ReactorServer(LEDGER_APP, tmp_path / "data", args=["--workers", "2"],
                           startup_timeout=60)
    workers = Workers(server, 2)
    try:
        server.start()
        workers.wait_ready()
        yield workers
    finally:
        server.stop()


class At:
    """An address where open_accounts takes a server."""

    def __init__(self, url: str) -> None:
        self.url = url


def worker_servers(workers: Workers) -> list[Any]:
    """Each worker's private address (open_accounts waits until each shows the accounts)."""
    return [At(url) for url in workers.urls()]


def test_bank_with_clients_on_every_worker(two_workers: Workers) -> None:
    """Transfers sent to both workers directly and to the shared port: every snapshot
    any of them pushes sums right, and the final balances equal the ledger."""
    open_accounts(two_workers.server, worker_servers(two_workers))
    urls = [*two_workers.urls(), two_workers.url]
    try:
        result = run_node(NODE_DIR / "nodes_bank.mjs", "30", ",".join(ACCOUNTS), *urls,
                          timeout=120)
    except NodeError as error:
        raise AssertionError(f"{error}\nthe server's log:\n{two_workers.server.log()[-8000:]}"
                             ) from None
    total = OPENING * len(ACCOUNTS)
    for node in result["nodes"]:
        assert node["summaries"] and all(s["total"] == total for s in node["summaries"])
        assert node["totals"] and all(t == total for t in node["totals"])
        assert len(node["summaries"]) >= 2
    audits = [call(url, "query", "ledger:audit", {}) for url in two_workers.urls()]
    assert audits[0] == audits[1]
    check_ledger(audits[0], result["acknowledged"])
    assert "answered no health probe" not in two_workers.server.log()


def test_the_shared_port_spreads_connections(two_workers: Workers) -> None:
    """New connections to the one port reach both processes (SO_REUSEPORT)."""
    answered = []
    for _ in range(40):
        with urllib.request.urlopen(f"{two_workers.url}/health", timeout=10) as response:
            answered.append(response.headers["X-Reactor-Worker"])
    assert set(answered) == {"0", "1"}, answered


def test_read_your_writes_across_workers(two_workers: Workers) -> None:
    open_accounts(two_workers.server, worker_servers(two_workers))
    committer = two_workers.committer()["address"]
    [follower] = two_workers.follower_urls()
    for seq in range(10):
        call(committer, "mutation", "ledger:transfer",
             {"client": "c", "seq": seq, "source": ACCOUNTS[0], "target": ACCOUNTS[1],
              "amount": 1})
        ts = post(committer, "/api/query_ts", {})["ts"]
        answer = post(follower, "/api/query_at_ts",
                      {"path": "ledger:account", "args": [{"name": ACCOUNTS[1]}], "ts": ts})
        assert answer["status"] == "success", answer
        assert answer["value"] == {"balance": OPENING + seq + 1, "moves": seq + 1}
    # Sent to the follower: answered once the follower shows it, so a query right after
    # sees it on either worker.
    for seq in range(10, 20):
        call(follower, "mutation", "ledger:transfer",
             {"client": "c", "seq": seq, "source": ACCOUNTS[0], "target": ACCOUNTS[1],
              "amount": 1})
        expected = {"balance": OPENING + seq + 1, "moves": seq + 1}
        assert call(follower, "query", "ledger:account", {"name": ACCOUNTS[1]}) == expected
        assert call(committer, "query", "ledger:account", {"name": ACCOUNTS[1]}) == expected


# The documented bounds (docs/guide/nodes.md) for a new committer after the old one
# died, and after it hung (the parent's 5 s without an answer to its probe, then the same).
TAKEOVER_BOUND_S = 5.0
HUNG_TAKEOVER_BOUND_S = 8.0


class CommitterFailure:
    """Three workers; clients send transfers to the shared port and to a follower while
    `fail` is done to the committer worker's pid; what the clients saw."""

    def __init__(self, tmp_path: Path, fail: signal.Signals) -> None:
        self.server = ReactorServer(LEDGER_APP, tmp_path / "data", args=["--workers", "3"],
                                    startup_timeout=60)
        self.workers = Workers(self.server, 3)
        self.fail = fail
        self.failed_pid = 0
        self.failed_at = 0.0
        self.clients: list[HttpTransfers] = []

    def run(self) -> float:
        """Start, load, fail the committer; the seconds until both clients commit again."""
        self.server.start()
        self.workers.wait_ready()
        open_accounts(self.server, worker_servers(self.workers))
        followers = self.workers.follower_urls()
        self.clients = [HttpTransfers("shared", [self.server.url]),
                        HttpTransfers("direct", [followers[0]])]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,)) for c in self.clients]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        before = sum(len(c.acknowledged) for c in self.clients)
        self.failed_pid = self.workers.committer()["pid"]
        self.failed_at = time.monotonic()
        os.kill(self.failed_pid, self.fail)
        deadline = self.failed_at + 20
        while time.monotonic() < deadline and not all(
                any(t > self.failed_at + 0.2 for t in c.success_times) for c in self.clients):
            time.sleep(0.05)
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join(40)
        assert before > 0, "no transfer succeeded before the failure"
        resumed = [t for c in self.clients for t in c.success_times
                   if t > self.failed_at + 0.2]
        assert resumed, "no transfer succeeded after the failure:\n" + self.server.log()
        gap = min(resumed) - self.failed_at
        print(f"{self.fail.name}: first commit {gap:.2f} s after it; acknowledged"
              f" {sum(len(c.acknowledged) for c in self.clients)}, failed"
              f" {sum(c.failed for c in self.clients)}: {[c.errors for c in self.clients]}")
        return gap

    def check_recovered(self) -> None:
        """Another worker commits, each client lost at most its one transfer in flight
        on the failed worker, the parent started that worker again, and every worker
        shows the same ledger, with each acknowledged transfer applied exactly once."""
        workers, clients = self.workers, self.clients
        assert workers.committer()["pid"] != self.failed_pid
        assert sum(c.failed for c in clients) <= len(clients), [c.errors for c in clients]
        workers.wait_ready(replaced=self.failed_pid)
        ts = max((post(url, "/api/query_ts", {})["ts"] for url in workers.urls()),
                 key=decode_ts)
        audits = [post(url, "/api/query_at_ts", {"path": "ledger:audit", "args": [{}],
                                                 "ts": ts}) for url in workers.urls()]
        assert audits[0]["status"] == "success", audits[0]
        assert all(audit == audits[0] for audit in audits)
        check_ledger(audits[0]["value"], [a for c in clients for a in c.acknowledged])
        assert "worker" in self.server.log() and "starting it again" in self.server.log()
        # Busy workers under this load answer the parent's probe: only a stopped one is killed.
        killed = 1 if self.fail == signal.SIGSTOP else 0
        assert self.server.log().count("answered no health probe") == killed, self.server.log()

    def close(self) -> None:
        if self.failed_pid and _alive(self.failed_pid):
            os.kill(self.failed_pid, signal.SIGCONT)
        self.server.stop()


@pytest.mark.slow
def test_sigkill_of_the_committer_worker_under_load(tmp_path: Path) -> None:
    """The committer worker is SIGKILLed under load: a follower commits again within
    the bound, nothing acknowledged is lost or applied twice, the parent starts the dead
    worker again, and every worker ends with the same ledger."""
    failure = CommitterFailure(tmp_path, signal.SIGKILL)
    try:
        assert failure.run() <= TAKEOVER_BOUND_S
        failure.check_recovered()
    finally:
        failure.close()


@pytest.mark.slow
def test_a_hung_committer_worker_is_killed_and_replaced(tmp_path: Path) -> None:
    """The committer worker is SIGSTOPped under load (alive, holding its lease, answering
    nothing): the parent's probe finds it silent, SIGKILLs it, a follower commits again
    within the bound, nothing acknowledged is lost or applied twice, and the parent
    starts the worker again."""
    failure = CommitterFailure(tmp_path, signal.SIGSTOP)
    try:
        gap = failure.run()
        assert gap <= HUNG_TAKEOVER_BOUND_S, failure.server.log()
        # Not before the parent's bound: nothing else frees the lease of a live process.
        assert gap >= 4.0, gap
        assert not _alive(failure.failed_pid), "the stopped worker is still there"
        failure.check_recovered()
    finally:
        failure.close()


def test_sigkill_of_a_follower_worker_its_clients_resume(two_workers: Workers) -> None:
    """A client of the follower worker keeps sending transfers while that worker is
    SIGKILLed; its address then leads to the shared port: it reconnects to a live worker,
    its subscription resumes, each transfer is applied exactly once, every snapshot sums
    right, and the restarted worker shows the same ledger."""
    open_accounts(two_workers.server, worker_servers(two_workers))
    [follower] = two_workers.follower_urls()
    dead = next(w["pid"] for w in two_workers.listed() if w["url"] == follower)
    proxy = Proxy(int(follower.rsplit(":", 1)[1]))
    try:
        script = NodeProcess(NODE_DIR / "nodes_reconnect.mjs", proxy.url, "40",
                             ",".join(ACCOUNTS))
        try:
            script.wait_line("ready")
            script.wait_line("sent 15")
            proxy.switch(two_workers.server.port)
            os.kill(dead, signal.SIGKILL)
            result = script.result(timeout=60)
        finally:
            script.kill()
    finally:
        proxy.close()
    total = OPENING * len(ACCOUNTS)
    assert all(s["total"] == total for s in result["summaries"])
    assert result["connectionCount"] >= 2
    two_workers.wait_ready(replaced=dead)
    audits = [call(url, "query", "ledger:audit", {}) for url in two_workers.urls()]
    stored = sorted(t["seq"] for t in audits[0]["transfers"] if t["client"] == "reconnecting")
    assert stored == list(range(40)), "a transfer was lost or applied twice"
    check_ledger(audits[0], [])
    ts = max((post(url, "/api/query_ts", {})["ts"] for url in two_workers.urls()),
             key=decode_ts)
    at_ts = [post(url, "/api/query_at_ts", {"path": "ledger:audit", "args": [{}], "ts": ts})
             for url in two_workers.urls()]
    assert at_ts[0] == at_ts[1]


def test_workers_refuse_what_they_do_not_do(tmp_path: Path) -> None:
    """--workers with PostgreSQL, or with an option only one process can honour, is one
    clear error naming the option."""
    server = ReactorServer(LEDGER_APP, tmp_path / "data",
                           args=["--workers", "2", "--metrics-port", "0"])
    with pytest.raises(Exception, match="--metrics-port"):
        server.start()
    server = ReactorServer(LEDGER_APP, tmp_path / "data",
                           args=["--workers", "2", "--db", "postgresql://nobody@x/y"])
    with pytest.raises(Exception, match="--follow instead"):
        server.start()


def test_a_single_server_cannot_open_the_workers_data_directory(two_workers: Workers,
                                                                tmp_path: Path) -> None:
    other = ReactorServer(LEDGER_APP, two_workers.server.data_dir)
    with pytest.raises(Exception, match=r"DataDirLocked|in use by another process"):
        other.start()


def test_jobs_scheduled_on_any_worker_run_once(two_workers: Workers) -> None:
    """Mutations on both workers schedule transfers: only the committer runs scheduled
    jobs, so each runs exactly once."""
    open_accounts(two_workers.server, worker_servers(two_workers))
    urls = two_workers.urls()
    for seq in range(10):
        call(urls[seq % 2], "mutation", "ledger:transfer_later",
             {"client": "later", "seq": seq, "source": ACCOUNTS[0], "target": ACCOUNTS[1],
              "amount": 1})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if len(call(urls[1], "query", "ledger:audit", {})["transfers"]) >= 10:
            break
        time.sleep(0.2)
    time.sleep(1.0)  # a second run of any job would show by now
    audit = call(urls[1], "query", "ledger:audit", {})
    assert sorted(t["seq"] for t in audit["transfers"]) == list(range(10))
    check_ledger(audit, [])


def test_sigterm_stops_every_worker_and_frees_the_directory(tmp_path: Path) -> None:
    """SIGTERM to the parent alone: every worker drains and exits, the parent exits 0,
    and a single server can then open the data directory."""
    server = ReactorServer(LEDGER_APP, tmp_path / "data", args=["--workers", "2"],
                           startup_timeout=60)
    workers = Workers(server, 2)
    server.start()
    workers.wait_ready()
    pids = [w["pid"] for w in workers.listed()]
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(30) == 0, server.log()
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    with ReactorServer(LEDGER_APP, tmp_path / "data", startup_timeout=60) as single:
        assert call(single.url, "query", "ledger:summary", {}) == {"total": 0.0, "moves": 0.0}


def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    """A worker whose parent is gone stops (nothing would restart it, and the data
    directory must be free for the next server)."""
    server = ReactorServer(LEDGER_APP, tmp_path / "data", args=["--workers", "2"],
                           startup_timeout=60)
    workers = Workers(server, 2)
    server.start()
    try:
        workers.wait_ready()
        pids = [w["pid"] for w in workers.listed()]
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in pids), server.log()
        assert "the parent process is gone" in server.log()
    finally:
        server.kill()


def _alive(pid: int) -> bool:
    """Running (a zombie whose parent died is reaped by init soon after)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


# A stand-in worker: it answers each connection's `GET /health` after DELAY seconds
# (sleeping, so the answer is late but the process alive), or never with "never".
SLOW_HEALTH = """
import asyncio, sys
delay = sys.argv[1]
async def answer(reader, writer):
    await reader.readline()
    if delay == "never":
        await asyncio.sleep(3600)
    await asyncio.sleep(float(delay))
    writer.write(b"HTTP/1.1 200 OK\\r\\ncontent-length: 2\\r\\n\\r\\nok")
    await writer.drain()
    writer.close()
async def main():
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


@pytest.mark.parametrize("delay, killed", [("3", False), ("never", True)])
def test_the_parent_kills_a_silent_worker_not_a_slow_one(tmp_path: Path, delay: str,
                                                         killed: bool) -> None:
    """The parent's probe with real processes: one answering /health 3 s late each
    time (a loaded worker) lives on; one answering nothing is SIGKILLed once HANG_S
    has passed without an answer."""
    import asyncio

    from reactor.cli import workers

    async def watch() -> tuple[int | None, float]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SLOW_HEALTH, delay, stdout=asyncio.subprocess.PIPE)
        assert process.stdout is not None
        port = int(await process.stdout.readline())
        supervisor = workers.Supervisor(tmp_path, 1, [])
        supervisor.processes[0] = process
        supervisor.addresses[0] = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        watching = asyncio.create_task(supervisor._watch(0, process))
        try:
            await asyncio.wait_for(process.wait(), workers.HANG_S + 5)
        except TimeoutError:
            process.kill()
            await process.wait()
            return None, time.monotonic() - started
        finally:
            watching.cancel()
        return process.returncode, time.monotonic() - started

    code, waited = asyncio.run(watch())
    if killed:
        assert code == -signal.SIGKILL
        assert workers.HANG_S <= waited <= workers.HANG_S + 2 * workers.PROBE_EVERY_S
    else:
        assert code is None, f"a slow worker was killed after {waited:.1f} s"
