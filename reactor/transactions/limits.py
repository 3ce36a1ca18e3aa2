"""Per-transaction limits: what one query or mutation may read and write."""

from __future__ import annotations

from dataclasses import dataclass

from reactor.errors import LimitExceededError

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class TransactionLimits:
    max_documents_scanned: int = 32_000
    max_bytes_read: int = 16 * MIB
    max_index_ranges: int = 4_096
    max_documents_written: int = 16_000
    max_bytes_written: int = 16 * MIB


@dataclass(slots=True)
class TransactionStats:
    """Running totals checked against `TransactionLimits` as the transaction goes."""

    limits: TransactionLimits
    documents_scanned: int = 0
    bytes_read: int = 0
    index_ranges: int = 0
    documents_written: int = 0
    bytes_written: int = 0

    def count_range(self) -> None:
        self.index_ranges += 1
        self._check("index ranges read", self.index_ranges, self.limits.max_index_ranges)

    def count_read(self, documents: int, size: int) -> None:
        self.documents_scanned += documents
        self.bytes_read += size
        self._check("documents scanned", self.documents_scanned,
                    self.limits.max_documents_scanned)
        self._check("bytes read", self.bytes_read, self.limits.max_bytes_read)

    def count_write(self, size: int) -> None:
        self.documents_written += 1
        self.bytes_written += size
        self._check("documents written", self.documents_written,
                    self.limits.max_documents_written)
        self._check("bytes written", self.bytes_written, self.limits.max_bytes_written)

    @staticmethod
    def _check(what: str, value: int, limit: int) -> None:
        if value > limit:
            raise LimitExceededError(
                f"transaction limit exceeded: {value} {what}, the limit is {limit}"
                " (split the work over several mutations or paginate)",
                code=f"TooMany{what.title().replace(' ', '')}",
            )
