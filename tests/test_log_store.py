"""The execution log file (storage/log_store.py): filters against an oracle, retention
by age and by size, and the writer thread that keeps records off the event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.runtime import Engine
from reactor.runtime.execution_log import ExecutionLog, LogRetention
from reactor.runtime.functions import FunctionKind
from reactor.runtime.outcome import FunctionError, Outcome
from reactor.storage.log_store import LOG_FILE, ExecutionRecord, LogFilter, LogStore

PATHS = ["notes:add", "notes:list", "tags:add", "notesx:add"]


def _record(index: int, path: str = "notes:add", status: str = "success",
            started_ms: float = 1e12, lines: tuple[str, ...] = ()) -> ExecutionRecord:
    return ExecutionRecord(path=path, kind="mutation", started_ms=started_ms + index,
                           duration_ms=1.5, status=status,
                           error=None if status == "success" else f"boom {index}",
                           log_lines=lines, request_id=f"{index:016x}")


records_strategy = st.lists(st.tuples(st.sampled_from(PATHS),
                                      st.sampled_from(["success", "failed"]),
                                      st.sampled_from(["", "needle", "hay"])),
                            max_size=30)
filters = st.builds(LogFilter, after=st.integers(0, 35),
                    since_ms=st.none() | st.integers(0, 30).map(lambda i: 1e12 + i),
                    path=st.none() | st.sampled_from([*PATHS, "notes:", "tags:"]),
                    status=st.none() | st.sampled_from(["success", "failed"]),
                    text=st.none() | st.sampled_from(["needle", "boom 1", "tags"]),
                    limit=st.integers(0, 40), newest_first=st.booleans())


def _matches(record: ExecutionRecord, selection: LogFilter) -> bool:
    if record.id <= selection.after:
        return False
    if selection.since_ms is not None and record.started_ms < selection.since_ms:
        return False
    if selection.path is not None and not (
            record.path.startswith(selection.path) if selection.path.endswith(":")
            else record.path == selection.path):
        return False
    if selection.status is not None and record.status != selection.status:
        return False
    if selection.text is not None:
        haystacks = [record.path, record.error or "", *record.log_lines]
        return any(selection.text in text for text in haystacks)
    return True


@settings(max_examples=60, deadline=None)
@given(rows=records_strategy, selection=filters)
def test_query_returns_what_the_filter_selects(tmp_path_factory, rows, selection) -> None:
    store = LogStore.open(tmp_path_factory.mktemp("logs"))
    try:
        store.append([_record(i, path, status, lines=(f"[LOG] {text}",) if text else ())
                      for i, (path, status, text) in enumerate(rows)])
        every = store.query(LogFilter(limit=1000))
        assert [r.id for r in every] == list(range(1, len(rows) + 1))
        expected = [r for r in every if _matches(r, selection)]
        expected = expected[::-1][:selection.limit] if selection.newest_first \
            else expected[:selection.limit]
        assert store.query(selection) == expected
    finally:
        store.close()


def test_retention_by_age_deletes_only_old_records(tmp_path: Path) -> None:
    store = LogStore.open(tmp_path)
    now_ms = time.time() * 1000
    store.append([_record(i, started_ms=now_ms - 3_600_000) for i in range(10)]
                 + [_record(i, started_ms=now_ms - 1_000) for i in range(5)])
    assert store.prune(max_age_s=600, max_bytes=10**9, now_ms=now_ms) == 10
    kept = store.query(LogFilter(limit=100))
    assert len(kept) == 5 and all(r.started_ms > now_ms - 600_000 for r in kept)
    store.close()


def test_retention_by_size_keeps_the_newest_and_shrinks_the_file(tmp_path: Path) -> None:
    store = LogStore.open(tmp_path)
    line = "[LOG] " + "x" * 2_000
    for batch in range(8):
        store.append([_record(batch * 250 + i, lines=(line,)) for i in range(250)])
    assert store.size_bytes() > 4_000_000
    limit = 1_000_000
    deleted = store.prune(max_age_s=10**9, max_bytes=limit, now_ms=1e12)
    assert deleted > 1_000
    assert store.size_bytes() <= limit
    # The freed pages went back to the file system, not just to SQLite's free list.
    assert (tmp_path / LOG_FILE).stat().st_size <= limit * 1.2
    kept = store.query(LogFilter(limit=10_000))
    assert kept[-1].request_id == f"{1999:016x}"  # the newest survived
    assert [r.id for r in kept] == list(range(kept[0].id, 2001))  # only the oldest went
    store.close()


def test_records_survive_reopening_and_read_only_readers_see_them(tmp_path: Path) -> None:
    reader = LogStore.open(tmp_path, read_only=True)
    assert not reader.available and reader.query() == [] and reader.last_id() == 0
    store = LogStore.open(tmp_path)
    store.append([_record(1, status="failed", lines=("[ERROR] bad",))])
    beside = LogStore.open(tmp_path, read_only=True)
    assert [r.error for r in beside.query()] == ["boom 1"]
    store.close()
    again = LogStore.open(tmp_path)
    assert again.query()[0].log_lines == ("[ERROR] bad",)
    assert ExecutionRecord.from_json(again.query()[0].to_json()) == again.query()[0]
    again.close()
    beside.close()


def test_the_writer_thread_batches_records_and_flushes_on_stop(tmp_path: Path) -> None:
    log = ExecutionLog(tmp_path, LogRetention(max_age_s=3600, max_bytes=10**8))
    log.start()
    failure = FunctionError("[Request ID: 00000000000000aa] Server Error\nboom",
                            request_id="00000000000000aa", summary="boom")
    for index in range(1_000):
        outcome = Outcome("notes:add", log_lines=[f"[LOG] {index}"], duration_s=0.002,
                          request_id=f"{index:016x}", caller="user-1")
        log.record(FunctionKind.MUTATION, outcome)
    log.record(FunctionKind.ACTION, Outcome("notes:fail", error=failure,
                                            request_id="00000000000000aa"))
    log.stop()
    store = LogStore.open(tmp_path, read_only=True)
    records = store.query(LogFilter(limit=2_000))
    assert len(records) == 1_001
    assert records[0].caller == "user-1" and records[0].log_lines == ("[LOG] 0",)
    assert records[0].duration_ms == 2.0
    assert (records[-1].status, records[-1].error, records[-1].kind) == \
        ("failed", "boom", "action")
    store.close()


async def test_the_engine_stamps_caller_and_request_id(tmp_path: Path) -> None:
    app = Path(__file__).parent / "apps" / "ops"
    engine = Engine(app, tmp_path / "data", workers=0)
    await engine.start()
    log = ExecutionLog(engine.data_dir)
    log.start()
    engine.add_call_listener(log.record)
    try:
        identity = {"subject": "user-1", "issuer": "https://issuer.test",
                    "tokenIdentifier": "https://issuer.test|user-1"}
        await engine.run_mutation("notes:add", {"body": "mine"}, identity)
        failed = await engine.run_mutation("notes:fail", {"why": "no"})
        assert failed.error is not None
        await asyncio.to_thread(log.flush)
        added, failure = log.store.query(LogFilter(limit=10))
    finally:
        engine.remove_call_listener(log.record)
        log.stop()
        await engine.stop()
    assert (added.path, added.caller, added.status, added.log_lines) == \
        ("notes:add", "user-1", "success", ("[LOG] adding mine",))
    assert len(added.request_id) == 16 and added.request_id != failure.request_id
    assert failure.caller is None and failure.request_id == failed.error.request_id
    assert failure.error == 'Uncaught ConvexError: {"why":"no"}'
