"""An interval tree over index-key bytes: which read intervals contain a written key."""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field


def _later_end(a: bytes | None, b: bytes | None) -> bytes | None:
    """The larger of two interval ends, where None means unbounded."""
    if a is None or b is None:
        return None
    return a if a >= b else b


@dataclass(eq=False, slots=True)
class _Node:
    start: bytes
    end: bytes | None
    serial: int
    token: Hashable
    priority: float
    left: _Node | None = None
    right: _Node | None = None
    max_end: bytes | None = field(default=b"")

    def sort_key(self) -> tuple[bytes, int]:
        return (self.start, self.serial)

    def refresh(self) -> None:
        end = self.end
        if self.left is not None:
            end = _later_end(end, self.left.max_end)
        if self.right is not None:
            end = _later_end(end, self.right.max_end)
        self.max_end = end


@dataclass(frozen=True, slots=True)
class IntervalHandle:
    """What `add` returns; pass it to `remove`."""

    start: bytes
    serial: int


class IntervalTree:
    """A treap ordered by interval start, each node annotated with its subtree's max end.

    `stab(key)` visits only subtrees that can hold a hit, so it costs
    O(log n) expected when nothing is hit and O(log n + k·log(n/k)) for k hits,
    however many intervals do not contain `key`.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._root: _Node | None = None
        self._serial = 0
        self._random = random.Random(seed)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, start: bytes, end: bytes | None, token: Hashable) -> IntervalHandle:
        self._serial += 1
        node = _Node(start, end, self._serial, token, self._random.random())
        node.refresh()
        self._root = self._insert(self._root, node)
        self._size += 1
        return IntervalHandle(start, self._serial)

    def remove(self, handle: IntervalHandle) -> None:
        self._root, removed = self._delete(self._root, (handle.start, handle.serial))
        if removed:
            self._size -= 1

    def stab(self, key: bytes) -> list[Hashable]:
        """Tokens of every interval `[start, end)` that contains `key`."""
        hits: list[Hashable] = []
        stack = [self._root]
        while stack:
            node = stack.pop()
            if node is None or (node.max_end is not None and node.max_end <= key):
                continue
            stack.append(node.left)
            if node.start <= key:
                if node.end is None or key < node.end:
                    hits.append(node.token)
                stack.append(node.right)
        return hits

    def _insert(self, root: _Node | None, node: _Node) -> _Node:
        if root is None:
            return node
        if node.sort_key() < root.sort_key():
            root.left = self._insert(root.left, node)
            if root.left.priority > root.priority:
                root = _rotate_right(root)
        else:
            root.right = self._insert(root.right, node)
            if root.right.priority > root.priority:
                root = _rotate_left(root)
        root.refresh()
        return root

    def _delete(self, root: _Node | None, key: tuple[bytes, int]) -> tuple[_Node | None, bool]:
        if root is None:
            return None, False
        if key < root.sort_key():
            root.left, removed = self._delete(root.left, key)
        elif key > root.sort_key():
            root.right, removed = self._delete(root.right, key)
        else:
            return _join(root.left, root.right), True
        root.refresh()
        return root, removed


def _rotate_right(node: _Node) -> _Node:
    pivot = node.left
    assert pivot is not None
    node.left = pivot.right
    pivot.right = node
    node.refresh()
    pivot.refresh()
    return pivot


def _rotate_left(node: _Node) -> _Node:
    pivot = node.right
    assert pivot is not None
    node.right = pivot.left
    pivot.left = node
    node.refresh()
    pivot.refresh()
    return pivot


def _join(left: _Node | None, right: _Node | None) -> _Node | None:
    """Merge two treaps where every key of `left` is below every key of `right`."""
    if left is None:
        return right
    if right is None:
        return left
    if left.priority > right.priority:
        left.right = _join(left.right, right)
        left.refresh()
        return left
    right.left = _join(left, right.left)
    right.refresh()
    return right
