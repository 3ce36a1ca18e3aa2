"""Opaque session tokens for services outside the sync protocol (a workspace sidecar, a cookie).

The browser authenticates with the JWT from `auth:signIn`; a session is a
separate, revocable secret. Only its SHA-256 is stored, so the sessions table
cannot be replayed if it leaks. Each session deletes itself when it expires
(a job scheduled at `expiresAt`).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, Final

from reactor import ActionCtx, MutationCtx, QueryCtx, action, internal_mutation, mutation, query, v
from reactor.auth.password import bounded

from ._lib.authz import Doc, ensure_owner, require_user
from ._lib.errors import app_error
from ._lib.fields import present

SESSION_TTL_MS: Final = 7 * 24 * 3600 * 1000
TOKEN_BYTES: Final = 32
MAX_TOKEN_CHARS: Final = 128
MAX_IP_CHARS: Final = 64
MAX_USER_AGENT_CHARS: Final = 512
PUBLIC_SESSION_FIELDS: Final = ("_id", "_creationTime", "userId", "expiresAt", "ipAddress",
                                "userAgent", "createdAt", "updatedAt")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@action(args={"ipAddress": v.optional(v.string()), "userAgent": v.optional(v.string())},
        returns=v.object({"sessionId": v.id("sessions"), "token": v.string(),
                          "expiresAt": v.number()}))
async def create(ctx: ActionCtx, ipAddress: str | None = None, userAgent: str | None = None) -> Doc:
    """A new session for the caller; the token is shown this once and never stored."""
    bounded(ipAddress or "", "ipAddress", MAX_IP_CHARS)
    bounded(userAgent or "", "userAgent", MAX_USER_AGENT_CHARS)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    created = await ctx.run_mutation(insert, present({
        "tokenHash": token_hash(token), "ipAddress": ipAddress, "userAgent": userAgent}))
    return {**created, "token": token}


@internal_mutation(args={"tokenHash": v.string(), "ipAddress": v.optional(v.string()),
                         "userAgent": v.optional(v.string())})
async def insert(ctx: MutationCtx, tokenHash: str, ipAddress: str | None = None,
                 userAgent: str | None = None) -> Doc:
    """Store a session for the caller (the action's identity) and schedule its expiry.

    The caller is found like everywhere else, so a user of an external issuer
    (known by `externalId`) gets sessions too.
    """
    user_id = (await require_user(ctx))["_id"]
    now = ctx.now()
    expires_at = now + SESSION_TTL_MS
    session_id = await ctx.db.insert("sessions", present({
        "token": tokenHash, "expiresAt": expires_at, "ipAddress": ipAddress,
        "userAgent": userAgent, "userId": user_id, "createdAt": now, "updatedAt": now}))
    await ctx.scheduler.run_at(expires_at, expire, {"sessionId": session_id})
    return {"sessionId": session_id, "expiresAt": expires_at}


@query(args={"token": v.string()})
async def validate(ctx: QueryCtx, token: str) -> Doc | None:
    """`{sessionId, userId, expiresAt}` for a live session token, else null."""
    if len(token) > MAX_TOKEN_CHARS:
        return None
    session = await (ctx.db.query("sessions")
                     .with_index("by_token", lambda q: q.eq("token", token_hash(token)))
                     .unique())
    if session is None or session["expiresAt"] <= ctx.now():
        return None
    if await ctx.db.get(session["userId"]) is None:
        return None  # the user was deleted; their sessions are being purged
    return {"sessionId": session["_id"], "userId": session["userId"],
            "expiresAt": session["expiresAt"]}


@internal_mutation(args={"sessionId": v.id("sessions")})
async def expire(ctx: MutationCtx, sessionId: str) -> bool:
    """Delete the session if it has expired; whether it did."""
    session = await ctx.db.get(sessionId)
    if session is None or session["expiresAt"] > ctx.now():
        return False
    await ctx.db.delete(sessionId)
    return True


@query(args={})
async def list(ctx: QueryCtx) -> Any:
    """The caller's sessions, newest first, without their token hashes.

    (Named `list` for the path `sessions:list`; this module never needs the builtin.)
    """
    user = await require_user(ctx)
    rows = await (ctx.db.query("sessions")
                  .with_index("by_user", lambda q: q.eq("userId", user["_id"]))
                  .order("desc")
                  .collect())
    return [{name: row[name] for name in PUBLIC_SESSION_FIELDS if name in row} for row in rows]


@mutation(args={"sessionId": v.id("sessions")})
async def revoke(ctx: MutationCtx, sessionId: str) -> None:
    """End one of the caller's sessions now."""
    user = await require_user(ctx)
    session = await ctx.db.get(sessionId)
    if session is None:
        raise app_error("NotFound", f"session {sessionId} does not exist", id=sessionId)
    ensure_owner(user, session, "session")
    await ctx.db.delete(sessionId)
