"""A text search as the transaction layer sees it: its terms and filters, the keys it depends on.

Read sets and the write log speak index keys, so a search index gets a key
space of its own (its index id) whose keys are `base + term`:

- a document revision with terms T and filter values v1..vk writes the keys
  `U + t` and `base(f_i, v_i) + t` for every t in T, where `U` is the
  unfiltered base and `base(f, v) = encode_key([f, v])`;
- a search reads, for its first equality filter (or `U` without one), the point
  `base + t` of each exact term and the range of keys starting `base + p` for
  the prefix term p.

A commit therefore conflicts with (and re-runs) a search exactly when it writes
a revision, old or new, of a document that has one of the search's terms (or a
term with its prefix) and the search's first filter value — every document that
can enter, leave, change or reorder the result. Further filters are checked by
the search, not by the key, so a write that matches only the first one re-runs
it needlessly, never the reverse. A write of a document without any of the
terms changes BM25's corpus statistics slightly but does not re-run a search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

from reactor.schema import SearchIndexDefinition, filter_token
from reactor.storage import SearchStatistics, SearchWrite, TextQuery
from reactor.transactions.readset import KeyInterval, point_interval
from reactor.values import Missing, Value, encode_key, prefix_end

MAX_TERMS: Final = 16
MAX_FILTERS: Final = 8
MAX_SCANNED: Final = 1024
# BM25 parameters; FTS5's bm25() uses the same.
K1: Final = 1.2
B: Final = 0.75

UNFILTERED: Final = encode_key(["", None])


def _filter_base(field: str, value: Value | Missing) -> bytes:
    return encode_key([field, value])


def entry_keys(index: SearchIndexDefinition, doc: dict[str, Any]) -> set[bytes]:
    """The keys a revision of `doc` writes in the index's key space (see module doc)."""
    terms = {term.encode() for term in index.terms(doc)}
    if not terms:
        return set()
    bases = [UNFILTERED]
    bases.extend(_filter_base(field, value)
                 for field, value in zip(index.filter_fields, index.filter_values(doc),
                                         strict=True))
    return {base + term for base in bases for term in terms}


def search_write(index: SearchIndexDefinition, searched: str, doc_id: str,
                 doc: dict[str, Any] | None) -> SearchWrite:
    """The entry a document revision gets in the index (`doc=None`: none any more)."""
    terms = index.terms(doc) if doc is not None else []
    if doc is None or not terms:
        return SearchWrite(searched, doc_id, None)
    return SearchWrite(searched, doc_id, terms, index.filter_tokens(doc),
                       float(doc["_creationTime"]))


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """What `q.search(...).eq(...)` asked for, checked and tokenized."""

    index: SearchIndexDefinition
    terms: tuple[str, ...]
    prefix: bool
    # (field, accepted values): `eq(f, None)` accepts a missing field and null.
    filters: tuple[tuple[str, tuple[Value | Missing, ...]], ...]

    def text_query(self) -> TextQuery:
        positions = {field: i for i, field in enumerate(self.index.filter_fields)}
        groups = tuple(tuple(filter_token(positions[field], value) for value in values)
                       for field, values in self.filters)
        return TextQuery(self.terms, self.prefix, groups)

    def read_intervals(self) -> list[KeyInterval]:
        if self.filters:
            field, values = self.filters[0]
            bases = [_filter_base(field, value) for value in values]
        else:
            bases = [UNFILTERED]
        intervals = []
        last = len(self.terms) - 1
        for base in bases:
            for i, term in enumerate(self.terms):
                key = base + term.encode()
                if self.prefix and i == last:
                    intervals.append(KeyInterval(key, prefix_end(key)))
                else:
                    intervals.append(point_interval(key))
        return intervals

    def matches(self, doc: dict[str, Any]) -> bool:
        """Whether `doc` is in the result (for documents the transaction wrote itself)."""
        return self.frequencies(doc) is not None

    def frequencies(self, doc: dict[str, Any]) -> list[int] | None:
        """Per query term, how often `doc` has it; None if `doc` does not match."""
        values = dict(zip(self.index.filter_fields, self.index.filter_values(doc), strict=True))
        for field, accepted in self.filters:
            actual = encode_key([values[field]])
            if all(encode_key([value]) != actual for value in accepted):
                return None
        doc_terms = self.index.terms(doc)
        last = len(self.terms) - 1
        counts = [sum(1 for t in doc_terms
                      if t == term or (self.prefix and i == last and t.startswith(term)))
                  for i, term in enumerate(self.terms)]
        return counts if any(counts) else None

    def score(self, doc: dict[str, Any], stats: SearchStatistics) -> float:
        """BM25 of a matching document not in storage, from the stored corpus statistics."""
        counts = self.frequencies(doc) or []
        length = len(self.index.terms(doc)) + len(self.index.filter_fields)
        average = stats.tokens / stats.documents if stats.documents else float(length or 1)
        total = 0.0
        for count, matching in zip(counts, stats.matching, strict=False):
            idf = math.log((stats.documents - matching + 0.5) / (matching + 0.5))
            idf = idf if idf > 0 else 1e-6
            total += idf * count * (K1 + 1) / (count + K1 * (1 - B + B * length / average))
        return total
