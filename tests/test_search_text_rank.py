"""Ranking that scores few candidates (storage/text_rank.py) against scoring them all.

The in-memory index skips postings that cannot reach the top `k`; that must never
change a result. Hypothesis builds small indexes where skipping is likely to go
wrong: few distinct lengths and hit counts (ties everywhere, creation times tied
too), entries not visible at the snapshot or removed, further filter groups,
prefixes, and limits around the number of matches. Lists are ordered from one
posting on (instead of 1,024), so the pruned path runs on them; the same search
with ordering switched off scores every candidate.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.storage import text_rank
from reactor.storage.base import TextQuery
from reactor.storage.text_index import LIVE, TextIndex
from reactor.storage.text_rank import top

WORDS = ["ab", "abc", "abd", "b", "bc", "c"]
# Some words much more common than others, as in text (and in the benchmark).
COMMON = [word for word, weight in zip(WORDS, [6, 3, 2, 2, 1, 1], strict=True)
          for _ in range(weight)]
TOKENS = ["x", "y", "z"]

entry = st.tuples(
    st.lists(st.sampled_from(COMMON), min_size=1, max_size=6),  # terms (repeats: hits)
    st.lists(st.sampled_from(TOKENS), max_size=2, unique=True),  # filter tokens
    st.integers(1, 4),  # ts
    st.sampled_from([2, 2, 3, LIVE]),  # end (an entry ending before it starts is never seen)
    st.integers(0, 3),  # creation time (ties on purpose)
)
query = st.tuples(
    st.lists(st.sampled_from([*WORDS, "a", "zz"]), min_size=1, max_size=4, unique=True),
    st.booleans(),  # prefix
    st.lists(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=2, unique=True),
             max_size=2),  # filter groups
    st.integers(1, 4),  # snapshot
    st.integers(1, 12),  # limit
)


def make(entries: list[tuple[list[str], list[str], int, int, int]],
         removed: list[int]) -> TextIndex:
    index = TextIndex()
    for number, (terms, filters, ts, end, creation) in enumerate(entries):
        index.add(number + 1, f"d{number}", ts, end, float(creation), terms, filters)
    for number in dict.fromkeys(removed):
        index.remove(number + 1, entries[number][0])
    return index


def search(index: TextIndex, wanted: TextQuery, ts: int, limit: int, smallest: int,
           monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    monkeypatch.setattr(text_rank, "MIN_ORDERED", smallest)
    index.orders.clear()
    return index.search(wanted, ts, limit)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(entry, min_size=1, max_size=80),
       removed=st.lists(st.integers(0, 39), max_size=5),
       queries=st.lists(query, min_size=1, max_size=4))
def test_pruned_ranking_equals_scoring_everything(
        entries: list[Any], removed: list[int], queries: list[Any],
        monkeypatch: pytest.MonkeyPatch) -> None:
    index = make(entries, [n for n in removed if n < len(entries)])
    for terms, prefix, groups, ts, limit in queries:
        wanted = TextQuery(tuple(terms), prefix, tuple(tuple(g) for g in groups))
        everything = search(index, wanted, ts, limit, 10**9, monkeypatch)
        pruned = search(index, wanted, ts, limit, 1, monkeypatch)
        assert pruned == everything, (wanted, ts, limit)


@pytest.mark.parametrize("seed", range(3))
def test_random_corpora(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Larger corpora than Hypothesis tends to build, where a search that picked too few
    postings at first (its best entries invisible) must notice it."""
    rng = random.Random(seed)
    for _ in range(150):
        index = make([(rng.choices(COMMON, k=rng.randint(1, 6)),
                       rng.sample(TOKENS, rng.randint(0, 2)), rng.randint(1, 4),
                       rng.choice([2, 2, 3, LIVE]), rng.randint(0, 3))
                      for _ in range(rng.randint(1, 120))], [])
        for _ in range(4):
            wanted = TextQuery(tuple(rng.sample([*WORDS, "a"], rng.randint(1, 3))),
                               rng.random() < 0.4,
                               tuple((rng.choice(TOKENS),) for _ in range(rng.randint(0, 1))))
            ts, limit = rng.randint(1, 4), rng.randint(1, 12)
            assert (search(index, wanted, ts, limit, 1, monkeypatch)
                    == search(index, wanted, ts, limit, 10**9, monkeypatch)), (wanted, ts, limit)


def test_ties_at_the_kth_score_go_to_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hundreds of entries with the k-th score: the newest win, whichever were ordered."""
    index = TextIndex()
    for number in range(600):
        terms = ["common"] * (3 if number % 100 == 0 else 1)
        index.add(number + 1, f"d{number}", 1, LIVE, float(number), terms, [])
    wanted = TextQuery(("common",), False)
    found = search(index, wanted, 1, 10, 1, monkeypatch)
    assert [doc_id for doc_id, _ in found] == [
        "d500", "d400", "d300", "d200", "d100", "d0", "d599", "d598", "d597", "d596"]
    assert found == search(index, wanted, 1, 10, 10**9, monkeypatch)


def test_invisible_best_entries_are_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    """The best postings all belong to entries replaced before the snapshot: the guess
    from them is too high and the search picks again from what it found."""
    index = TextIndex()
    for number in range(300):
        best = number < 50
        index.add(number + 1, f"d{number}", 1, 2 if best else LIVE, float(number),
                  ["word"] * (4 if best else 1) + ["filler"] * (number % 7), [])
    wanted = TextQuery(("word",), False)
    for limit in (1, 10, 249, 250, 251):
        found = search(index, wanted, 3, limit, 1, monkeypatch)
        assert len(found) == min(limit, 250)
        assert found == search(index, wanted, 3, limit, 10**9, monkeypatch)


def test_orders_follow_appends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Postings added after a list was ordered are scored whole, and the order is made
    again once they are many."""
    monkeypatch.setattr(text_rank, "MIN_ORDERED", 1)
    index = TextIndex()
    wanted = TextQuery(("w",), False)
    for number in range(400):
        index.add(number + 1, f"d{number}", number + 1, LIVE, float(number),
                  ["w"] * (1 + number % 5) + ["v"] * (number % 3), [])
        if number % 37 == 0:
            found = index.search(wanted, number + 1, 5)
            monkeypatch.setattr(text_rank, "MIN_ORDERED", 10**9)
            assert found == index.search(wanted, number + 1, 5)
            monkeypatch.setattr(text_rank, "MIN_ORDERED", 1)
            (order,) = index.orders.values()
            assert 5 * (number + 1 - order.size) <= number + 1
    assert order.size < 400


@pytest.mark.parametrize("count", [0, 5, 10, 256, 257, 3000])
def test_top_sorting_whole_equals_selecting(count: int, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    """`top` sorts short score arrays whole and selects the k-th on longer ones: both
    give the order of a full sort (score, then newer creation, then position), ties
    included."""
    rng = np.random.default_rng(count)
    scores = rng.integers(0, 4, count) / 4  # many ties at every score
    creation = rng.integers(0, 3, count).astype(np.float64)
    expected = np.lexsort((-creation, -scores))[:10]
    assert top(scores, creation, 10).tolist() == expected.tolist()
    monkeypatch.setattr(text_rank, "_SORTED_WHOLE", 0)
    assert top(scores, creation, 10).tolist() == expected.tolist()
