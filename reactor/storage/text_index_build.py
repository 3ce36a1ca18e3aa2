"""Loading a text index (text_index.py) from stored entries in bulk.

Adding entries one at a time costs several Python steps per posting, seconds for
100,000 documents. Here the rows come in batches: a batch's terms become ids (one
vocabulary for the index) and its (entry, term) pairs are counted with numpy, so what
outlives a batch is 32-bit arrays and the documents' ids, never the rows' text. Then
the postings of every partition and term are sorted once, with compact keys, and cut
out of flat arrays (merged prefix lists are made when first searched).
"""

from __future__ import annotations

import itertools
from array import array
from collections.abc import Iterable, Iterator

import numpy as np

from reactor.storage.text_index import UNFILTERED, TextIndex
from reactor.storage.text_postings import HITS, SLOT, Partition, Postings

# entry id, doc id, ts, end ts, creation time, terms joined by spaces, filter tokens likewise
Row = tuple[int, str, int, int, float, str, str]


class _Columns:
    """What the batches leave behind, per entry and per (entry, term) pair."""

    def __init__(self) -> None:
        self.entry_ids: list[int] = []
        self.doc_ids: list[str] = []
        self.ts, self.end = array("q"), array("q")
        self.creation = array("d")
        self.terms, self.filters = array("i"), array("i")  # per entry, how many
        self.vocabulary: dict[str, int] = {}
        self.pairs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # slots, terms, hits
        self.tokens: dict[str, int] = {UNFILTERED: 0}  # partition numbers
        self.member_parts = array("i")  # each entry's filter partitions, in entry order

    def add(self, batch: list[Row]) -> None:
        base = len(self.doc_ids)
        entry_ids, doc_ids, tss, ends, creations, texts, filters = zip(*batch, strict=True)
        self.entry_ids.extend(entry_ids)
        self.doc_ids.extend(doc_ids)
        self.ts.extend(tss)
        self.end.extend(ends)
        self.creation.extend(creations)
        counts = [text.count(" ") + 1 for text in texts]
        self.terms.extend(counts)
        vocabulary = self.vocabulary
        words = [vocabulary.setdefault(word, len(vocabulary))
                 for word in " ".join(texts).split()]
        size = len(vocabulary)
        keys = (np.repeat(np.arange(len(batch), dtype=np.int64), counts) * size
                + np.array(words, dtype=np.int64))
        # Each (entry, term) once with its count, sorted by entry then term.
        unique, hits = np.unique(keys, return_counts=True)
        self.pairs.append(((unique // size + base).astype(SLOT), (unique % size).astype(SLOT),
                           hits.astype(HITS)))
        tokens = self.tokens
        for text in filters:
            found = text.split()
            self.filters.append(len(found))
            self.member_parts.extend(tokens.setdefault(token, len(tokens)) for token in found)


def build(batches: Iterable[list[Row]]) -> TextIndex | None:
    """The index of the rows (None if there are none). Every entry has at least one
    term, and its filter tokens are distinct (each names its own field)."""
    columns = _Columns()
    for batch in batches:
        columns.add(batch)
    count = len(columns.doc_ids)
    if not count:
        return None
    index = TextIndex(capacity=count)
    index.ts[:count] = np.frombuffer(columns.ts, dtype=np.int64)
    index.end[:count] = np.frombuffer(columns.end, dtype=np.int64)
    index.creation[:count] = np.frombuffer(columns.creation, dtype=np.float64)
    filter_counts = np.frombuffer(columns.filters, dtype=np.int32)
    index.length[:count] = np.frombuffer(columns.terms, dtype=np.int32) + filter_counts
    index.entries = list(columns.doc_ids)
    index.slot_of = dict(zip(columns.entry_ids, range(count), strict=True))
    index.documents = count
    index.tokens = int(index.length[:count].sum())
    names = list(columns.vocabulary)
    slots, terms, hits = (np.concatenate(parts) for parts in zip(*columns.pairs, strict=True))
    del columns.pairs
    index.df.update(dict(zip(names, np.bincount(terms, minlength=len(names)).tolist(),
                             strict=True)))

    partitions = [Partition() for _ in columns.tokens]
    # Every entry is in the unfiltered partition: its pairs, by term (stable: slots ascend).
    order = np.argsort(terms, kind="stable")
    _cut(partitions[0], names, terms[order], slots[order], hits[order])
    del order
    # And in one per filter token it carries: each pair once per token of its entry.
    member_parts = np.frombuffer(columns.member_parts, dtype=np.int32)
    spans = filter_counts[slots]
    first_member = np.cumsum(filter_counts, dtype=np.int64) - filter_counts
    starts = np.cumsum(spans, dtype=np.int64) - spans
    within = np.arange(int(spans.sum()), dtype=np.int64) - np.repeat(starts, spans)
    parts = member_parts[np.repeat(first_member[slots], spans) + within]
    del within, starts
    pairs = np.repeat(np.arange(len(slots), dtype=np.int64), spans)
    order = np.argsort(parts.astype(np.int64) * len(names) + terms[pairs], kind="stable")
    pairs, parts = pairs[order], parts[order]
    del order
    for lo, hi in _runs(parts):
        chosen = pairs[lo:hi]
        _cut(partitions[int(parts[lo])], names, terms[chosen], slots[chosen], hits[chosen])
    del pairs, parts
    member_slots = np.repeat(np.arange(count, dtype=SLOT), filter_counts)
    member_order = np.argsort(member_parts, kind="stable")
    partitions[0].members = Postings(np.arange(count, dtype=SLOT), np.ones(count, dtype=HITS))
    found = member_parts[member_order]
    for lo, hi in _runs(found):
        partitions[int(found[lo])].members = Postings(member_slots[member_order[lo:hi]],
                                                      np.ones(hi - lo, dtype=HITS))
    for name, partition in zip(columns.tokens, partitions, strict=True):
        partition.terms = sorted(partition.lists)
        index.partitions[name] = partition
    return index


def _cut(partition: Partition, names: list[str], terms: np.ndarray, slots: np.ndarray,
         hits: np.ndarray) -> None:
    """Cut a partition's postings, sorted by term then slot, into one list per term."""
    if not len(terms):
        return
    bounds = [0, *(np.flatnonzero(np.diff(terms)) + 1).tolist(), len(terms)]
    lists = partition.lists
    starts = bounds[:-1]
    for term, lo, hi in zip(terms[starts].tolist(), starts, bounds[1:], strict=True):
        lists[names[term]] = Postings(slots[lo:hi], hits[lo:hi])


def _runs(values: np.ndarray) -> Iterator[tuple[int, int]]:
    """[lo, hi) of each run of equal values."""
    if len(values):
        bounds = [0, *(np.flatnonzero(np.diff(values)) + 1).tolist(), len(values)]
        yield from itertools.pairwise(bounds)
