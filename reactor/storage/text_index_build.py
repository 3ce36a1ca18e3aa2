"""Loading a text index (text_index.py) from stored entries in bulk.

Adding entries one at a time costs several Python steps per posting, seconds for
100,000 documents. Here the entries' columns are read whole, the terms turned into
ids in one pass, and the postings of every partition, term and prefix sorted and cut
out of flat numpy arrays (merged prefix lists are made when first searched).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import numpy as np

from reactor.storage.text_index import LIVE, UNFILTERED, Entry, TextIndex
from reactor.storage.text_postings import Partition, Postings

# entry id, doc id, ts, end ts, creation time, terms joined by spaces, filter tokens likewise
Row = tuple[int, str, int, int, float, str, str]


def build(rows: Iterable[Row]) -> TextIndex | None:
    """The index of `rows` (None if there are none). Every entry has at least one term,
    and its filter tokens are distinct (each names its own field)."""
    stored = list(rows)
    count = len(stored)
    if not count:
        return None
    entry_ids, doc_ids, tss, ends, creations, texts, filters = zip(*stored, strict=True)
    del stored
    index = TextIndex(capacity=count)
    term_counts = np.array([text.count(" ") + 1 for text in texts], dtype=np.int64)
    filter_counts = np.array([len(f.split()) for f in filters], dtype=np.int64)
    index.ts[:] = tss
    index.end[:] = ends
    index.creation[:] = creations
    index.length[:] = term_counts + filter_counts
    index.entries = list(map(Entry, entry_ids, doc_ids, texts, filters))
    index.slot_of = dict(zip(entry_ids, range(count), strict=True))
    index.current = {doc_id: slot for slot, (doc_id, end) in enumerate(zip(doc_ids, ends,
                                                                          strict=True))
                     if end == LIVE}
    index.documents = count
    index.tokens = int(index.length.sum())

    words = " ".join(texts).split()
    names = list(dict.fromkeys(words))
    vocabulary = {name: number for number, name in enumerate(names)}
    size = len(names)
    word_ids = np.array(list(map(vocabulary.__getitem__, words)), dtype=np.int64)
    del words
    word_slots = np.repeat(np.arange(count, dtype=np.int64), term_counts)
    # Each (entry, term) once, with its count; sorted by slot, then term.
    keys, hits = np.unique(word_slots * size + word_ids, return_counts=True)
    slots, terms = keys // size, keys % size
    index.df.update(dict(zip(names, np.bincount(terms, minlength=size).tolist(), strict=True)))

    # Every entry is in the unfiltered partition and in one per filter token it carries.
    tokens = " ".join(filters).split()
    partition_names = [UNFILTERED, *dict.fromkeys(tokens)]
    partition_ids = {name: number for number, name in enumerate(partition_names)}
    owners = np.concatenate([np.arange(count, dtype=np.int64),
                             np.repeat(np.arange(count, dtype=np.int64), filter_counts)])
    parts = np.concatenate([np.zeros(count, dtype=np.int64),
                            np.array(list(map(partition_ids.__getitem__, tokens)),
                                     dtype=np.int64)])
    per_slot = np.bincount(slots, minlength=count)
    first = np.cumsum(per_slot) - per_slot
    spans = per_slot[owners]
    positions = (np.repeat(first[owners] - (np.cumsum(spans) - spans), spans)
                 + np.arange(int(spans.sum())))
    posting_parts = np.repeat(parts, spans)
    posting_slots, posting_terms = slots[positions], terms[positions]
    posting_hits = hits[positions].astype(np.float64)

    partitions = [Partition() for _ in partition_names]
    for part, term, found, counted in _groups(posting_parts, posting_terms, size,
                                              posting_slots, count, posting_hits):
        partitions[part].lists[names[term]] = Postings(found, counted)
    member_order = np.argsort(parts, kind="stable")
    member_parts, member_slots = parts[member_order], owners[member_order]
    bounds = [*(np.flatnonzero(np.diff(member_parts)) + 1).tolist()]
    for lo, hi in itertools.pairwise([0, *bounds, len(member_parts)]):
        partitions[int(member_parts[lo])].members = Postings(
            member_slots[lo:hi], np.ones(hi - lo, dtype=np.float64))
    for name, partition in zip(partition_names, partitions, strict=True):
        partition.terms = sorted(partition.lists)
        index.partitions[name] = partition
    return index


def _groups(parts: np.ndarray, keys: np.ndarray, key_count: int, slots: np.ndarray,
            slot_count: int, hits: np.ndarray
            ) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """(partition, key, slots, hits) per partition and key, slots ascending."""
    if not len(parts):
        return
    if (int(parts.max()) + 1) * key_count * slot_count < 2**62:
        order = np.argsort((parts * key_count + keys) * slot_count + slots)
    else:
        order = np.lexsort((slots, keys, parts))
    parts, keys, slots, hits = parts[order], keys[order], slots[order], hits[order]
    group = np.ones(len(parts), dtype=bool)
    group[1:] = (parts[1:] != parts[:-1]) | (keys[1:] != keys[:-1])
    bounds = [*np.flatnonzero(group).tolist(), len(parts)]
    for lo, hi in itertools.pairwise(bounds):
        yield int(parts[lo]), int(keys[lo]), slots[lo:hi], hits[lo:hi]
