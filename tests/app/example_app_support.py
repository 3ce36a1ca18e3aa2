"""Helpers for the example app's tests: users, tasks, and matching error codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reactor.testing import ReactorClient, ReactorTest

APP_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
TASK_ARGS = {"title": "Fix the flaky test", "repoFullName": "acme/widgets",
             "repoUrl": "https://github.com/acme/widgets", "baseBranch": "main"}


@dataclass
class Member:
    """A signed-in user of the app: their client and users _id."""

    client: ReactorClient
    user_id: str
    email: str


def error_code(error: BaseException) -> str:
    """The app's `code` for AppErrors, else Reactor's own error code."""
    data = getattr(error, "data", None)
    if isinstance(data, dict) and "code" in data:
        return str(data["code"])
    return str(getattr(error, "code", type(error).__name__))


async def expect_error(call: Any, code: str) -> Any:
    """Await `call`, which must fail with `code`; returns the error's data."""
    try:
        await call
    except Exception as error:
        assert error_code(error) == code, f"expected {code}, got {error_code(error)}: {error}"
        return getattr(error, "data", None)
    pytest.fail(f"expected the call to fail with {code}, it succeeded")


async def mailed_code(t: ReactorTest, email: str) -> str:
    """The newest sign-up code mailed to `email` (read from the app's outbox)."""
    mails = await t.query("auth:mailbox", {"email": email})
    codes = [mail["code"] for mail in mails if mail["kind"] == "signUpCode"]
    assert codes, f"no sign-up code was mailed to {email}: {mails}"
    return codes[0]


async def sign_up(t: ReactorTest, email: str, name: str = "Someone") -> Member:
    """A user made through the real password sign-up: the code from the mail, confirmed."""
    answer = await t.action("auth:signUp", {"email": email, "password": PASSWORD,
                                            "name": name})
    assert answer == {"status": "codeSent"}
    address = email.strip().lower()
    result = await t.action("auth:confirmSignUp", {"email": address,
                                                   "code": await mailed_code(t, address)})
    return Member(t.with_identity(subject=result["userId"]), result["userId"], address)


async def quick_user(t: ReactorTest, email: str, name: str = "Someone") -> Member:
    """A user made by the internal admin upsert: no password hashing, so fast."""
    user_id = await t.mutation("auth:adminUpsertUser", {"email": email, "name": name})
    return Member(t.with_identity(subject=user_id), user_id, email)


async def new_task(member: Member, **overrides: Any) -> str:
    created = await member.client.mutation("tasks:create", {**TASK_ARGS, **overrides})
    return created["taskId"]


async def get_task(member: Member, task_id: str) -> dict[str, Any]:
    return await member.client.query("tasks:get", {"taskId": task_id})


async def integrity(t: ReactorTest) -> dict[str, Any]:
    return await t.query("integrity:report")
