"""Password sign-up and sign-in for apps, ready to export from a function module.

`PasswordAuth` makes five functions: `sign_up` and `confirm_sign_up` (an
account exists only once its owner proved the email address with a code sent
to it), `sign_in`, `sign_out`, and `store`, the internal mutation the three
actions write through. Each sign-in opens a session that its token names, so
signing out (or deleting the user) ends the token before it expires. Tokens
come from the built-in issuer, with the app's users `_id` as subject. The
library keeps credentials, pending sign-ups and sessions in tables of its own
(`password_tables()`, merged into the app's schema); the app keeps its users
table and says how to find and create a user (`UserStore`) and how mail goes
out (`deliver`).

What it defends against:
- enumeration: `sign_up` answers the same whether or not the email is taken;
  the owner of a taken address gets a notice by mail instead of a code;
  `sign_in` fails the same way for an unknown email and a wrong password, and
  takes as long (a decoy hash);
- brute force: token buckets per email and per client address (`ctx.rate_limit`),
  and at most `MAX_CODE_ATTEMPTS` wrong codes per pending sign-up;
- oversized input: every string is bounded before it is parsed or hashed;
- cheap hashes: scrypt at OWASP's parameters in a worker thread; a hash made
  with older parameters is replaced at the next successful sign-in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final, Literal, Protocol

from reactor.errors import AppError
from reactor.runtime.actions import ActionCtx
from reactor.runtime.auth.password_data import (
    CREDENTIALS,
    PENDING,
    SESSION_CLAIM,
    SESSIONS,
    credential_for,
    pending_for,
    session_for,
)
from reactor.runtime.auth.password_hash import (
    OWASP_SCRYPT,
    ScryptParams,
    hash_password_async,
    verify_password_async,
)
from reactor.runtime.client import client_address
from reactor.runtime.context import MutationCtx
from reactor.runtime.functions import (
    FunctionDefinition,
    action,
    internal_mutation,
    mutation,
)
from reactor.values import v

MAX_EMAIL_CHARS: Final = 254  # RFC 5321's limit on a forward path
MAX_NAME_CHARS: Final = 200
MAX_CODE_CHARS: Final = 32
MAX_CODE_ATTEMPTS: Final = 5
CODE_DIGITS: Final = 8
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")



class UserStore(Protocol):
    """How the library reaches the app's users (called inside its mutations)."""

    async def find(self, ctx: MutationCtx, email: str) -> str | None:
        """The `_id` of the user with this (normalized) email, or None."""

    async def create(self, ctx: MutationCtx, email: str, name: str) -> str:
        """Insert the user whose email was just proved; their `_id`."""


@dataclass(frozen=True, slots=True)
class AuthMail:
    """A message for `email`: `kind` "signUpCode" carries the `code` to confirm a
    sign-up; "alreadyRegistered" tells the owner someone tried to sign up again."""

    kind: Literal["signUpCode", "alreadyRegistered"]
    email: str
    code: str | None = None


Deliver = Callable[[MutationCtx, AuthMail], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Limit:
    """`rate` attempts per `period`, for one email or one client address."""

    rate: float
    period: timedelta


@dataclass(frozen=True, slots=True)
class Limits:
    """Defaults: a person signs up a few times at most, and mistypes a password a
    few times; a script trying thousands is stopped early."""

    sign_up_per_email: Limit = Limit(3, timedelta(hours=1))
    sign_up_per_client: Limit = Limit(30, timedelta(hours=1))
    sign_in_per_email: Limit = Limit(10, timedelta(minutes=15))
    sign_in_per_client: Limit = Limit(30, timedelta(minutes=15))
    confirm_per_client: Limit = Limit(30, timedelta(minutes=15))


def auth_error(code: str, message: str, **details: Any) -> AppError:
    return AppError({"code": code, **details}, message)


def bounded(value: str, field_name: str, limit: int) -> str:
    """`value`, refused with `InvalidArgument` when longer than `limit` characters:
    checked before anything parses, normalizes or hashes it."""
    if len(value) > limit:
        raise auth_error("InvalidArgument", f"{field_name}: at most {limit} characters,"
                         f" got {len(value)}", field=field_name, maxLength=limit)
    return value


def normalize_email(email: str) -> str:
    """Trimmed and lower-case; `InvalidEmail` for what is not an address."""
    address = bounded(email, "email", MAX_EMAIL_CHARS).strip().lower()
    if not _EMAIL.fullmatch(address):
        raise auth_error("InvalidEmail", "email: expected an address like name@example.com")
    return address


def _code_hash(email: str, code: str) -> str:
    return hashlib.sha256(f"{email}\n{code}".encode()).hexdigest()


CODE_SENT: Final = {"status": "codeSent"}


@dataclass(eq=False)
class PasswordAuth:
    """Password accounts for an app; export its functions from a module in `functions/`::

        password = PasswordAuth(users=Users(), deliver=send_mail)
        signUp = password.sign_up
        confirmSignUp = password.confirm_sign_up
        signIn = password.sign_in
        signOut = password.sign_out
        passwordStore = password.store

    and read the caller with `session_user(ctx)`, which also refuses a signed-out token.
    """

    users: UserStore
    deliver: Deliver
    users_table: str = "users"
    min_length: int = 8
    max_length: int = 256
    code_ttl: timedelta = timedelta(minutes=15)
    token_ttl: timedelta = timedelta(days=30)
    scrypt: ScryptParams = OWASP_SCRYPT
    limits: Limits = field(default_factory=Limits)
    sign_up: FunctionDefinition = field(init=False, repr=False)
    confirm_sign_up: FunctionDefinition = field(init=False, repr=False)
    sign_in: FunctionDefinition = field(init=False, repr=False)
    sign_out: FunctionDefinition = field(init=False, repr=False)
    store: FunctionDefinition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        signed_in = v.object({"token": v.string(), "userId": v.id(self.users_table)})
        self.sign_up = action(args={"email": v.string(), "password": v.string(),
                                    "name": v.string()},
                              returns=v.object({"status": v.literal("codeSent")}))(
            self._sign_up)
        self.confirm_sign_up = action(args={"email": v.string(), "code": v.string()},
                                      returns=signed_in)(self._confirm_sign_up)
        self.sign_in = action(args={"email": v.string(), "password": v.string()},
                              returns=signed_in)(self._sign_in)
        self.store = internal_mutation(args={"op": v.string(), "data": v.any()})(self._store)
        self.sign_out = mutation(args={})(self._sign_out)

    # The actions -----------------------------------------------------------

    async def _limit(self, ctx: ActionCtx, name: str, key: str, limit: Limit) -> None:
        await ctx.rate_limit(name, key=key, rate=limit.rate, period=limit.period)

    async def _limit_client(self, ctx: ActionCtx, name: str, limit: Limit) -> None:
        address = client_address()
        if address is not None:
            await self._limit(ctx, name, address, limit)

    def _password(self, password: str) -> str:
        bounded(password, "password", self.max_length)
        if len(password) < self.min_length:
            raise auth_error("WeakPassword", f"password: needs at least {self.min_length}"
                             " characters", minLength=self.min_length)
        return password

    async def _call_store(self, ctx: ActionCtx, op: str, data: dict[str, Any]) -> Any:
        if not self.store.path:
            raise auth_error("Misconfigured", "PasswordAuth.store is not exported from a"
                             " module in functions/ (add `passwordStore = password.store`)")
        return await ctx.run_mutation(self.store, {"op": op, "data": data})

    async def _sign_up(self, ctx: ActionCtx, email: str, password: str,
                       name: str) -> dict[str, str]:
        """Start a sign-up: the same answer whether or not the email is taken."""
        address = normalize_email(email)
        self._password(password)
        name = bounded(name, "name", MAX_NAME_CHARS).strip()
        if not name:
            raise auth_error("InvalidArgument", "name: must not be empty", field="name")
        await self._limit_client(ctx, "signUp:client", self.limits.sign_up_per_client)
        await self._limit(ctx, "signUp:email", address, self.limits.sign_up_per_email)
        password_hash = await hash_password_async(password, self.scrypt)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        await self._call_store(ctx, "begin", {"email": address, "name": name,
                                              "hash": password_hash, "code": code})
        return dict(CODE_SENT)

    async def _confirm_sign_up(self, ctx: ActionCtx, email: str, code: str) -> dict[str, str]:
        """Create the account with the code mailed by `sign_up`; a token for it."""
        address = normalize_email(email)
        bounded(code, "code", MAX_CODE_CHARS)
        await self._limit_client(ctx, "confirmSignUp:client", self.limits.confirm_per_client)
        user_id = await self._call_store(ctx, "confirm", {"email": address,
                                                          "code": code.strip()})
        if user_id is None:
            raise auth_error("InvalidCode", "the code is wrong or has expired; sign up again"
                             " for a new one")
        return await self._signed_in(ctx, user_id)

    async def _sign_in(self, ctx: ActionCtx, email: str, password: str) -> dict[str, str]:
        """A token for this email and password; never says which of the two was wrong."""
        bounded(email, "email", MAX_EMAIL_CHARS)
        bounded(password, "password", self.max_length)
        await self._limit_client(ctx, "signIn:client", self.limits.sign_in_per_client)
        address = email.strip().lower()
        await self._limit(ctx, "signIn:email", address, self.limits.sign_in_per_email)
        credential = await self._call_store(ctx, "lookup", {"email": address})
        stored = None if credential is None else credential["hash"]
        verdict = await verify_password_async(password, stored, self.scrypt)
        if credential is None or not verdict.ok:
            raise auth_error("InvalidCredentials", "the email or the password is wrong")
        await ctx.reset_rate_limit("signIn:email", key=address)
        if verdict.needs_upgrade:
            upgraded = await hash_password_async(password, self.scrypt)
            await self._call_store(ctx, "upgrade", {"email": address, "old": stored,
                                                    "new": upgraded})
        return await self._signed_in(ctx, credential["userId"])

    async def _signed_in(self, ctx: ActionCtx, user_id: str) -> dict[str, str]:
        """A new session and a token naming it, lasting `token_ttl` both."""
        session_id = await self._call_store(ctx, "openSession", {"userId": user_id})
        token = ctx.auth.issue_token(subject=user_id, claims={SESSION_CLAIM: session_id},
                                     expires_in=self.token_ttl.total_seconds())
        return {"token": token, "userId": user_id}

    async def _sign_out(self, ctx: MutationCtx) -> None:
        """End the caller's session: its token stops working now, not when it expires."""
        identity = await ctx.auth.get_user_identity()
        if identity is None or SESSION_CLAIM not in identity:
            return
        session = await session_for(ctx, identity[SESSION_CLAIM])
        if session is not None and session["userId"] == identity["subject"]:
            await ctx.db.delete(session["_id"])

    # The internal mutation ---------------------------------------------------

    async def _store(self, ctx: MutationCtx, op: str, data: Any) -> Any:
        """The writes of the actions above, each in one transaction. Failures are
        answers (None), not errors, so that what they record (a wrong code) commits."""
        match op:
            case "lookup":
                row = await credential_for(ctx, data["email"])
                return None if row is None else {"userId": row["userId"], "hash": row["hash"]}
            case "begin":
                await self._begin(ctx, data)
                return None
            case "confirm":
                return await self._confirm(ctx, data["email"], data["code"])
            case "openSession":
                now = ctx.now()
                return await ctx.db.insert(SESSIONS, {
                    "userId": data["userId"], "createdAt": now,
                    "expiresAt": now + self.token_ttl.total_seconds() * 1000})
            case "upgrade":
                row = await credential_for(ctx, data["email"])
                if row is not None and row["hash"] == data["old"]:
                    await ctx.db.patch(row["_id"], {"hash": data["new"],
                                                    "updatedAt": ctx.now()})
                return None
        raise auth_error("InvalidArgument", f"unknown operation {op!r}", field="op")

    async def _begin(self, ctx: MutationCtx, data: dict[str, Any]) -> None:
        email = data["email"]
        if await self._taken(ctx, email):
            await self.deliver(ctx, AuthMail("alreadyRegistered", email))
            return
        pending = await pending_for(ctx, email)
        fields = {"name": data["name"], "hash": data["hash"],
                  "codeHash": _code_hash(email, data["code"]), "attempts": 0,
                  "expiresAt": ctx.now() + self.code_ttl.total_seconds() * 1000}
        if pending is None:
            await ctx.db.insert(PENDING, {"email": email, **fields})
        else:
            await ctx.db.patch(pending["_id"], fields)
        await self.deliver(ctx, AuthMail("signUpCode", email, data["code"]))

    async def _confirm(self, ctx: MutationCtx, email: str, code: str) -> str | None:
        pending = await pending_for(ctx, email)
        if pending is None:
            return None
        expired = pending["expiresAt"] <= ctx.now()
        if expired or not secrets.compare_digest(pending["codeHash"], _code_hash(email, code)):
            attempts = pending["attempts"] + 1
            if expired or attempts >= MAX_CODE_ATTEMPTS:
                await ctx.db.delete(pending["_id"])
            else:
                await ctx.db.patch(pending["_id"], {"attempts": attempts})
            return None
        await ctx.db.delete(pending["_id"])
        if await self._taken(ctx, email):
            return None
        user_id = await self.users.create(ctx, email, pending["name"])
        now = ctx.now()
        await ctx.db.insert(CREDENTIALS, {"email": email, "userId": user_id,
                                          "hash": pending["hash"], "createdAt": now,
                                          "updatedAt": now})
        return user_id

    async def _taken(self, ctx: MutationCtx, email: str) -> bool:
        return (await credential_for(ctx, email) is not None
                or await self.users.find(ctx, email) is not None)
