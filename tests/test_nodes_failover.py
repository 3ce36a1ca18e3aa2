"""Failover of several `reactor serve --db` nodes on one PostgreSQL (docs/guide/nodes.md):
scheduled jobs and crons moving to a new committer, a deposed committer that is still
alive, and PostgreSQL itself restarting under load. Real processes throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ReactorServer
from sync_support import ProtocolClient
from test_nodes import (
    ACCOUNTS,
    LEDGER_APP,
    OPENING,
    HttpTransfers,
    call,
    check_ledger,
    open_accounts,
    post,
)

from reactor.server.protocol import decode_ts
from reactor.testing_postgres import (
    Cluster,
    Unavailable,
    create_database,
    drop_database,
    start_cluster,
)

JOBS_APP = Path(__file__).resolve().parent / "apps" / "nodes_jobs"
TAKES_OVER = "takes over committing"
STEPS_DOWN = "stops committing and follows"
COMMITS = "this node commits from now on"

pytestmark = pytest.mark.slow


def job_node(tmp_path: Path, url: str, name: str, *, follow: bool) -> ReactorServer:
    """A node of the jobs app; what it runs is recorded under `name`."""
    return ReactorServer(JOBS_APP, tmp_path / name,
                         args=["--db", url, *(["--follow"] if follow else [])],
                         env={"REACTOR_TEST_NODE": name})


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def runs(node: ReactorServer) -> list[dict[str, str]]:
    result: list[dict[str, str]] = call(node.url, "query", "jobs:runs", {})
    return result


def new_committer(nodes: list[ReactorServer]) -> ReactorServer:
    """The one node of `nodes` whose log says it took the lease over."""
    taken = [node for node in nodes if TAKES_OVER in node.log()]
    assert len(taken) == 1, [node.log() for node in nodes]
    return taken[0]


def test_jobs_and_crons_move_to_the_new_committer(tmp_path: Path, database_url: str) -> None:
    """Jobs due before, during and after the committer's SIGKILL each run exactly once
    (mutations) or at most once (actions), the rest on the new committer; the cron keeps
    firing there, and the new committer runs the startup function."""
    a = job_node(tmp_path, database_url, "a", follow=False)
    followers = [job_node(tmp_path, database_url, name, follow=True) for name in "bc"]
    try:
        a.start()
        for node in followers:
            node.start()
        wait_until(lambda: any(r["kind"] == "cron" for r in runs(a)), 10, "a tick on a")
        # Scheduled through a follower: 20 mutation and 20 action jobs, one pair due
        # every 0.4 s, so the kill falls among them.
        call(followers[0].url, "mutation", "jobs:schedule",
             {"prefix": "k", "count": 20, "step_s": 0.4})
        time.sleep(2.0)
        a.kill()
        killed = time.monotonic()

        def all_mutation_jobs_ran() -> bool:
            return sum(r["kind"] == "job" for r in runs(followers[0])) >= 20

        wait_until(all_mutation_jobs_ran, 30, "every mutation job to run")
        committer = new_committer(followers)
        name = committer.data_dir.name

        def ticks_on_new_committer() -> int:
            return sum(r["kind"] == "cron" and r["node"] == name for r in runs(committer))

        wait_until(lambda: ticks_on_new_committer() >= 3, 15, "the cron on the new committer")
        time.sleep(1.0)  # a second run of any job would show by now
        print(f"all jobs ran within {time.monotonic() - killed:.1f} s of the kill")
        seen = runs(committer)
        by_key = Counter(r["key"] for r in seen if r["kind"] in ("job", "action"))
        assert {key: n for key, n in by_key.items() if n > 1} == {}, "a job ran twice"
        assert {f"km{i}" for i in range(20)} <= set(by_key), "a mutation job was lost"
        ran_on = {r["node"] for r in seen if r["kind"] == "job"}
        assert ran_on == {"a", name}, ran_on  # some before the kill, the rest after
        states = {j["key"]: j["state"] for j in call(committer.url, "query", "jobs:jobs", {})}
        for i in range(20):
            key = f"ka{i}"
            # An action runs at most once: one the kill interrupted is marked failed.
            assert states[key] in ("success", "failed"), (key, states[key])
            if states[key] == "success":
                assert by_key[key] == 1, key
        assert sum(state == "failed" for state in states.values()) <= 2, states
        assert all(states[f"km{i}"] == "success" for i in range(20)), states
        assert sum(r["kind"] == "startup" and r["node"] == name for r in seen) == 1
        ticks = [r["node"] for r in seen if r["kind"] == "cron"]
        # Ticks run on one node at a time: the old committer's, then the new one's.
        assert ticks == sorted(ticks, key=lambda node: node != "a"), ticks
    finally:
        for node in followers:
            node.stop()
        a.stop()


# A request a deposed committer holds when it runs again, or receives while it steps
# down, is answered within this (committed through the new committer, or failed):
# never left to the client's timeout (docs/guide/nodes.md).
ANSWER_S = 5.0


class Writes:
    """A client writing distinct keys to one node over HTTP, never re-sending one."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url
        self.acknowledged: list[str] = []
        self.success_times: list[float] = []
        self.errors: list[str] = []
        # Each request answered, as (sent, answered); `sending`: the one on its way.
        self.requests: list[tuple[float, float]] = []
        self.sending: float | None = None

    def run(self, stop: threading.Event) -> None:
        seq = 0
        while not stop.is_set():
            self.write(f"{self.name}{seq}")
            seq += 1

    def write(self, key: str) -> None:
        self.sending = sent = time.monotonic()
        try:
            answer = post(self.url, "/api/mutation", {"path": "jobs:write",
                                                      "args": [{"key": key}]})
        except (OSError, ValueError) as exc:
            answer = {"status": "error", "errorMessage": repr(exc)}
        answered = time.monotonic()
        self.requests.append((sent, answered))
        self.sending = None
        if answer.get("status") == "success":
            self.acknowledged.append(key)
            self.success_times.append(answered)
        else:
            self.errors.append(str(answer.get("errorMessage")))
            time.sleep(0.05)

    def answered_at(self, moment: float) -> list[float]:
        """When each request on its way at `moment` was answered (infinity: not yet)."""
        sending = self.sending
        held = [] if sending is None or sending > moment else [float("inf")]
        return [answered for sent, answered in self.requests
                if sent <= moment < answered] + held


def burst(writes: Writes, count: int, spacing_s: float) -> list[threading.Thread]:
    """`count` writes of `writes`' client sent `spacing_s` apart, each on a thread of its
    own, none waiting for another's answer: some reach a node while it steps down."""
    threads = []
    for seq in range(count):
        thread = threading.Thread(target=writes.write, args=(f"{writes.name}{seq}",))
        thread.start()
        threads.append(thread)
        time.sleep(spacing_s)
    return threads


def test_a_deposed_committer_steps_down_into_a_follower(
        tmp_path: Path, database_url: str) -> None:
    """The committer is stopped (SIGSTOP) past its term while clients write to it and to
    a follower; the follower takes over. Once continued (SIGCONT), the old committer's
    commits are refused by the fence, it steps down and follows, and writes sent to it
    commit through the new committer: those it held while stopped, and a burst sent as
    it steps down, each answered within `ANSWER_S`. Every acknowledged write is stored
    exactly once, and both nodes end with the same data."""
    a = job_node(tmp_path, database_url, "a", follow=False)
    b = job_node(tmp_path, database_url, "b", follow=True)
    try:
        a.start()
        b.start()
        clients = [Writes("to_a_", a.url), Writes("to_b_", b.url)]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        assert a.process is not None
        os.killpg(a.process.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: COMMITS in b.log(), 15, "the follower to take over")
            # (The client of b may be held: b was forwarding its write to a.)
            clients[1].acknowledged.append(
                call(b.url, "mutation", "jobs:write", {"key": "on_b_while_a_stopped"}))
        finally:
            os.killpg(a.process.pid, signal.SIGCONT)
        continued = time.monotonic()
        # Writes that do not wait for each other: a commit made while the node steps
        # down was once queued for a committer already stopped, and never answered.
        bursting = Writes("burst_", a.url)
        bursts = burst(bursting, 250, 0.004)
        wait_until(lambda: STEPS_DOWN in a.log(), 10, "the old committer to step down")
        # The write held since the stop is answered within ANSWER_S: the next one
        # commits through the new committer at once.
        wait_until(lambda: any(t > continued + 0.5 for t in clients[0].success_times),
                   ANSWER_S + 5, "a write sent to the old committer after it stepped down")
        ticks_on_a = sum(r["kind"] == "cron" and r["node"] == "a" for r in runs(b))
        time.sleep(2.5)
        stop.set()
        for thread in [*threads, *bursts]:
            thread.join(30)
        held = {c.name: [round(t - continued, 2) for t in c.answered_at(continued)]
                for c in clients}
        slowest = max(answered - sent for sent, answered in bursting.requests)
        print(f"held at SIGCONT, answered after (s): {held}; burst: {len(bursting.requests)}"
              f" writes, the slowest answered in {slowest:.2f} s")
        assert all(t <= ANSWER_S for times in held.values() for t in times), held
        assert slowest <= ANSWER_S and len(bursting.requests) == 250
        assert bursting.errors == []
        clients.append(bursting)
        assert a.process.poll() is None, "the deposed committer exited"
        ts = max((post(n.url, "/api/query_ts", {})["ts"] for n in (a, b)), key=decode_ts)
        views = [post(n.url, "/api/query_at_ts", {"path": "jobs:runs", "args": [{}], "ts": ts})
                 for n in (a, b)]
        assert views[0]["status"] == "success", views[0]
        assert views[0] == views[1]
        stored = Counter(r["key"] for r in views[0]["value"] if r["kind"] == "client")
        assert {k: n for k, n in stored.items() if n > 1} == {}, "a write applied twice"
        acknowledged = [key for c in clients for key in c.acknowledged]
        assert set(acknowledged) <= set(stored), "an acknowledged write was lost"
        # The deposed node's cron stopped: no tick of it after it stepped down.
        assert sum(r["kind"] == "cron" and r["node"] == "a"
                   for r in views[0]["value"]) == ticks_on_a
        print(f"acknowledged {len(acknowledged)}; failed {[len(c.errors) for c in clients]}:"
              f" {sorted({e[:100] for c in clients for e in c.errors})}")
        # The deposed node's own mutations whose commits it refused ran again through
        # the new committer. Only a write b was forwarding to a when a stopped may
        # fail (its answer never came: CommitterUnavailable).
        assert clients[0].errors == []
        assert len(clients[1].errors) <= 1
        assert all("CommitterUnavailable" in e for e in clients[1].errors)
    finally:
        b.stop()
        a.stop()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster of this test's own (it restarts it: never the shared
    server), started with Debian's pg_ctl."""
    try:
        started = start_cluster()
    except (Unavailable, OSError) as exc:
        pytest.skip(f"restarting PostgreSQL needs a cluster of the test's own: {exc}")
    try:
        yield started
    finally:
        started.stop("immediate")
        started.remove()


class Subscriber:
    """A sync-protocol client on one node watching `ledger:summary`: every value pushed,
    each Transition checked to follow the previous one (ProtocolClient)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.values: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def run(self, stop: threading.Event) -> None:
        try:
            asyncio.run(self._watch(stop))
        except BaseException as exc:
            self.error = exc

    async def _watch(self, stop: threading.Event) -> None:
        async with ProtocolClient(self.url) as client:
            await client.add({0: ("ledger:summary", {})}, timeout=10)
            self.values.append(client.values[0])
            while not stop.is_set():
                try:
                    frame = await client.receive(0.5)
                except TimeoutError:
                    continue
                if frame["type"] != "Transition":
                    continue
                if 0 in client.errors:
                    self.failures.append(client.errors[0])
                else:
                    self.values.append(client.values[0])


def test_postgres_restarts_under_load(tmp_path: Path, cluster: Cluster) -> None:
    """A committer and two followers on a cluster that crashes (immediate stop) and starts
    again while clients send transfers to every node and subscribers watch the followers:
    the nodes reconnect, followers follow again, every pushed snapshot sums right, and
    no acknowledged transfer is lost or applied twice."""
    url = create_database(cluster.url, prefix="reactor_restart")
    committer = ReactorServer(LEDGER_APP, tmp_path / "a", args=["--db", url])
    followers = [ReactorServer(LEDGER_APP, tmp_path / name, args=["--db", url, "--follow"])
                 for name in "bc"]
    nodes = [committer, *followers]
    try:
        for node in nodes:
            node.start()
        open_accounts(committer, followers)
        urls = [node.url for node in nodes]
        clients = [HttpTransfers(f"client{i}", urls[i:] + urls[:i]) for i in range(3)]
        subscribers = [Subscriber(node.url) for node in followers]
        stop, unsubscribe = threading.Event(), threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
        watching = [threading.Thread(target=w.run, args=(unsubscribe,)) for w in subscribers]
        for thread in [*threads, *watching]:
            thread.start()
        time.sleep(1.5)
        cluster.stop("immediate")
        time.sleep(2.0)
        cluster.start()
        restarted = time.monotonic()
        wait_until(lambda: sum(t > restarted + 0.5 for c in clients for t in c.success_times)
                   >= 20, 30, "transfers to commit again")
        time.sleep(1.5)
        stop.set()
        for thread in threads:
            thread.join(30)
        first = min(t for c in clients for t in c.success_times if t > restarted)
        print(f"acknowledged {sum(len(c.acknowledged) for c in clients)}, failed"
              f" {sum(c.failed for c in clients)}; first success {first - restarted:.1f} s"
              f" after the restart; subscription failures {[w.failures for w in subscribers]}")
        ts = max((post(u, "/api/query_ts", {})["ts"] for u in urls), key=decode_ts)
        audits = [post(u, "/api/query_at_ts", {"path": "ledger:audit", "args": [{}], "ts": ts})
                  for u in urls]
        assert audits[0]["status"] == "success", audits[0]
        assert audits[1] == audits[0] and audits[2] == audits[0]
        audit = audits[0]["value"]
        check_ledger(audit, [a for c in clients for a in c.acknowledged])
        moves = 2 * len(audit["transfers"])
        # Each follower kept following after the restart, up to the last transfer.
        wait_until(lambda: all((w.values and w.values[-1]["moves"] == moves) or w.error
                               for w in subscribers), 10,
                   f"pushes of {moves} moves: "
                   + repr([(w.values[-1:], w.failures[-1:], w.error) for w in subscribers]))
        unsubscribe.set()
        for thread in watching:
            thread.join(30)
        total = OPENING * len(ACCOUNTS)
        for subscriber in subscribers:
            assert subscriber.error is None, repr(subscriber.error)
            # A re-run may fail while PostgreSQL is away (pushed as such, never as a
            # wrong value); it runs again until it succeeds.
            assert all("StorageIOError" in f["errorMessage"] for f in subscriber.failures)
            assert all(v["total"] == total for v in subscriber.values), subscriber.values
            assert subscriber.values[-1]["moves"] == moves
    finally:
        for node in reversed(nodes):
            node.stop()
        drop_database(url)
