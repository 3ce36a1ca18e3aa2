"""The posting lists of text_index.py: growable numpy arrays, grouped by filter partition.

Slots and counts are 32-bit (an index holds fewer than 2**31 entries, an entry fewer
than 2**31 terms): half the memory of 64-bit ones, and numpy turns them into float64
as soon as a score is computed from them, so scores do not change.
"""

from __future__ import annotations

import bisect
from array import array

import numpy as np

# Above every character a term can hold, so [p, p + TOP) is "starts with p".
TOP = "\U0010ffff"
# Prefix lengths whose merged postings are kept once first searched (like FTS5's
# prefix = '2 3', which keeps them from the start).
PREFIX_LENGTHS = (2, 3)
SLOT = np.int32
HITS = np.int32
_NO_SLOTS = np.zeros(0, dtype=SLOT)
_NO_HITS = np.zeros(0, dtype=HITS)


class Postings:
    """Slots (entries) holding one term or prefix, with how often each holds it.

    Appends go to small Python arrays (a commit adds to dozens of lists, most of
    them new while an index is young, and a numpy array per list and append cost
    far more); a read folds them into the numpy arrays, which grow by doubling.
    """

    __slots__ = ("_hits", "_slots", "_tail", "_tail_hits", "size")

    def __init__(self, slots: np.ndarray = _NO_SLOTS, hits: np.ndarray = _NO_HITS) -> None:
        self._slots = slots
        self._hits = hits
        self.size = len(slots)
        self._tail: array[int] | None = None
        self._tail_hits: array[int] | None = None

    def add(self, slot: int, hits: int) -> None:
        if self._tail is None or self._tail_hits is None:
            self._tail, self._tail_hits = array("i"), array("i")
        self._tail.append(slot)
        self._tail_hits.append(hits)

    def _fold(self) -> None:
        tail, tail_hits = self._tail, self._tail_hits
        if tail is None or tail_hits is None:
            return
        need = self.size + len(tail)
        if need > len(self._slots):
            # A new array: the old one may be a view shared with other lists (bulk load).
            capacity = max(need, 2 * len(self._slots))
            slots, hits = np.empty(capacity, dtype=SLOT), np.empty(capacity, dtype=HITS)
            slots[:self.size] = self._slots[:self.size]
            hits[:self.size] = self._hits[:self.size]
            self._slots, self._hits = slots, hits
        self._slots[self.size:need] = np.frombuffer(tail, dtype=SLOT)
        self._hits[self.size:need] = np.frombuffer(tail_hits, dtype=HITS)
        self.size = need
        self._tail = self._tail_hits = None

    def slots(self) -> np.ndarray:
        if self._tail is not None:
            self._fold()
        return self._slots[:self.size]

    def hits(self) -> np.ndarray:
        if self._tail is not None:
            self._fold()
        return self._hits[:self.size]

    def remapped(self, remap: np.ndarray) -> Postings | None:
        """The postings with slots renumbered by `remap` (-1: removed); None if none is
        left. `remap` ascends where it is not -1, so the slots stay in order."""
        slots = remap[self.slots()]
        keep = slots >= 0
        return Postings(slots[keep], self.hits()[keep]) if keep.any() else None


class Partition:
    """The postings of the entries carrying one filter token (or of every entry)."""

    __slots__ = ("lists", "members", "prefixes", "terms")

    def __init__(self) -> None:
        self.lists: dict[str, Postings] = {}
        self.prefixes: dict[str, Postings] = {}
        self.terms: list[str] = []  # sorted, for prefix ranges
        self.members = Postings()

    def add(self, slot: int, counts: dict[str, int], prefixes: dict[str, int]) -> None:
        """Post an entry: its terms' counts, and its prefixes' for the merged lists kept."""
        self.members.add(slot, 1)
        for term, hits in counts.items():
            postings = self.lists.get(term)
            if postings is None:
                postings = self.lists[term] = Postings()
                bisect.insort(self.terms, term)
            postings.add(slot, hits)
        if self.prefixes:
            for prefix, hits in prefixes.items():
                merged = self.prefixes.get(prefix)
                if merged is not None:
                    merged.add(slot, hits)

    def compacted(self, remap: np.ndarray) -> Partition | None:
        """The partition with slots renumbered by `remap` (-1: removed) and the lists
        left empty dropped; None if no entry is left. Merged prefix lists are made
        again when next searched."""
        members = self.members.remapped(remap)
        if members is None:
            return None
        fresh = Partition()
        fresh.members = members
        for term, postings in self.lists.items():
            kept = postings.remapped(remap)
            if kept is not None:
                fresh.lists[term] = kept
        fresh.terms = [term for term in self.terms if term in fresh.lists]
        return fresh

    def lookup(self, term: str, prefix: bool) -> list[Postings]:
        """The list of `term`, or those of every term it begins (several: the caller
        merges; for a 2- or 3-character prefix, one list merged once and then kept)."""
        if not prefix:
            found = self.lists.get(term)
            return [] if found is None else [found]
        merged = self.prefixes.get(term)
        if merged is not None:
            return [merged]
        lo = bisect.bisect_left(self.terms, term)
        hi = bisect.bisect_left(self.terms, term + TOP, lo)
        lists = [self.lists[t] for t in self.terms[lo:hi]]
        if len(lists) < 2 or len(term) not in PREFIX_LENGTHS:
            return lists
        merged = self.prefixes[term] = Postings(*merge(lists))
        return [merged]


def merge(lists: list[Postings]) -> tuple[np.ndarray, np.ndarray]:
    """The slots of several lists, each once and ascending, with their hits summed.

    A stable sort of the concatenation merges the lists' sorted runs; numpy's `unique`
    hashes instead, which took about 40 times as long here (850 us for 6,300 slots).
    """
    slots = np.concatenate([p.slots() for p in lists])
    order = np.argsort(slots, kind="stable")
    slots = slots[order]
    first = np.empty(len(slots), dtype=bool)
    first[:1] = True
    np.not_equal(slots[1:], slots[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    if not len(starts):
        return slots, np.zeros(0, dtype=HITS)
    hits = np.add.reduceat(np.concatenate([p.hits() for p in lists])[order], starts)
    return slots[starts], hits.astype(HITS)


def prefix_counts(counts: dict[str, int]) -> dict[str, int]:
    """Per kept prefix length, each prefix of the entry's terms with its summed count."""
    found: dict[str, int] = {}
    for term, hits in counts.items():
        for n in PREFIX_LENGTHS:
            if len(term) >= n:
                found[term[:n]] = found.get(term[:n], 0) + hits
    return found
