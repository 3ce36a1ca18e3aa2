"""Users and sign-in: password sign-up and sign-in, the current user, upserts, linked accounts."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from reactor import action, internal_mutation, internal_query, mutation, query, v

from ._lib.authz import Doc, find_user, require_user
from ._lib.cascade import delete_user
from ._lib.errors import app_error
from ._lib.fields import present
from ._lib.passwords import decoy_hash, hash_password, verify_password

MIN_PASSWORD_LENGTH: Final = 8
CREDENTIAL_PROVIDER: Final = "credential"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# What `auth:accounts` shows of an account: never tokens, never the password hash.
PUBLIC_ACCOUNT_FIELDS: Final = ("_id", "_creationTime", "accountId", "providerId", "userId",
                                "scope", "accessTokenExpiresAt", "refreshTokenExpiresAt",
                                "githubInstallationId", "githubAppConnected", "createdAt",
                                "updatedAt")

signed_in = v.object({"token": v.string(), "userId": v.id("users")})


def normalize_email(email: str) -> str:
    """Emails are compared lower-case and trimmed; refuse what is not an address."""
    address = email.strip().lower()
    if not _EMAIL.fullmatch(address):
        raise app_error("InvalidEmail",
                        f"email: expected an address like name@example.com, got {email!r}")
    return address


async def user_by_email(ctx: Any, address: str) -> Doc | None:
    return await (ctx.db.query("users")
                  .with_index("by_email", lambda q: q.eq("email", address))
                  .unique())


@action(args={"email": v.string(), "password": v.string(), "name": v.string()},
        returns=signed_in)
async def signUp(ctx: Any, email: str, password: str, name: str) -> Doc:
    """Create a user with a password account; returns a token for the new user."""
    address = normalize_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise app_error("WeakPassword",
                        f"password: needs at least {MIN_PASSWORD_LENGTH} characters",
                        minLength=MIN_PASSWORD_LENGTH)
    if not name.strip():
        raise app_error("InvalidArgument", "name: must not be empty", field="name")
    password_hash = await asyncio.to_thread(hash_password, password)
    user_id = await ctx.run_mutation(createCredentialUser, {
        "email": address, "name": name.strip(), "passwordHash": password_hash})
    return {"token": ctx.auth.issue_token(subject=user_id), "userId": user_id}


@action(args={"email": v.string(), "password": v.string()}, returns=signed_in)
async def signIn(ctx: Any, email: str, password: str) -> Doc:
    """A token for the user with this email and password; never says which one was wrong."""
    credential = await ctx.run_query(credentialFor, {"email": email.strip().lower()})
    if credential is None:
        await asyncio.to_thread(verify_password, password, await asyncio.to_thread(decoy_hash))
        raise app_error("InvalidCredentials", "the email or the password is wrong")
    if not await asyncio.to_thread(verify_password, password, credential["passwordHash"]):
        raise app_error("InvalidCredentials", "the email or the password is wrong")
    return {"token": ctx.auth.issue_token(subject=credential["userId"]),
            "userId": credential["userId"]}


@internal_mutation(args={"email": v.string(), "name": v.string(), "passwordHash": v.string()},
                   returns=v.id("users"))
async def createCredentialUser(ctx: Any, email: str, name: str, passwordHash: str) -> str:
    """The user row and its password account, in one transaction."""
    if await user_by_email(ctx, email) is not None:
        raise app_error("EmailTaken", f"an account with email {email} already exists",
                        email=email)
    now = ctx.now()
    user_id = await ctx.db.insert("users", {
        "name": name, "email": email, "emailVerified": False, "createdAt": now,
        "updatedAt": now})
    await ctx.db.insert("accounts", {
        "accountId": user_id, "providerId": CREDENTIAL_PROVIDER, "userId": user_id,
        "password": passwordHash, "githubAppConnected": False, "createdAt": now,
        "updatedAt": now})
    return user_id


@internal_query(args={"email": v.string()})
async def credentialFor(ctx: Any, email: str) -> Doc | None:
    """`{userId, passwordHash}` for a password account, for `signIn` only."""
    user = await user_by_email(ctx, email)
    if user is None:
        return None
    account = await (ctx.db.query("accounts")
                     .with_index("by_user_provider", lambda q: q.eq("userId", user["_id"])
                                 .eq("providerId", CREDENTIAL_PROVIDER))
                     .unique())
    if account is None or "password" not in account:
        return None
    return {"userId": user["_id"], "passwordHash": account["password"]}


@query(args={})
async def currentUser(ctx: Any) -> Doc | None:
    """The signed-in user, or null when signed out."""
    return await find_user(ctx)


@mutation(args={"email": v.string(), "name": v.string(), "image": v.optional(v.string())},
          returns=v.id("users"))
async def upsertUser(ctx: Any, email: str, name: str, image: str | None = None) -> str:
    """Create or update the signed-in identity's user, keyed on email.

    A known user may only update themselves. An identity from an external issuer
    becomes a user the first time, and may take over an existing row with the
    same email only when the issuer says the email is verified.
    """
    address = normalize_email(email)
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
        return user["_id"]
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
    return existing["_id"]


@internal_mutation(args={"email": v.string(), "name": v.string(),
                         "image": v.optional(v.string()),
                         "emailVerified": v.optional(v.boolean()),
                         "externalId": v.optional(v.string())},
                   returns=v.id("users"))
async def adminUpsertUser(ctx: Any, email: str, name: str, image: str | None = None,
                          emailVerified: bool | None = None,
                          externalId: str | None = None) -> str:
    """Create or update any user by email (operators and server code only)."""
    address = normalize_email(email)
    fields = present({"name": name, "image": image, "emailVerified": emailVerified,
                      "externalId": externalId, "updatedAt": ctx.now()})
    existing = await user_by_email(ctx, address)
    if existing is not None:
        await ctx.db.patch(existing["_id"], fields)
        return existing["_id"]
    return await ctx.db.insert("users", {"emailVerified": False, **fields, "email": address,
                                         "createdAt": ctx.now()})


@mutation(args={})
async def deleteAccount(ctx: Any) -> None:
    """Delete the signed-in user and everything they own."""
    await delete_user(ctx, await require_user(ctx))


@internal_mutation(args={"userId": v.id("users")})
async def deleteUser(ctx: Any, userId: str) -> None:
    """Delete any user and everything they own (operators only)."""
    user = await ctx.db.get(userId)
    if user is None:
        raise app_error("NotFound", f"user {userId} does not exist", id=userId)
    await delete_user(ctx, user)


@mutation(args={"providerId": v.string(), "accountId": v.string(),
                "accessToken": v.optional(v.string()), "refreshToken": v.optional(v.string()),
                "idToken": v.optional(v.string()),
                "accessTokenExpiresAt": v.optional(v.number()),
                "refreshTokenExpiresAt": v.optional(v.number()),
                "scope": v.optional(v.string()),
                "githubInstallationId": v.optional(v.string()),
                "githubAppConnected": v.optional(v.boolean())},
          returns=v.id("accounts"))
async def linkAccount(ctx: Any, providerId: str, accountId: str, **details: Any) -> str:
    """Link a provider account (e.g. GitHub) to the caller, or refresh its tokens."""
    user = await require_user(ctx)
    if providerId == CREDENTIAL_PROVIDER:
        raise app_error("InvalidArgument", "providerId: password accounts come from auth:signUp",
                        field="providerId")
    fields = present({**details, "updatedAt": ctx.now()})
    existing = await (ctx.db.query("accounts")
                      .with_index("by_provider", lambda q: q.eq("providerId", providerId)
                                  .eq("accountId", accountId))
                      .unique())
    if existing is None:
        return await ctx.db.insert("accounts", {
            "githubAppConnected": False, **fields, "providerId": providerId,
            "accountId": accountId, "userId": user["_id"], "createdAt": ctx.now()})
    if existing["userId"] != user["_id"]:
        raise app_error("AccountAlreadyLinked",
                        f"{providerId} account {accountId} is linked to another user",
                        providerId=providerId, accountId=accountId)
    await ctx.db.patch(existing["_id"], fields)
    return existing["_id"]


@query(args={})
async def accounts(ctx: Any) -> list[Doc]:
    """The caller's linked accounts, without tokens or password hashes."""
    user = await require_user(ctx)
    rows = await (ctx.db.query("accounts")
                  .with_index("by_user", lambda q: q.eq("userId", user["_id"]))
                  .collect())
    return [{name: row[name] for name in PUBLIC_ACCOUNT_FIELDS if name in row} for row in rows]
