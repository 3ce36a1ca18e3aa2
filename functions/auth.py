"""Users and sign-in: password accounts (reactor.auth.password), the current user, upserts,
linked accounts, account deletion."""

from __future__ import annotations

import re
from typing import Any, Final

from reactor import (
    ActionCtx,
    MutationCtx,
    QueryCtx,
    action,
    internal_mutation,
    internal_query,
    mutation,
    query,
    v,
)
from reactor.auth.password import (
    CREDENTIALS,
    PasswordAuth,
    bounded,
    normalize_email,
    prune_pending,
)
from reactor.runtime.auth import AuthenticationError

from ._lib.authz import Doc, find_user, require_user
from ._lib.cascade import BATCH, delete_user, purge_user
from ._lib.errors import app_error
from ._lib.fields import present
from ._lib.mail import deliver

LEGACY_CREDENTIAL_PROVIDER: Final = "credential"
MAX_NAME_CHARS: Final = 200
MAX_TOKEN_CHARS: Final = 16 * 1024
MAIL_KEPT_MS: Final = 24 * 3600 * 1000
_PROVIDER_ID = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# What `auth:accounts` shows of an account: never tokens, never the password hash.
PUBLIC_ACCOUNT_FIELDS: Final = ("_id", "_creationTime", "accountId", "providerId", "userId",
                                "scope", "accessTokenExpiresAt", "refreshTokenExpiresAt",
                                "githubInstallationId", "githubAppConnected", "createdAt",
                                "updatedAt")


async def user_by_email(ctx: QueryCtx, address: str) -> Doc | None:
    return await (ctx.db.query("users")
                  .with_index("by_email", lambda q: q.eq("email", address))
                  .unique())


class Users:
    """The app's users as the password library sees them."""

    async def find(self, ctx: MutationCtx, email: str) -> str | None:
        user = await user_by_email(ctx, email)
        return None if user is None else str(user["_id"])

    async def create(self, ctx: MutationCtx, email: str, name: str) -> str:
        now = ctx.now()
        return await ctx.db.insert("users", {"name": name, "email": email,
                                             "emailVerified": True, "createdAt": now,
                                             "updatedAt": now})


password = PasswordAuth(users=Users(), deliver=deliver)
signUp = password.sign_up
confirmSignUp = password.confirm_sign_up
signIn = password.sign_in
signOut = password.sign_out
passwordStore = password.store


@internal_query(args={"email": v.string()})
async def mailbox(ctx: QueryCtx, email: str) -> list[Doc]:
    """The newest mail queued for `email` (development and tests read codes here)."""
    return await (ctx.db.query("outbox").with_index("by_to", lambda q: q.eq("to", email))
                  .order("desc").take(20))


@internal_mutation(args={})
async def pruneExpired(ctx: MutationCtx) -> int:
    """Delete expired sign-ups and mail older than a day, up to BATCH of each; how many.
    A cron runs it (functions/crons.py)."""
    cutoff = ctx.now() - MAIL_KEPT_MS
    mails = await (ctx.db.query("outbox")
                   .with_index("by_created", lambda q: q.lt("createdAt", cutoff)).take(BATCH))
    for mail in mails:
        await ctx.db.delete(mail["_id"])
    return len(mails) + await prune_pending(ctx, BATCH)


@internal_mutation(args={})
async def migrateLegacyPasswords(ctx: MutationCtx) -> int:
    """Move up to BATCH password hashes of the old `credential` accounts into the password
    library's table (each is upgraded to the current scrypt cost at its next sign-in);
    how many it moved. Run it until it returns 0."""
    rows = await (ctx.db.query("accounts")
                  .with_index("by_provider", lambda q: q.eq("providerId",
                                                            LEGACY_CREDENTIAL_PROVIDER))
                  .take(BATCH))
    for row in rows:
        user = await ctx.db.get(row["userId"])
        if user is not None and "password" in row:
            now = ctx.now()
            await ctx.db.insert(CREDENTIALS, {"email": user["email"], "userId": user["_id"],
                                              "hash": row["password"], "createdAt": now,
                                              "updatedAt": now})
        await ctx.db.delete(row["_id"])
    return len(rows)


@query(args={})
async def currentUser(ctx: QueryCtx) -> Doc | None:
    """The signed-in user, or null when signed out."""
    return await find_user(ctx)


@mutation(args={"email": v.string(), "name": v.string(), "image": v.optional(v.string())},
          returns=v.id("users"))
async def upsertUser(ctx: MutationCtx, email: str, name: str, image: str | None = None) -> str:
    """Create or update the signed-in identity's user, keyed on email.

    A known user may only update themselves. An identity from an external issuer
    becomes a user the first time, and may take over an existing row with the
    same email only when the issuer says the email is verified.
    """
    address = normalize_email(email)
    name = bounded(name, "name", MAX_NAME_CHARS)
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        raise app_error("Unauthenticated", "upsertUser needs a signed-in identity")
    profile = present({"name": name, "image": image, "updatedAt": ctx.now()})
    user = await find_user(ctx)
    if user is not None:
        if user["email"] != address:
            raise app_error("Forbidden", f"upsertUser: {address} is not the signed-in user's"
                            " email", email=address)
        await ctx.db.patch(user["_id"], profile)
        return str(user["_id"])
    if str(identity.get("email", "")).strip().lower() != address:
        raise app_error("Forbidden", f"upsertUser: the identity's email claim is not {address}",
                        email=address)
    verified = identity.get("emailVerified") is True
    existing = await user_by_email(ctx, address)
    if existing is None:
        return await ctx.db.insert("users", {
            **profile, "email": address, "emailVerified": verified,
            "externalId": identity["tokenIdentifier"], "createdAt": ctx.now()})
    if not verified or "externalId" in existing:
        raise app_error("Forbidden", f"upsertUser: {address} belongs to an existing account"
                        " that this identity may not claim", email=address)
    await ctx.db.patch(existing["_id"], {**profile, "emailVerified": True,
                                         "externalId": identity["tokenIdentifier"]})
    return str(existing["_id"])


@internal_mutation(args={"email": v.string(), "name": v.string(),
                         "image": v.optional(v.string()),
                         "emailVerified": v.optional(v.boolean()),
                         "externalId": v.optional(v.string())},
                   returns=v.id("users"))
async def adminUpsertUser(ctx: MutationCtx, email: str, name: str, image: str | None = None,
                          emailVerified: bool | None = None,
                          externalId: str | None = None) -> str:
    """Create or update any user by email (operators and server code only)."""
    address = normalize_email(email)
    name = bounded(name, "name", MAX_NAME_CHARS)
    fields = present({"name": name, "image": image, "emailVerified": emailVerified,
                      "externalId": externalId, "updatedAt": ctx.now()})
    existing = await user_by_email(ctx, address)
    if existing is not None:
        await ctx.db.patch(existing["_id"], fields)
        return str(existing["_id"])
    return await ctx.db.insert("users", {"emailVerified": False, **fields, "email": address,
                                         "createdAt": ctx.now()})


@mutation(args={})
async def deleteAccount(ctx: MutationCtx) -> None:
    """Delete the signed-in user at once; what they own goes in batches right after."""
    await delete_user(ctx, await require_user(ctx))


@internal_mutation(args={"userId": v.id("users")})
async def deleteUser(ctx: MutationCtx, userId: str) -> None:
    """Delete any user and everything they own (operators only)."""
    user = await ctx.db.get(userId)
    if user is None:
        raise app_error("NotFound", f"user {userId} does not exist", id=userId)
    await delete_user(ctx, user)


@internal_mutation(args={"userId": v.id("users")})
async def purgeUser(ctx: MutationCtx, userId: str) -> None:
    """One batch of a deleted user's rows; scheduled until none is left."""
    await purge_user(ctx, userId)


link_details = {"accessToken": v.optional(v.string()), "refreshToken": v.optional(v.string()),
                "accessTokenExpiresAt": v.optional(v.number()),
                "refreshTokenExpiresAt": v.optional(v.number()),
                "scope": v.optional(v.string()),
                "githubInstallationId": v.optional(v.string()),
                "githubAppConnected": v.optional(v.boolean())}


def issuer_variable(provider_id: str) -> str:
    """The environment variable naming the issuer whose tokens prove `provider_id` accounts."""
    return "LINK_ISSUER_" + provider_id.upper().replace("-", "_")


@action(args={"providerId": v.string(), "idToken": v.string(), **link_details},
        returns=v.id("accounts"))
async def linkAccount(ctx: ActionCtx, providerId: str, idToken: str, **details: Any) -> str:
    """Link the provider account that `idToken` proves to the caller, or refresh its tokens.

    The account id is the subject of `idToken`, a token of the provider's issuer
    (environment variable `LINK_ISSUER_<PROVIDER>`, which must also be a trusted
    issuer in auth_config.py) checked like a client's token: never an id the
    client merely states.
    """
    if not _PROVIDER_ID.fullmatch(bounded(providerId, "providerId", 32)):
        raise app_error("InvalidArgument", "providerId: expected a lower-case name such as"
                        " github", field="providerId")
    bounded(idToken, "idToken", MAX_TOKEN_CHARS)
    issuer = await ctx.env.get(issuer_variable(providerId))
    if issuer is None:
        raise app_error("InvalidArgument", f"providerId: no provider {providerId} is configured"
                        f" (set {issuer_variable(providerId)})", field="providerId")
    try:
        proof = await ctx.auth.verify_token(idToken)
    except AuthenticationError as error:
        raise app_error("InvalidProof", f"idToken: {error.message}") from None
    if proof["issuer"] != issuer:
        raise app_error("InvalidProof", f"idToken: not a token of {providerId}'s issuer")
    return str(await ctx.run_mutation(linkVerified, {
        **details, "providerId": providerId, "accountId": proof["subject"],
        "idToken": idToken}))


@internal_mutation(args={"providerId": v.string(), "accountId": v.string(),
                         "idToken": v.string(), **link_details},
                   returns=v.id("accounts"))
async def linkVerified(ctx: MutationCtx, providerId: str, accountId: str, **details: Any) -> str:
    """Store a link whose account id `auth:linkAccount` verified, for the caller."""
    user = await require_user(ctx)
    fields = present({**details, "updatedAt": ctx.now()})
    existing = await (ctx.db.query("accounts")
                      .with_index("by_provider", lambda q: q.eq("providerId", providerId)
                                  .eq("accountId", accountId))
                      .unique())
    if existing is None:
        return await ctx.db.insert("accounts", {
            "githubAppConnected": False, **fields, "providerId": providerId,
            "accountId": accountId, "userId": user["_id"], "createdAt": ctx.now()})
    # A link of a deleted user (whose rows are still being purged) is free to take.
    if existing["userId"] != user["_id"] and await ctx.db.get(existing["userId"]) is not None:
        raise app_error("AccountAlreadyLinked",
                        f"that {providerId} account is linked to another user",
                        providerId=providerId)
    await ctx.db.patch(existing["_id"], {**fields, "userId": user["_id"]})
    return str(existing["_id"])


@query(args={})
async def accounts(ctx: QueryCtx) -> list[Doc]:
    """The caller's linked accounts, without tokens or password hashes."""
    user = await require_user(ctx)
    rows = await (ctx.db.query("accounts")
                  .with_index("by_user", lambda q: q.eq("userId", user["_id"]))
                  .collect())
    return [{name: row[name] for name in PUBLIC_ACCOUNT_FIELDS if name in row} for row in rows]
