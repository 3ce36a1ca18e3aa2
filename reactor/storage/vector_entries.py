"""Vector index entries between a SQL store and the in-memory matrices of vector_matrix.py:
the stored encoding, and loading or updating a matrix from entry rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from reactor.errors import StorageError
from reactor.storage.base import VectorHit, VectorQuery

if TYPE_CHECKING:
    from reactor.storage.vector_matrix import VectorMatrix

# Current entries end at the largest int64 (as in vector_matrix.py).
LIVE = 2**63 - 1


def encode(vector: list[float]) -> bytes:
    """float32, little-endian as numpy lays it out. numpy is imported on first use, so an
    app without vector indexes never pays for loading it."""
    import numpy as np

    return np.asarray(vector, dtype=np.float32).tobytes()


def put(matrix: VectorMatrix | None, doc_id: str, ts: int, data: bytes | None,
        filters: list[str], end: int = LIVE) -> VectorMatrix | None:
    """The matrix (None: the index has no entries yet) after one entry change."""
    if matrix is None:
        if data is None:
            return None
        from reactor.storage.vector_matrix import VectorMatrix

        matrix = VectorMatrix(len(data) // 4, len(filters))
    matrix.put(doc_id, ts, data, filters, end)
    return matrix


def extend(matrix: VectorMatrix | None, rows: list[tuple[str, int, int, bytes, str]]
           ) -> VectorMatrix | None:
    """The matrix after stored entries (`VectorMatrix.extend`), made by the first."""
    if matrix is None and rows:
        from reactor.storage.vector_matrix import VectorMatrix

        matrix = VectorMatrix(len(rows[0][3]) // 4, len(rows[0][4].split()))
    if matrix is not None:
        matrix.extend(rows)
    return matrix


def apply(matrices: dict[str, VectorMatrix], index_id: str, doc_id: str, ts: int,
          data: bytes | None, filters: list[str], end: int = LIVE) -> None:
    """Bring the in-memory matrix of `index_id` in step with one entry change."""
    matrix = put(matrices.get(index_id), doc_id, ts, data, filters, end)
    if matrix is not None:
        matrices[index_id] = matrix


def load(rows: Iterable[tuple[str, str, int, int, bytes, str]]) -> dict[str, VectorMatrix]:
    matrices: dict[str, VectorMatrix] = {}
    for index_id, doc_id, ts, end, data, filters in rows:
        apply(matrices, index_id, doc_id, ts, bytes(data), filters.split(), end)
    return matrices


def search(matrix: VectorMatrix | None, index_id: str, query: VectorQuery, ts: int, limit: int
           ) -> list[VectorHit]:
    """`query` on the matrix of `index_id` (None: the index has no entries)."""
    if matrix is None:
        return []
    if len(query.vector) != matrix.dimensions:
        raise StorageError(f"vector index {index_id!r} has {matrix.dimensions} dimensions,"
                           f" the query vector {len(query.vector)}")
    return matrix.search(query.vector, query.filters, ts, limit)
