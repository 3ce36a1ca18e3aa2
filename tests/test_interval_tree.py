"""The interval tree against brute force, and the cost of a stab as the tree grows."""

from __future__ import annotations

import math
import random
import sys
from collections import Counter
from collections.abc import Callable
from types import FrameType
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from reactor.subscriptions import IntervalHandle, IntervalTree

# Short keys over a tiny alphabet: equal starts, touching ends and empty keys are common.
keys = st.binary(max_size=3).map(lambda b: bytes(x % 3 for x in b))
ends = st.none() | keys


class TreeModel(RuleBasedStateMachine):
    handles = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self.tree = IntervalTree(seed=0)
        self.live: dict[IntervalHandle, tuple[bytes, bytes | None, int]] = {}

    @rule(target=handles, start=keys, end=ends, token=st.integers(0, 5))
    def add(self, start: bytes, end: bytes | None, token: int) -> IntervalHandle:
        handle = self.tree.add(start, end, token)
        assert handle not in self.live
        self.live[handle] = (start, end, token)
        return handle

    @rule(handle=consumes(handles))
    def remove(self, handle: IntervalHandle) -> None:
        self.tree.remove(handle)
        self.live.pop(handle, None)

    @rule(handle=handles)
    def remove_again(self, handle: IntervalHandle) -> None:
        """Removing a handle twice (or one still live, once) keeps the count right."""
        self.tree.remove(handle)
        self.live.pop(handle, None)

    @rule(key=keys)
    def stab(self, key: bytes) -> None:
        want = Counter(token for start, end, token in self.live.values()
                       if start <= key and (end is None or key < end))
        assert Counter(self.tree.stab(key)) == want

    @invariant()
    def size(self) -> None:
        assert len(self.tree) == len(self.live)


TreeModel.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestIntervalTree = TreeModel.TestCase


def count_lines(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run `fn` and count the Python lines it executes (in it and everything it calls)."""
    lines = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal lines
        if event == "line":
            lines += 1
        return local

    sys.settrace(lambda frame, event, arg: local)
    try:
        result = fn()
    finally:
        sys.settrace(None)
    return result, lines


def key(n: int) -> bytes:
    return n.to_bytes(8, "big")


def disjoint_tree(n: int, rng: random.Random) -> IntervalTree:
    """n intervals [10i, 10i + 5), added in random order."""
    tree = IntervalTree(seed=rng.randrange(2**32))
    order = list(range(n))
    rng.shuffle(order)
    for i in order:
        tree.add(key(10 * i), key(10 * i + 5), i)
    return tree


def mean_stab_cost(tree: IntervalTree, points: list[int],
                   hits_at: Callable[[int], int]) -> float:
    """Mean lines executed per stab over `points`, checking each hit count."""
    total = 0
    for point in points:
        hits, lines = count_lines(lambda p=point: tree.stab(key(p)))
        assert len(hits) == hits_at(point)
        total += lines
    return total / len(points)


def test_stab_cost_follows_log_n_and_hits() -> None:
    rng = random.Random(7)
    small_n, large_n = 100, 100_000

    def one_or_none(point: int) -> int:
        return 1 if point % 10 < 5 else 0

    small = mean_stab_cost(disjoint_tree(small_n, rng),
                           [rng.randrange(10 * small_n) for _ in range(200)], one_or_none)
    large_tree = disjoint_tree(large_n, rng)
    large = mean_stab_cost(large_tree, [rng.randrange(10 * large_n) for _ in range(200)],
                           one_or_none)
    print(f"\nmean lines per stab: {small:.0f} at n={small_n}, {large:.0f} at n={large_n}")
    # A thousand times the intervals: the cost follows log n (about 2.5x here), far from n.
    assert large < 3 * small
    assert large < 40 * math.log2(large_n)

    # Unbounded intervals contain every key past their start. Each hit costs at most
    # a root-to-node path, so k hits cost O(log n + k log(n / k)), never O(n).
    spanning = 500
    for i in range(spanning):
        large_tree.add(key(rng.randrange(10 * large_n)) if i % 2 else b"", None, -i)
    past_all = [10 * large_n + rng.randrange(100) for _ in range(20)]
    with_hits = mean_stab_cost(large_tree, past_all, lambda _: spanning)
    print(f"mean lines per stab with {spanning} hits: {with_hits:.0f}"
          f" ({with_hits / spanning:.0f} per hit)")
    assert with_hits < large + 12 * spanning * math.log2(large_n / spanning)
