"""One text search index held in memory: postings per term and filter value, ranked by BM25.

FTS5 ranks a search by calling `bm25()` on every match (a few microseconds each)
before its top-k sort, so a search over thousands of matches took tens of
milliseconds. This index keeps what BM25 needs beside the postings, updated with
every commit the store writes (and loaded from the store at open):

- per entry (a "slot"): its visibility `[ts, end)`, its length (terms plus filter
  tokens, as FTS5 counts it), its document's creation time and id; not its terms,
  which a prune reads back from FTS5 (removing an entry is rare, holding 20 terms per
  entry for it was a quarter of the index's memory);
- postings partitioned by filter token, plus one partition of every entry
  (`UNFILTERED`), so a search with an equality filter reads only the entries
  carrying that value; a 2- or 3-character prefix searched once keeps its merged
  postings (text_postings.py);
- the corpus figures: stored entries, their total length, per term how many
  entries hold it (the idf of a phrase), and the same per prefix, counted when
  first searched and then kept up to date.

A search gathers the postings of its phrases in the partitions of its first filter
group and ranks them (text_rank.py): on long lists it scores only the entries that
can reach the best `limit` (ties newest first), among those visible at the snapshot.
The figures count every stored entry, superseded ones too, until pruned, as FTS5
does, so scores equal FTS5's. Removed entries stay in the postings (never visible)
until a compaction renumbers the slots and drops theirs.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from reactor.storage.base import TextQuery
from reactor.storage.text_postings import SLOT, Partition, merge, prefix_counts
from reactor.storage.text_rank import ImpactOrder, Phrase, Ranker

LIVE = 2**63 - 1
UNFILTERED = ""
_INITIAL = 1024
# Prefixes whose document frequency is kept once counted.
_COUNTED_PREFIXES = 4096


class TextIndex:
    """The entries of one search index (see module doc); the event loop owns it."""

    def __init__(self, capacity: int = _INITIAL) -> None:
        self.documents = 0
        self.tokens = 0
        self.ts = np.zeros(capacity, dtype=np.int64)
        self.end = np.zeros(capacity, dtype=np.int64)
        self.length = np.zeros(capacity, dtype=np.int32)
        self.creation = np.zeros(capacity, dtype=np.float64)
        # Per slot, its document's id (None once removed).
        self.entries: list[str | None] = []
        self.slot_of: dict[int, int] = {}
        self.df: Counter[str] = Counter()
        self.partitions: dict[str, Partition] = {}
        self._counted: dict[str, int] = {}
        # Impact orders of long posting lists, by the list's id (text_rank.py).
        self.orders: dict[int, ImpactOrder] = {}
        self._removed = 0

    def __len__(self) -> int:
        return self.documents

    # Changes ---------------------------------------------------------------

    def end_entry(self, entry_id: int, ts: int) -> None:
        """An entry stops being visible at `ts` (its document replaced or removed), as
        the write's UPDATE of `search_entries` said."""
        slot = self.slot_of.get(entry_id)
        if slot is not None:
            self.end[slot] = ts

    def add(self, entry_id: int, doc_id: str, ts: int, end: int, creation: float,
            terms: list[str], filters: list[str]) -> None:
        """Add one stored entry, not yet added (each change is applied once, even
        while the index loads: sqlite_text_indexes.py)."""
        slot = self.new_slot(entry_id, doc_id, ts, end, creation, len(terms) + len(filters))
        counts = dict(Counter(terms))
        self.df.update(counts.keys())
        self._recount(counts, 1)
        partitions = []
        for token in (UNFILTERED, *dict.fromkeys(filters)):
            partition = self.partitions.get(token)
            if partition is None:
                partition = self.partitions[token] = Partition()
            partitions.append(partition)
        # Merged prefix lists exist only once searched: most adds need no prefixes.
        prefixes = prefix_counts(counts) if any(p.prefixes for p in partitions) else {}
        for partition in partitions:
            partition.add(slot, counts, prefixes)

    def new_slot(self, entry_id: int, doc_id: str, ts: int, end: int, creation: float,
                 tokens: int) -> int:
        """Record an entry's own figures; its postings are the caller's."""
        slot = len(self.entries)
        if slot == len(self.ts):
            self._grow(2 * slot)
        self.ts[slot], self.end[slot] = ts, end
        self.length[slot], self.creation[slot] = tokens, creation
        self.entries.append(doc_id)
        self.slot_of[entry_id] = slot
        self.documents += 1
        self.tokens += tokens
        return slot

    def remove(self, entry_id: int, terms: list[str]) -> None:
        """Forget a pruned entry (no snapshot can see it any more), given its terms."""
        slot = self.slot_of.pop(entry_id, None)
        if slot is None:
            return
        doc_id = self.entries[slot]
        assert doc_id is not None
        self.entries[slot] = None
        self.ts[slot], self.end[slot] = LIVE, 0  # never visible again
        self.documents -= 1
        self.tokens -= int(self.length[slot])
        counts = dict(Counter(terms))
        self.df.subtract(counts.keys())
        self._recount(counts, -1)
        self._removed += 1
        if self._removed > max(_INITIAL, self.documents):
            self._compact()

    def _recount(self, counts: dict[str, int], change: int) -> None:
        if self._counted:
            prefixes = {term[:n] for term in counts for n in range(1, len(term) + 1)}
            for prefix in prefixes & self._counted.keys():
                self._counted[prefix] += change

    def _grow(self, size: int) -> None:
        for name in ("ts", "end", "length", "creation"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[:len(old)] = old
            setattr(self, name, new)

    def _compact(self) -> None:
        """Renumber the slots without the removed ones, whose postings only cost time and
        memory (numbers keep their order, so posting lists stay sorted)."""
        kept = np.flatnonzero(np.array([doc_id is not None for doc_id in self.entries],
                                       dtype=bool))
        remap = np.full(len(self.entries), -1, dtype=SLOT)
        remap[kept] = np.arange(len(kept), dtype=SLOT)
        fresh = TextIndex(capacity=max(_INITIAL, len(kept)))
        for name in ("ts", "end", "length", "creation"):
            getattr(fresh, name)[:len(kept)] = getattr(self, name)[kept]
        fresh.entries = [doc_id for doc_id in self.entries if doc_id is not None]
        fresh.slot_of = {entry_id: int(remap[slot]) for entry_id, slot in self.slot_of.items()}
        fresh.documents, fresh.tokens = self.documents, self.tokens
        fresh.df = +self.df  # without the terms no entry holds any more
        fresh._counted = self._counted
        for token, partition in self.partitions.items():
            compacted = partition.compacted(remap)
            if compacted is not None:
                fresh.partitions[token] = compacted
        self.__dict__.update(fresh.__dict__)

    # Reads -----------------------------------------------------------------

    def doc_id(self, slot: int) -> str:
        """The document of a stored (not removed) slot."""
        return _doc_id(self.entries[slot])

    def matching(self, query: TextQuery) -> tuple[int, ...]:
        """Per phrase, how many stored entries hold it (its idf's document frequency)."""
        last = len(query.terms) - 1
        return tuple(self._prefix_frequency(term) if query.prefix and i == last
                     else self.df[term] for i, term in enumerate(query.terms))

    def _prefix_frequency(self, prefix: str) -> int:
        if prefix not in self._counted:
            everything = self.partitions.get(UNFILTERED)
            lists = [] if everything is None else everything.lookup(prefix, True)
            count = 0
            if lists:
                # Each list holds a slot once; several may share one.
                slots = lists[0].slots() if len(lists) == 1 else merge(lists)[0]
                count = int(np.count_nonzero(self.ts[slots] != LIVE))
            if len(self._counted) >= _COUNTED_PREFIXES:
                self._counted.clear()
            self._counted[prefix] = count
        return self._counted[prefix]

    def search(self, query: TextQuery, ts: int, limit: int) -> list[tuple[str, float]]:
        """(doc id, BM25 score) of the best `limit` entries visible at `ts`, best first,
        ties newest first (ranked by text_rank.py)."""
        if limit <= 0 or not self.documents:
            return []
        groups = query.filters or ((UNFILTERED,),)
        partitions = [p for token in dict.fromkeys(groups[0])
                      if (p := self.partitions.get(token)) is not None]
        phrases = []
        last = len(query.terms) - 1
        for i, (term, df) in enumerate(zip(query.terms, self.matching(query), strict=True)):
            prefix = query.prefix and i == last
            # Several partitions, or terms under a prefix: an entry holding several of
            # its terms gets their counts added up.
            postings = [p for partition in partitions for p in partition.lookup(term, prefix)]
            if postings:
                idf = math.log((self.documents - df + 0.5) / (df + 0.5))
                phrases.append(Phrase(idf if idf > 0 else 1e-6, postings))
        if not phrases:
            return []
        others = [[p.members.slots() for token in group
                   if (p := self.partitions.get(token)) is not None] for group in groups[1:]]
        slots, scores = Ranker(self, phrases, others, ts, limit).rank()
        entries = self.entries
        return [(_doc_id(entries[slot]), score)
                for slot, score in zip(slots.tolist(), scores.tolist(), strict=True)]


def _doc_id(doc_id: str | None) -> str:
    assert doc_id is not None, "a visible slot always has its entry"
    return doc_id
