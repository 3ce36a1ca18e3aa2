"""One client's mutations run side by side but take effect in the order sent.

The oracle is the same mutations run one after another. Handlers sleep for
random short times after reading, so later mutations often read before earlier
ones commit: without the ordering (cascaded rejections, failures and read-only
results re-checked after the predecessor) results would differ from the oracle.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.runtime import Engine, FunctionKind, Outcome
from reactor.transactions import CommitOrder, CommitTicket

APP = Path(__file__).parent / "apps" / "pipeline"
KEYS = ("a", "b")


@dataclass(frozen=True)
class Op:
    kind: str
    key: str
    amount: float
    delay: float

    def args(self, index: int) -> dict[str, Any]:
        if self.kind == "note":
            return {"text": f"note {index}", "delay": self.delay}
        if self.kind == "peek":
            return {"key": self.key, "delay": self.delay}
        return {"key": self.key, "amount": self.amount, "delay": self.delay}


ops = st.builds(Op, kind=st.sampled_from(["add", "add", "take", "peek", "note", "missing"]),
                key=st.sampled_from(KEYS), amount=st.integers(1, 4).map(float),
                delay=st.sampled_from([0.0, 0.0, 0.001, 0.004]))


def serial_results(sequence: list[Op]) -> list[Any]:
    """What each mutation returns when they run one at a time, in order."""
    counters: dict[str, float] = {}
    results: list[Any] = []
    for index, op in enumerate(sequence):
        value = counters.get(op.key)
        if op.kind == "add":
            counters[op.key] = (value or 0.0) + op.amount
            results.append(counters[op.key])
        elif op.kind == "take":
            if (value or 0.0) < op.amount:
                results.append(("error", {"short": value or 0.0}))
            else:
                counters[op.key] = value - op.amount  # type: ignore[operator]
                results.append(counters[op.key])
        elif op.kind == "peek":
            results.append(value)
        elif op.kind == "note":
            results.append(f"note {index}")
        else:
            results.append(("error", None))
    return results


def observed(outcome: Outcome) -> Any:
    if outcome.error is not None:
        return ("error", outcome.error.data)
    return outcome.value


async def run_pipelined(engine: Engine, sequence: list[Op]) -> list[Outcome]:
    """All at once, as a sync session runs one client's mutations."""
    order = CommitOrder()

    async def one(index: int, op: Op, ticket: CommitTicket) -> Outcome:
        try:
            return await engine.call(FunctionKind.MUTATION, f"ops:{op.kind}", op.args(index),
                                     ticket=ticket)
        finally:
            ticket.finish()

    return list(await asyncio.gather(*(one(i, op, order.next())
                                       for i, op in enumerate(sequence))))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=14))
def test_pipelined_mutations_equal_the_serial_run(sequence: list[Op]) -> None:
    async def scenario(data_dir: Path) -> None:
        async with Engine(APP, data_dir, durability="normal") as engine:
            outcomes = await run_pipelined(engine, sequence)
            assert [observed(o) for o in outcomes] == serial_results(sequence)
            # Commits took effect in the order sent.
            committed = [o.ts for o, op in zip(outcomes, sequence, strict=True)
                         if o.ok and op.kind in ("add", "take", "note")]
            assert committed == sorted(committed) and len(set(committed)) == len(committed)

    with tempfile.TemporaryDirectory() as data_dir:
        asyncio.run(scenario(Path(data_dir)))


async def test_a_client_pipeline_shares_group_commits(tmp_path: Path) -> None:
    """Independent mutations of one client land in one batch, not one batch each."""
    async with Engine(APP, tmp_path, durability="normal") as engine:
        stats = engine.database.committer.stats
        before = stats.batches
        outcomes = await run_pipelined(engine, [Op("note", "a", 0.0, 0.002)] * 20)
        assert all(o.ok for o in outcomes)
        assert stats.batches - before <= 4, stats.batch_sizes


async def test_a_mutation_that_fails_early_still_waits_its_turn(tmp_path: Path) -> None:
    """A failure before running (no such function) does not let later mutations overtake
    the ones sent before it."""
    async with Engine(APP, tmp_path, durability="normal") as engine:
        sequence = [Op("add", "a", 1.0, 0.02), Op("missing", "a", 0.0, 0.0),
                    Op("peek", "a", 0.0, 0.0)]
        outcomes = await run_pipelined(engine, sequence)
        assert [observed(o) for o in outcomes] == serial_results(sequence) == [1.0, ("error",
                                                                               None), 1.0]
