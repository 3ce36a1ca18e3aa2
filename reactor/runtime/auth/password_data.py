"""The tables of `PasswordAuth` (password.py) and the reads and clean-ups over them that
apps call too: credentials, sign-ups waiting for their code, and sessions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from reactor.runtime.context import MutationCtx, QueryCtx
from reactor.schema import TableDefinition, define_table
from reactor.values import v

CREDENTIALS: Final = "authPasswords"
PENDING: Final = "authPendingSignUps"
SESSIONS: Final = "authSessions"
SESSION_CLAIM: Final = "sid"


def password_tables(users: str = "users") -> dict[str, TableDefinition]:
    """The library's tables, to merge into the app's schema: `{**password_tables(), ...}`."""
    return {
        CREDENTIALS: define_table({
            "email": v.string(),
            "userId": v.id(users),
            "hash": v.string(),
            "createdAt": v.number(),
            "updatedAt": v.number(),
        }).index("by_email", ["email"]).index("by_user", ["userId"]),
        PENDING: define_table({
            "email": v.string(),
            "name": v.string(),
            "hash": v.string(),
            "codeHash": v.string(),  # SHA-256 of the code; the code itself is only mailed
            "attempts": v.number(),
            "expiresAt": v.number(),
        }).index("by_email", ["email"]).index("by_expires", ["expiresAt"]),
        # One per sign-in: a token names its session (claim `sid`), so deleting the
        # row signs that token out before it expires.
        SESSIONS: define_table({
            "userId": v.id(users),
            "expiresAt": v.number(),
            "createdAt": v.number(),
        }).index("by_user", ["userId"]).index("by_expires", ["expiresAt"]),
    }


async def credential_for(ctx: QueryCtx, email: str) -> dict[str, Any] | None:
    """The password row of `email`, if it has one."""
    return await (ctx.db.query(CREDENTIALS)
                  .with_index("by_email", lambda q: q.eq("email", email)).first())


async def pending_for(ctx: QueryCtx, email: str) -> dict[str, Any] | None:
    """The sign-up of `email` waiting for its code, if there is one."""
    return await (ctx.db.query(PENDING)
                  .with_index("by_email", lambda q: q.eq("email", email)).first())


async def delete_credentials(ctx: MutationCtx, user_id: str, limit: int = 500) -> int:
    """Delete up to `limit` of a user's password and session rows (when the app deletes
    the user); how many. Call it until it returns less than `limit`."""
    return await _delete_some(ctx, (CREDENTIALS, SESSIONS), "by_user",
                              lambda q: q.eq("userId", user_id), limit)


async def session_for(ctx: QueryCtx, session_id: object) -> dict[str, Any] | None:
    """The session a token names (claim `sid`), if it still exists."""
    normalized = ctx.db.normalize_id(SESSIONS, session_id)
    return None if normalized is None else await ctx.db.get(normalized)


async def session_user(ctx: QueryCtx) -> str | None:
    """The caller's user id if their token's session is still open, else None.

    For tokens of `PasswordAuth` (they carry `sid`): None once the user signed out,
    the session expired or was deleted. A token without a session claim (minted by
    other code) is not this function's to judge: its subject is returned as is.
    """
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        return None
    subject: str = identity["subject"]
    if SESSION_CLAIM not in identity:
        return subject
    session = await session_for(ctx, identity[SESSION_CLAIM])
    if session is None or session["userId"] != subject or session["expiresAt"] <= ctx.now():
        return None
    return subject


async def prune_pending(ctx: MutationCtx, limit: int = 500) -> int:
    """Delete up to `limit` sign-ups whose code has expired and sessions that have ended;
    how many. Run it from a cron (an unconfirmed sign-up otherwise stays until its
    email signs up again)."""
    now = ctx.now()
    return await _delete_some(ctx, (PENDING, SESSIONS), "by_expires",
                              lambda q: q.lte("expiresAt", now), limit)


async def _delete_some(ctx: MutationCtx, tables: tuple[str, ...], index: str,
                       where: Callable[[Any], Any], limit: int) -> int:
    """Delete up to `limit` rows of `tables` in `index`'s range `where`; how many."""
    deleted = 0
    for table in tables:
        rows = await ctx.db.query(table).with_index(index, where).take(limit - deleted)
        for row in rows:
            await ctx.db.delete(row["_id"])
        deleted += len(rows)
    return deleted
