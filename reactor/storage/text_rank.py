"""The best `k` entries of a text search (text_index.py) by BM25, scoring few candidates.

Scoring every posting of a query's phrases costs time in proportion to the matches
(thousands for common terms) while a search wants `k` of them, usually 10. An
entry's BM25 score is the sum over phrases of an *impact*,
`idf * h (K1 + 1) / (h + K1 (1 - B + B len / avg))`, which grows with the phrase's
hits `h` and falls with the entry's length `len`, whatever the average `avg`. So:

- A long posting list keeps an impact order (`ImpactOrder`, made when first
  searched, made again once a fifth of the list came after it): its postings
  grouped by hits, most first, each group shortest first. "Impact at least c" is
  then a prefix of every group, found by a binary search on the lengths, and the
  largest impact left out is that of some group's first posting left out.
- A search first scores the heads (first `k` postings) of every group, with the
  short lists and the postings the orders do not cover yet: the k-th best score
  among the entries visible and filtered in, `tau`, is at most the final one.
- For each list and a few cutoffs (fractions of `tau`, "all" and "none") it counts
  the postings reaching the cutoff and the largest impact left out; per phrase,
  the lists' counts and largest impacts are added up (the impact of summed hits is
  at most the sum of the impacts). It picks one cutoff per phrase, the fewest
  postings whose left-out impacts sum to less than `tau`, and scores the entries
  of those postings (with the short lists and uncovered postings again).
- An entry none of whose postings was picked scores at most that sum, below
  `tau`, so the `k` entries behind `tau` are picked, and no entry left out can
  reach the top `k`, not even by a tie. The search checks it (strictly, with a
  margin for rounding) and otherwise picks again against the k-th score found;
  with fewer than `k` heads found, every posting is scored.

Scores are computed as FTS5's `bm25()` does (the same operations, phrases added in
order from 0.0), so they equal those of a search that scores everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from reactor.storage.text_postings import Postings

if TYPE_CHECKING:
    from reactor.storage.text_index import TextIndex

# BM25 parameters, those of FTS5's bm25().
K1 = 1.2
B = 0.75
# Lists shorter than this are scored whole (an order would save little).
MIN_ORDERED = 1024
# A phrase spread over more lists than this (a short prefix) is scored whole.
MAX_ORDERED_LISTS = 8
# Group numbers sit above every length in an order's keys.
_GROUP = 2.0**32
# How far the bound of unpicked entries must stay below the k-th score: a few
# roundings, many times over.
_MARGIN = 1e-12
# Phrases up to which every combination of their cutoffs is tried.
_COMBINED = 3
# Cutoffs tried, as fractions of tau.
_FRACTIONS = np.arange(1, 17) / 16
# Scores up to which `top` sorts them all instead of selecting the k-th first.
_SORTED_WHOLE = 256


@dataclass(frozen=True, slots=True)
class ImpactOrder:
    """A posting list's postings by hits (most first), then length (shortest first)."""

    postings: Postings  # kept, so that its id names no other list while cached
    size: int  # postings covered; later ones are scored whole
    positions: np.ndarray  # posting positions in that order
    keys: np.ndarray  # group number * _GROUP + length, ascending: one search for all groups
    hits: np.ndarray  # per group, descending
    starts: np.ndarray  # per group its first index into `positions`
    ends: np.ndarray  # per group its index past the last
    base: np.ndarray  # per group its number * _GROUP


@dataclass(frozen=True, slots=True)
class Phrase:
    """One phrase of a query: its idf and its posting lists (summed per entry)."""

    idf: float
    lists: list[Postings]


def impact(idf: float, hits: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """BM25's term of one phrase, as FTS5 computes it (`norm` from `length_norm`)."""
    term: np.ndarray = idf * ((hits * (K1 + 1)) / (hits + norm))
    return term


def length_norm(length: np.ndarray, average: float) -> np.ndarray:
    """The length part of BM25's denominator, as FTS5 computes it."""
    norm: np.ndarray = K1 * (1 - B + B * length / average)
    return norm


class Ranker:
    """One search's ranking (see module doc)."""

    def __init__(self, index: TextIndex, phrases: list[Phrase],
                 others: list[list[np.ndarray]], ts: int, limit: int) -> None:
        self.index = index
        self.phrases = phrases
        self.others = others  # per further filter group, the sorted slots of its members
        self.ts = ts
        self.limit = limit
        self.average = index.tokens / index.documents

    def rank(self) -> tuple[np.ndarray, np.ndarray]:
        """Slots and scores of the best `limit` entries visible at `ts` holding a phrase
        and a member of each further filter group, best first, ties newest first."""
        whole: list[np.ndarray] = []
        ordered: list[tuple[int, np.ndarray, ImpactOrder]] = []
        for number, phrase in enumerate(self.phrases):
            for postings in phrase.lists:
                slots = postings.slots()
                order = (ordered_list(self.index, postings)
                         if len(phrase.lists) <= MAX_ORDERED_LISTS else None)
                if order is None:
                    whole.append(slots)
                else:
                    ordered.append((number, slots, order))
                    whole.append(slots[order.size:])
        if ordered:
            # The heads (first `limit` postings) of every group: the k-th best score
            # among them is at most the final one.
            heads = [np.minimum(order.ends - order.starts, self.limit) for _, _, order in ordered]
            found, scores = self.best(_union([*whole, *(
                _taken(slots, order, counts)
                for (_, slots, order), counts in zip(ordered, heads, strict=True))]))
            if len(found) == self.limit:
                tau = float(scores[-1])
                options = [self._options(number, order, tau, head)
                           for (number, _, order), head in zip(ordered, heads, strict=True)]
                if self._left_by_heads(ordered, options) * (1 + _MARGIN) < tau:
                    return found, scores  # nothing beyond the heads can reach them
                for _ in range(2):
                    taken, bound = self._pick(ordered, options, tau)
                    picked = [_taken(slots, order, counts)
                              for (_, slots, order), counts in zip(ordered, taken, strict=True)]
                    found, scores = self.best(_union([*whole, *picked]))
                    if len(found) < self.limit:
                        break
                    if bound * (1 + _MARGIN) < scores[-1]:
                        return found, scores
                    tau = float(scores[-1])
        return self.best(_union([p.slots() for phrase in self.phrases for p in phrase.lists]))

    def best(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best `limit` of `slots` (ascending, each once) that pass the filters."""
        index = self.index
        keep = (index.ts[slots] <= self.ts) & (index.end[slots] > self.ts)
        for members in self.others:
            keep &= _holds(members, slots)
        slots = slots[keep]
        norm = length_norm(index.length[slots], self.average)
        scores = np.zeros(len(slots))
        for phrase in self.phrases:
            lists = phrase.lists
            hits = _hits_of(lists[0], slots)
            for postings in lists[1:]:
                hits += _hits_of(postings, slots)
            scores += impact(phrase.idf, hits, norm)
        chosen = top(scores, index.creation[slots], self.limit)
        return slots[chosen], scores[chosen]

    def _options(self, number: int, order: ImpactOrder, tau: float, heads: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per cutoff tried (fractions of `tau`, then "all", "none" and the `heads`
        already scored): postings taken per group, their count, and the largest impact
        left out."""
        idf = self.phrases[number].idf
        hits = order.hits
        cutoffs = (tau * _FRACTIONS)[:, None]
        longest = ((hits * ((K1 + 1) * idf) / cutoffs - hits - K1 * (1 - B))
                   * (self.average / (K1 * B)))
        np.minimum(np.maximum(longest, -1.0, out=longest), _GROUP - 1, out=longest)
        ends = np.searchsorted(order.keys, longest + order.base, side="right")
        ends = np.concatenate((ends, order.ends[None, :], order.starts[None, :],
                               (order.starts + heads)[None, :]))
        taken = ends - order.starts
        left = ends < order.ends
        lengths = order.keys[np.minimum(ends, len(order.keys) - 1)] - order.base
        largest = np.where(left, impact(idf, hits, length_norm(lengths, self.average)),
                           0.0).max(axis=1)
        return taken, taken.sum(axis=1), largest

    def _left_by_heads(self, ordered: list[tuple[int, np.ndarray, ImpactOrder]],
                       options: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
        """The most an entry with none of its postings among the heads can score (the
        heads are the last row of `options`)."""
        per_phrase = [0.0] * len(self.phrases)
        for (number, _, _), (_, _, largest) in zip(ordered, options, strict=True):
            per_phrase[number] += float(largest[-1])
        total = 0.0
        for value in per_phrase:
            total += value
        return total

    def _pick(self, ordered: list[tuple[int, np.ndarray, ImpactOrder]],
              options: list[tuple[np.ndarray, np.ndarray, np.ndarray]], tau: float
              ) -> tuple[list[np.ndarray], float]:
        """One option per phrase (the same row for each of its lists): the fewest
        postings whose left-out impacts sum to less than `tau` (taking every posting
        always qualifies). Every combination of rows is tried for up to three phrases,
        the same row for every phrase beyond. Returns the postings taken per list and
        group, and the sum."""
        numbers = sorted({number for number, _, _ in ordered})
        counts: dict[int, np.ndarray] = {}
        largest: dict[int, np.ndarray] = {}
        for (number, _, _), (_, count, most) in zip(ordered, options, strict=True):
            counts[number] = counts[number] + count if number in counts else count
            largest[number] = largest[number] + most if number in largest else most
        total, bound = np.zeros((), dtype=np.int64), np.zeros(())
        for number in numbers:
            if len(numbers) <= _COMBINED:
                total = np.add.outer(total, counts[number])
                bound = np.add.outer(bound, largest[number])
            else:
                total, bound = total + counts[number], bound + largest[number]
        allowed = bound.ravel() * (1 + _MARGIN) < tau
        choice = int(np.argmin(np.where(allowed, total.ravel(), np.iinfo(np.int64).max)))
        rows = (np.unravel_index(choice, total.shape) if len(numbers) <= _COMBINED
                else (choice,) * len(numbers))
        row = dict(zip(numbers, (int(r) for r in rows), strict=True))
        return ([taken[row[number]] for (number, _, _), (taken, _, _)
                 in zip(ordered, options, strict=True)], float(bound.ravel()[choice]))


def ordered_list(index: TextIndex, postings: Postings) -> ImpactOrder | None:
    """The list's impact order, made or made again if needed (None for a short list)."""
    size = len(postings.slots())
    if size < MIN_ORDERED:
        return None
    order = index.orders.get(id(postings))
    if order is None or order.postings is not postings or 5 * (size - order.size) > size:
        order = index.orders[id(postings)] = impact_order(postings, index.length)
    return order


def impact_order(postings: Postings, length: np.ndarray) -> ImpactOrder:
    slots, hits = postings.slots(), postings.hits()
    lengths = length[slots]
    # Newest first among equals, as ties go to newer entries.
    positions = np.lexsort((-slots, lengths, -hits))
    ordered_hits = hits[positions]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(ordered_hits)) + 1))
    ends = np.concatenate((starts[1:], [len(positions)]))
    base = np.arange(len(starts)) * _GROUP
    keys = np.repeat(base, ends - starts) + lengths[positions]
    return ImpactOrder(postings, len(positions), positions, keys, ordered_hits[starts], starts,
                       ends, base)


def _taken(slots: np.ndarray, order: ImpactOrder, counts: np.ndarray) -> np.ndarray:
    """The slots of the first `counts[g]` postings of each group g."""
    positions = order.positions
    runs = [positions[start:start + count]
            for start, count in zip(order.starts.tolist(), counts.tolist(), strict=True) if count]
    return slots[np.concatenate(runs)] if runs else slots[:0]


def _union(parts: list[np.ndarray]) -> np.ndarray:
    """The slots of sorted lists, ascending, each once (a stable sort merges the runs)."""
    merged = np.sort(np.concatenate(parts), kind="stable")
    if len(merged) < 2:
        return merged
    first = np.empty(len(merged), dtype=bool)
    first[0] = True
    np.not_equal(merged[1:], merged[:-1], out=first[1:])
    return merged[first]


def _hits_of(postings: Postings, slots: np.ndarray) -> np.ndarray:
    """The list's hits for each of `slots` (0 where it has none)."""
    held = postings.slots()
    if not len(held):
        return np.zeros(len(slots))
    at = np.minimum(np.searchsorted(held, slots), len(held) - 1)
    return np.where(held[at] == slots, postings.hits()[at], 0.0)


def _holds(lists: list[np.ndarray], slots: np.ndarray) -> np.ndarray:
    """Whether each of `slots` is in one of `lists` (sorted slots)."""
    found = np.zeros(len(slots), dtype=bool)
    for held in lists:
        if len(held):
            at = np.minimum(np.searchsorted(held, slots), len(held) - 1)
            found |= held[at] == slots
    return found


def top(scores: np.ndarray, creation: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the best `limit` scores, ties broken by newer creation time, then by
    position; only the entries tied with the k-th score are ordered by creation.

    Up to `_SORTED_WHOLE` scores are sorted whole: one sort costs less than the
    selection's dozen numpy calls (5-10 us against 13-18 us for 70-300 distinct scores)."""
    if len(scores) <= max(limit, _SORTED_WHOLE):
        return np.lexsort((-creation, -scores))[:limit]
    # The k-th largest as the k-th smallest of the negated: numpy's selection slows
    # down badly when many values equal those it passes over (ties are common).
    kth = -np.partition(-scores, limit - 1)[limit - 1]
    above = np.flatnonzero(scores > kth)
    tied = np.flatnonzero(scores == kth)
    need = limit - len(above)
    if len(tied) > need:
        times = creation[tied]
        cut = -np.partition(-times, need - 1)[need - 1]
        newer = tied[times > cut]
        tied = np.concatenate((newer, tied[times == cut][:need - len(newer)]))
    candidates = np.sort(np.concatenate((above, tied)), kind="stable")
    order = np.lexsort((-creation[candidates], -scores[candidates]))
    return candidates[order[:limit]]
