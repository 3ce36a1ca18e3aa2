"""`_upload_tokens`: the upload tokens already used, so each works once.

A token carries its own expiry and signature (runtime/files/tokens.py); only
its use is stored, in the same commit as the `_storage` document the upload
creates, so two uploads racing with one token cannot both commit. Records are
kept until the token would have expired anyway, then pruned.
"""

from __future__ import annotations

from reactor.schema import TableDefinition, define_table
from reactor.transactions import QueryBuilder, Transaction
from reactor.values import v

UPLOAD_TOKENS = "_upload_tokens"


def upload_tokens_table() -> TableDefinition:
    table = define_table({"nonce": v.string(), "expiresAt": v.number()}) \
        .index("by_nonce", ["nonce"]).index("by_expiry", ["expiresAt"])
    table.name = UPLOAD_TOKENS
    return table


class UsedUploadTokens:
    """The used tokens seen through one transaction."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    def query(self, nonce: str) -> QueryBuilder:
        """The record of `nonce`: found if the token was used."""
        return QueryBuilder(self._txn, UPLOAD_TOKENS) \
            .with_index("by_nonce", lambda q: q.eq("nonce", nonce))

    async def used(self, nonce: str) -> bool:
        return await self.query(nonce).first() is not None

    async def mark_used(self, nonce: str, expires_ms: float) -> None:
        await self._txn.insert(UPLOAD_TOKENS, {"nonce": nonce, "expiresAt": expires_ms})

    async def prune(self, now_ms: float, limit: int) -> int:
        """Delete up to `limit` records of tokens expired before `now_ms`; how many."""
        expired = await (QueryBuilder(self._txn, UPLOAD_TOKENS)
                         .with_index("by_expiry", lambda q: q.lt("expiresAt", now_ms))
                         .take(limit))
        for record in expired:
            await self._txn.delete(record["_id"])
        return len(expired)
