"""Vector search in a transaction: checking the call, the keys it depends on, own writes.

A vector index's key space (its index id) holds, per document revision with a
vector, the key `U` and `encode_key([f, v])` for each filter field f with value v.
A search without a filter reads the point `U`; with `q.eq(f, v) | ...` it reads
the point of each alternative. So any commit that adds, changes or removes a
vector in the searched part of the index re-runs a live vector search (any
vector may enter the top k), and a commit in another part (another board) does
not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from reactor.errors import InvalidValueError, NotFoundError
from reactor.schema import VectorIndexDefinition, filter_token, index_id
from reactor.storage import VectorQuery, VectorWrite
from reactor.transactions.readset import KeyInterval, point_interval
from reactor.transactions.transaction import Transaction
from reactor.values import MISSING, Missing, Value, canonicalize, encode_key

MIN_LIMIT: Final = 1
MAX_LIMIT: Final = 256
DEFAULT_LIMIT: Final = 10
MAX_FILTER_VALUES: Final = 64

UNFILTERED: Final = encode_key(["", None])


def vector_keys(index: VectorIndexDefinition, doc: dict[str, Any]) -> set[bytes]:
    """The keys a revision of `doc` writes in the index's key space (see module doc)."""
    if index.vector(doc) is None:
        return set()
    keys = {UNFILTERED}
    keys.update(encode_key([field, value])
                for field, value in zip(index.filter_fields, index.filter_values(doc),
                                        strict=True))
    return keys


def vector_write(index: VectorIndexDefinition, searched: str, doc_id: str,
                 doc: dict[str, Any] | None) -> VectorWrite:
    vector = index.vector(doc) if doc is not None else None
    if doc is None or vector is None:
        return VectorWrite(searched, doc_id, None)
    tokens = [filter_token(i, value) for i, value in enumerate(index.filter_values(doc))]
    return VectorWrite(searched, doc_id, vector, tokens)


class VectorFilter:
    """`q` in `filter=lambda q: q.eq("board", "a") | q.eq("board", "b")`."""

    def __init__(self, index: VectorIndexDefinition) -> None:
        self._index = index

    def eq(self, field: str, value: Any) -> Alternatives:
        if field not in self._index.filter_fields:
            known = ", ".join(self._index.filter_fields) or "none"
            raise InvalidValueError(f"vector index {self._index.name}: {field!r} is not a"
                                    f" filter field (filter fields: {known})")
        if value is None:
            return Alternatives(((field, MISSING), (field, None)))
        return Alternatives(((field, canonicalize(value, f"filter eq({field!r})")),))

    def or_(self, *alternatives: Alternatives) -> Alternatives:
        combined: tuple[tuple[str, Value | Missing], ...] = ()
        for item in alternatives:
            if not isinstance(item, Alternatives):
                raise InvalidValueError("q.or_(...): expected q.eq(...) expressions")
            combined += item.values
        return Alternatives(combined)


@dataclass(frozen=True, slots=True)
class Alternatives:
    """A disjunction of filter-field equalities (`|` combines two)."""

    values: tuple[tuple[str, Value | Missing], ...]

    def __or__(self, other: Alternatives) -> Alternatives:
        if not isinstance(other, Alternatives):
            return NotImplemented
        return Alternatives(self.values + other.values)


@dataclass(frozen=True, slots=True)
class VectorPlan:
    index: VectorIndexDefinition
    vector: list[float]
    limit: int
    alternatives: tuple[tuple[str, Value | Missing], ...]

    def read_intervals(self) -> list[KeyInterval]:
        if not self.alternatives:
            return [point_interval(UNFILTERED)]
        return [point_interval(encode_key([field, value]))
                for field, value in self.alternatives]

    def query(self) -> VectorQuery:
        positions = {field: i for i, field in enumerate(self.index.filter_fields)}
        return VectorQuery(self.vector, tuple(
            (positions[field], filter_token(positions[field], value))
            for field, value in self.alternatives))

    def matches(self, doc: dict[str, Any]) -> bool:
        if self.index.vector(doc) is None:
            return False
        if not self.alternatives:
            return True
        values = dict(zip(self.index.filter_fields, self.index.filter_values(doc),
                          strict=True))
        return any(encode_key([values[field]]) == encode_key([value])
                   for field, value in self.alternatives)

    def score(self, doc: dict[str, Any]) -> float:
        """Cosine similarity in float32, as the stored index computes it."""
        import numpy as np  # only apps with vector indexes load it

        a = np.asarray(self.index.vector(doc), dtype=np.float32)
        b = np.asarray(self.vector, dtype=np.float32)
        norms = float(np.linalg.norm(a)) * float(np.linalg.norm(b))
        return float(a @ b) / norms if norms > 0 else 0.0


def plan_vector_search(txn: Transaction, table_name: str, index_name: str, vector: Any,
                       limit: Any, filter_fn: Callable[[VectorFilter], Any] | None
                       ) -> tuple[str, VectorPlan]:
    """Check a `vector_search` call; errors name the table, index and what is expected."""
    where = f"vector_search({table_name}.{index_name})"
    table = txn.catalog.require(table_name)
    index = table.vector_indexes.get(index_name)
    if index is None:
        raise NotFoundError(
            f'vector index "{index_name}" not found on table "{table_name}"'
            f" (vector indexes: {', '.join(sorted(table.vector_indexes)) or 'none'})",
            code="IndexNotFound")
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    if (not isinstance(limit, int) or isinstance(limit, bool)
            or not MIN_LIMIT <= limit <= MAX_LIMIT):
        raise InvalidValueError(f"{where}: limit must be an integer from {MIN_LIMIT} to"
                                f" {MAX_LIMIT}, got {limit!r}")
    if not isinstance(vector, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) for x in vector):
        raise InvalidValueError(f"{where}: vector must be a list of numbers")
    if len(vector) != index.dimensions:
        raise InvalidValueError(f"{where}: vector has {len(vector)} numbers; the index on"
                                f" {index.vector_field!r} has {index.dimensions} dimensions")
    alternatives: tuple[tuple[str, Value | Missing], ...] = ()
    if filter_fn is not None:
        built = filter_fn(VectorFilter(index))
        if not isinstance(built, Alternatives):
            raise InvalidValueError(f"{where}: filter must return q.eq(...), optionally"
                                    " combined with | or q.or_(...)")
        alternatives = built.values
        if len(alternatives) > MAX_FILTER_VALUES:
            raise InvalidValueError(f"{where}: at most {MAX_FILTER_VALUES} filter values,"
                                    f" got {len(alternatives)}")
    plan = VectorPlan(index, [float(x) for x in vector], limit, alternatives)
    return index_id(table_name, index_name), plan


async def run_vector_search(txn: Transaction, table_name: str, index_name: str, *,
                            vector: Any, limit: Any = DEFAULT_LIMIT,
                            filter: Callable[[VectorFilter], Any] | None = None
                            ) -> list[dict[str, Any]]:
    """`[{"_id", "_score"}]`, best first, at the transaction's snapshot, own writes included."""
    searched, plan = plan_vector_search(txn, table_name, index_name, vector, limit, filter)
    return await txn.vector_search(table_name, searched, plan)
