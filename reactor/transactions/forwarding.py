"""A transaction sent by a follower node to the committing node (docs/architecture.md,
"Many nodes"): its snapshot, read set, buffered writes and mutation outcomes, in the
values' wire encoding (so bytes and 64-bit integers travel exactly, and nothing in it
can run code on the receiving side)."""

from __future__ import annotations

from typing import Any

from reactor.errors import InvalidValueError
from reactor.storage import OutcomeWrite
from reactor.transactions.readset import KeyInterval, ReadSet
from reactor.transactions.transaction import PendingWrite, Transaction
from reactor.values.wire import dumps, loads


def encode_transaction(txn: Transaction) -> bytes:
    """What the committer needs to validate and commit `txn` as if it had run there."""
    return dumps({
        "begin_ts": txn.begin_ts,
        "reads": [[index_id, interval.start, interval.end]
                  for index_id, intervals in txn.read_set.intervals.items()
                  for interval in intervals],
        "writes": [[doc_id, write.table, write.old, write.new]
                   for doc_id, write in txn.writes.items()],
        "outcomes": [[o.session_id, o.request_id, o.value, o.recorded_ms]
                     for o in txn.outcomes],
    })


def decode_transaction(body: bytes) -> dict[str, Any]:
    """A forwarded transaction (`encode_transaction`), decoded once: its "begin_ts" is
    the snapshot it ran at (the committer begins there), the rest is for `adopt_forwarded`."""
    try:
        data = loads(body)
    except Exception as exc:
        raise InvalidValueError(f"forwarded transaction: not wire-encoded ({exc})") from None
    if not isinstance(data, dict) or not {"begin_ts", "reads", "writes", "outcomes"} <= set(data):
        raise InvalidValueError("forwarded transaction: expected an object with begin_ts,"
                                " reads, writes and outcomes")
    return data


def adopt_forwarded(txn: Transaction, data: dict[str, Any]) -> None:
    """Take a decoded forwarded transaction's reads, writes and outcomes into `txn`, begun
    by the committer at the same snapshot."""
    read_set = ReadSet()
    for index_id, start, end in data["reads"]:
        read_set.add(index_id, KeyInterval(start, end))
    writes = {doc_id: PendingWrite(table, old, new) for doc_id, table, old, new in data["writes"]}
    txn.adopt(read_set, writes)
    txn.outcomes.extend(OutcomeWrite(session_id, float(request_id), value, float(recorded_ms))
                        for session_id, request_id, value, recorded_ms in data["outcomes"])

