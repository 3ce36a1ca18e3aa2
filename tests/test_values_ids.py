"""Document ids: shape, table hash, checksum."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactor.values import id_table_hash, is_id_for, new_id, new_ids, table_hash
from reactor.values import ids as ids_module

ALPHABET = set("0123456789abcdefghjkmnpqrstvwxyz")


@pytest.fixture
def fixed_id(monkeypatch: pytest.MonkeyPatch) -> str:
    """An id with fixed time and random bytes, so corruption tests are deterministic."""
    monkeypatch.setattr(ids_module.os, "urandom", lambda n: bytes(range(n)))
    monkeypatch.setattr(ids_module, "_time_prefix", lambda: bytes(range(100, 106)))
    return new_id("users")


def test_shape() -> None:
    doc_id = new_id("users")
    assert len(doc_id) == 36
    assert set(doc_id) <= ALPHABET


def test_ids_are_unique() -> None:
    assert len({new_id("t") for _ in range(1000)}) == 1000


def test_table_is_recoverable() -> None:
    doc_id = new_id("users")
    assert id_table_hash(doc_id) == table_hash("users")
    assert len(table_hash("users")) == 4
    assert is_id_for("users", doc_id)
    assert not is_id_for("tasks", doc_id)
    assert not is_id_for("Users", doc_id)


def test_fixed_id_is_stable(fixed_id: str) -> None:
    assert fixed_id == new_id("users")
    assert is_id_for("users", fixed_id)


def test_every_single_character_change_is_detected(fixed_id: str) -> None:
    for position in range(len(fixed_id)):
        for char in sorted(ALPHABET - {fixed_id[position]}):
            # A change in the last character's padding bits is refused as non-canonical.
            corrupted = fixed_id[:position] + char + fixed_id[position + 1 :]
            assert id_table_hash(corrupted) is None, (position, char)


@pytest.mark.parametrize(
    "value",
    ["", "abc", None, 42, b"x" * 36, "I" * 36, "u" * 36],
)
def test_malformed_values(value: object) -> None:
    assert id_table_hash(value) is None
    assert not is_id_for("users", value)


def test_uppercase_and_length(fixed_id: str) -> None:
    assert id_table_hash(fixed_id.upper()) is None
    assert id_table_hash(fixed_id + "0") is None
    assert id_table_hash(fixed_id[:-1]) is None


@given(count=st.integers(min_value=0, max_value=300),
       table=st.sampled_from(["users", "t", "_storage", "a_long_table_name_42"]))
def test_new_ids_in_bulk_are_valid_distinct_ids_of_their_table(count: int, table: str) -> None:
    ids = new_ids(table, count)
    assert len(ids) == count == len(set(ids))
    assert all(is_id_for(table, doc_id) for doc_id in ids)
    assert not any(is_id_for(table + "x", doc_id) for doc_id in ids)


@given(random=st.binary(min_size=16, max_size=16),
       table=st.sampled_from(["users", "t", "_storage"]))
def test_one_id_is_spelled_as_ids_in_bulk_are(random: bytes, table: str) -> None:
    """new_id spells an id its own way (one number, two characters per look-up); it must
    be the id new_ids (RFC 4648 base32, translated) makes from the same random bytes."""
    with patch("reactor.values.ids._time_prefix", lambda: random[:ids_module.TIME_BYTES]), \
            patch("reactor.values.ids.os.urandom", lambda n: random[ids_module.TIME_BYTES:]):
        assert new_id(table) == new_ids(table, 1)[0] == ids_module.id_from_random_bytes(
            table, random)


@given(times=st.lists(st.integers(min_value=0, max_value=2**48 - 1), min_size=2, max_size=8),
       table=st.sampled_from(["users", "_storage"]))
def test_ids_made_later_sort_after(times: list[int], table: str) -> None:
    """Oracle: the millisecond each id was made. Ids of different milliseconds sort as
    their times do (whatever the random bytes), and carry the time in their first bytes."""
    made = []
    for ms in times:
        with patch("reactor.values.ids.time.time_ns", lambda ms=ms: ms * 1_000_000 + 999_999):
            made.append((ms, new_id(table), new_ids(table, 2)))
    for ms, one, bulk in made:
        for doc_id in (one, *bulk):
            assert is_id_for(table, doc_id)
            random = ids_module.id_random_bytes(doc_id)
            assert random is not None
            assert int.from_bytes(random[:ids_module.TIME_BYTES], "big") == ms
    for ms_a, one_a, bulk_a in made:
        for ms_b, one_b, bulk_b in made:
            if ms_a < ms_b:
                assert max(one_a, *bulk_a) < min(one_b, *bulk_b)
