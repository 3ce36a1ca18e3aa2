"""An exact vector index in memory: one float32 matrix per index, searched by brute force.

Every entry revision is a row with the span of commit timestamps in which it is
visible (`start <= ts < end`), so a search at any retained snapshot masks the
rows of other times and compares the query with all the rest: recall is 1.0.
Rows are unit-normalized when added, so cosine similarity is one matrix-vector
product. Filter-field values are interned to small integers per field, so a
filter is a comparison of integer columns.
"""

from __future__ import annotations

import numpy as np

from reactor.storage.base import VectorHit

LIVE = 2**63 - 1
_INITIAL_ROWS = 1024


class VectorMatrix:
    """The rows of one vector index; grows by doubling, compacted by `prune`."""

    def __init__(self, dimensions: int, filter_fields: int) -> None:
        self.dimensions = dimensions
        self.size = 0
        self._vectors = np.zeros((_INITIAL_ROWS, dimensions), dtype=np.float32)
        self._start = np.zeros(_INITIAL_ROWS, dtype=np.int64)
        self._end = np.full(_INITIAL_ROWS, LIVE, dtype=np.int64)
        self._filters = np.zeros((filter_fields, _INITIAL_ROWS), dtype=np.int32)
        self._tokens: list[dict[str, int]] = [{} for _ in range(filter_fields)]
        self._doc_ids: list[str] = []
        self._current: dict[str, int] = {}

    def _grow(self, needed: int) -> None:
        """Room for `needed` rows: double (or more), copying only the rows in use."""
        rows = max(needed, self._vectors.shape[0] * 2)
        n = self.size
        vectors = np.zeros((rows, self.dimensions), dtype=np.float32)
        vectors[:n] = self._vectors[:n]
        start = np.zeros(rows, dtype=np.int64)
        start[:n] = self._start[:n]
        end = np.full(rows, LIVE, dtype=np.int64)
        end[:n] = self._end[:n]
        filters = np.zeros((self._filters.shape[0], rows), dtype=np.int32)
        filters[:, :n] = self._filters[:, :n]
        self._vectors, self._start, self._end, self._filters = vectors, start, end, filters

    def _intern(self, position: int, token: str) -> int:
        table = self._tokens[position]
        return table.setdefault(token, len(table) + 1)

    def put(self, doc_id: str, ts: int, vector: bytes | None, filters: list[str],
            end: int = LIVE) -> None:
        """The document's entry from `ts` on (`vector=None`: no entry from `ts` on)."""
        previous = self._current.pop(doc_id, None)
        if previous is not None:
            self._end[previous] = ts
        if vector is None:
            return
        if self.size == self._vectors.shape[0]:
            self._grow(self.size + 1)
        row = self.size
        self._vectors[row] = _unit(np.frombuffer(vector, dtype=np.float32)[None, :])[0]
        self._start[row] = ts
        self._end[row] = end
        for position, token in enumerate(filters[: self._filters.shape[0]]):
            self._filters[position, row] = self._intern(position, token)
        self._doc_ids.append(doc_id)
        if end == LIVE:
            self._current[doc_id] = row
        self.size += 1

    def extend(self, rows: list[tuple[str, int, int, bytes, str]]) -> None:
        """Stored entries (doc id, ts, end, vector, filter tokens joined by spaces) in commit
        order: the rows `put` would make one by one, normalized all at once (a load)."""
        count = len(rows)
        if count == 0:
            return
        first = self.size
        if first + count > self._vectors.shape[0]:
            self._grow(first + count)
        values = np.frombuffer(b"".join(row[3] for row in rows), dtype=np.float32)
        self._vectors[first:first + count] = _unit(values.reshape(count, self.dimensions))
        positions = self._filters.shape[0]
        for offset, (doc_id, ts, end, _, filters) in enumerate(rows):
            row = first + offset
            previous = self._current.pop(doc_id, None)
            if previous is not None:
                self._end[previous] = ts
            self._start[row] = ts
            self._end[row] = end
            for position, token in enumerate(filters.split()[:positions]):
                self._filters[position, row] = self._intern(position, token)
            self._doc_ids.append(doc_id)
            if end == LIVE:
                self._current[doc_id] = row
        self.size += count

    def search(self, vector: list[float], filters: tuple[tuple[int, str], ...], ts: int,
               limit: int) -> list[VectorHit]:
        n = self.size
        if n == 0 or limit <= 0:
            return []
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if norm > 0:
            query = query / norm
        scores = self._vectors[:n] @ query
        hidden = (self._start[:n] > ts) | (self._end[:n] <= ts)
        if filters:
            wanted = np.zeros(n, dtype=bool)
            for position, token in filters:
                code = self._tokens[position].get(token)
                if code is not None:
                    wanted |= self._filters[position, :n] == code
            hidden |= ~wanted
        scores[hidden] = -np.inf
        visible = n - int(np.count_nonzero(hidden))
        k = min(limit, visible)
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [VectorHit(self._doc_ids[i], float(scores[i])) for i in top
                if scores[i] != -np.inf][:k]

    def prune(self, horizon_ts: int) -> int:
        """Drop rows no snapshot at or after `horizon_ts` sees; how many went."""
        n = self.size
        keep = self._end[:n] > horizon_ts
        dropped = n - int(np.count_nonzero(keep))
        if dropped == 0:
            return 0
        rows = np.flatnonzero(keep)
        capacity = max(_INITIAL_ROWS, self._vectors.shape[0])
        vectors = np.zeros((capacity, self.dimensions), dtype=np.float32)
        vectors[: len(rows)] = self._vectors[rows]
        start = np.zeros(capacity, dtype=np.int64)
        start[: len(rows)] = self._start[rows]
        end = np.full(capacity, LIVE, dtype=np.int64)
        end[: len(rows)] = self._end[rows]
        filters = np.zeros((self._filters.shape[0], capacity), dtype=np.int32)
        filters[:, : len(rows)] = self._filters[:, rows]
        self._vectors, self._start, self._end, self._filters = vectors, start, end, filters
        self._doc_ids = [self._doc_ids[i] for i in rows]
        self.size = len(rows)
        self._current = {self._doc_ids[i]: i for i in range(self.size) if end[i] == LIVE}
        return dropped


def _unit(rows: np.ndarray) -> np.ndarray:
    """The rows scaled to unit length (a zero row stays zero). Each row's norm is summed
    the same way whatever the number of rows, so a load (`extend`) gives bit for bit the
    rows that `put` gave as the writes came."""
    norms = np.sqrt(np.add.reduce(rows * rows, axis=1))[:, None]
    unit: np.ndarray = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return unit
