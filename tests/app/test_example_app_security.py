"""The example app under attack: each test is the attack, and what now happens.

Oversized and pathological input, guessing who has an account, brute force,
cheap or loop-blocking hashes, deleting an account with a great deal of data,
linking someone else's provider account.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from example_app_support import (
    APP_DIR,
    PASSWORD,
    Member,
    error_code,
    expect_error,
    integrity,
    mailed_code,
    new_task,
    quick_user,
    sign_up,
)

from reactor.auth.password import ScryptParams, hash_password
from reactor.runtime.auth import AuthConfig, hs256_provider
from reactor.runtime.scheduler import ManualClock
from reactor.runtime.system.scheduled_functions import SCHEDULED_FUNCTIONS
from reactor.runtime.system.transact import transact
from reactor.testing import ReactorClient, ReactorTest
from reactor.transactions import QueryBuilder, Transaction

# An address that makes a backtracking email pattern take quadratic time.
PATHOLOGICAL_EMAIL = "a@" + "." * 200_000 + " b"


async def quickly(call: Any, code: str, limit_s: float = 0.5) -> Any:
    """`call` fails with `code` within `limit_s` (it was refused before any real work)."""
    started = time.perf_counter()
    data = await expect_error(call, code)
    assert time.perf_counter() - started < limit_s
    return data


async def test_oversized_sign_up_and_sign_in_input_is_refused_before_parsing(
        t: ReactorTest, alice: Member) -> None:
    base = {"email": "x@example.com", "password": PASSWORD, "name": "X"}
    data = await quickly(t.action("auth:signUp", {**base, "email": PATHOLOGICAL_EMAIL}),
                         "InvalidArgument")
    assert (data["field"], data["maxLength"]) == ("email", 254)
    # A password of 10 MB is not hashed (that alone would take seconds).
    data = await quickly(t.action("auth:signUp", {**base, "password": "p" * 10_000_000}),
                         "InvalidArgument")
    assert (data["field"], data["maxLength"]) == ("password", 256)
    await quickly(t.action("auth:signUp", {**base, "name": "n" * 1_000_000}), "InvalidArgument")
    await quickly(t.action("auth:signIn", {"email": PATHOLOGICAL_EMAIL, "password": "x"}),
                  "InvalidArgument")
    await quickly(t.action("auth:signIn", {"email": "x@example.com",
                                           "password": "p" * 10_000_000}), "InvalidArgument")
    await quickly(alice.client.mutation("auth:upsertUser", {"email": PATHOLOGICAL_EMAIL,
                                                            "name": "A"}), "InvalidArgument")
    # At the bound, the worst case for the address pattern is still instant.
    worst = "a@" + "." * 248 + " b"
    await quickly(t.action("auth:signUp", {**base, "email": worst}), "InvalidEmail")
    assert await t.query("auth:mailbox", {"email": "x@example.com"}) == []


async def test_oversized_chat_input_is_refused(t: ReactorTest, alice: Member) -> None:
    task_id = await new_task(alice)
    append = {"taskId": task_id, "role": "USER"}
    data = await quickly(alice.client.mutation("messages:append", {
        **append, "content": "c" * 1_000_000}), "InvalidArgument")
    assert (data["field"], data["maxLength"]) == ("content", 100_000)
    started = await alice.client.mutation("messages:startAssistant", {"taskId": task_id,
                                                                       "llmModel": "m"})
    parts_call = {"messageId": started["messageId"]}
    data = await quickly(alice.client.mutation("messages:appendParts", {
        **parts_call, "parts": [{"type": "text", "text": "x"}] * 201}), "InvalidArgument")
    assert (data["field"], data["maxLength"]) == ("parts", 200)
    await quickly(alice.client.mutation("messages:appendParts", {
        **parts_call, "parts": [{"type": "text", "text": "x" * 1000}] * 101}),
        "InvalidArgument")
    # Within the bounds per call, a message still cannot grow without end.
    for _ in range(2):
        await alice.client.mutation("messages:appendParts", {
            **parts_call, "parts": [{"type": "text", "text": "y" * 1000}] * 100})
    data = await expect_error(alice.client.mutation("messages:appendParts", {
        **parts_call, "parts": [{"type": "text", "text": "z"}]}), "MessageTooLong")
    assert data["maxLength"] == 200_000
    messages = await alice.client.query("messages:byTask", {"taskId": task_id})
    assert len(messages[0]["content"]) == 200_000


async def test_oversized_task_todo_and_memory_input_is_refused(t: ReactorTest,
                                                              alice: Member) -> None:
    task = {"title": "t", "repoFullName": "acme/widgets", "repoUrl": "u", "baseBranch": "main"}
    for field, size in (("title", 501), ("repoFullName", 201), ("repoUrl", 2_001),
                        ("baseBranch", 256), ("message", 100_001)):
        data = await quickly(alice.client.mutation("tasks:create", {**task, field: "x" * size}),
                             "InvalidArgument")
        assert data["field"] == field
    task_id = await new_task(alice)
    todo = {"id": "1", "content": "c", "status": "pending"}
    data = await quickly(alice.client.mutation("todos:write", {
        "taskId": task_id, "merge": False, "todos": [todo] * 201}), "InvalidArgument")
    assert (data["field"], data["maxLength"]) == ("todos", 200)
    data = await quickly(alice.client.mutation("todos:write", {
        "taskId": task_id, "merge": False, "todos": [{**todo, "content": "c" * 10_001}]}),
        "InvalidArgument")
    assert data["field"] == "todos[0].content"
    await quickly(alice.client.mutation("memories:add", {
        "taskId": task_id, "content": "m" * 10_001, "category": "GENERAL"}), "InvalidArgument")
    assert (await integrity(t))["counts"]["tasks"] == 1


async def test_sign_up_answers_the_same_for_a_taken_email(t: ReactorTest) -> None:
    carol = await sign_up(t, "carol@example.com")
    external = await quick_user(t, "erin@example.com")  # a user without a password
    for taken in (carol.email, external.email):
        answer = await t.action("auth:signUp", {"email": taken.upper(), "password": "x" * 12,
                                                "name": "Mallory"})
        assert answer == {"status": "codeSent"}
        # The owner hears of it; nobody gets a code for their address.
        mails = await t.query("auth:mailbox", {"email": taken})
        assert mails[0]["kind"] == "alreadyRegistered" and "code" not in mails[0]
        await expect_error(t.action("auth:confirmSignUp", {"email": taken, "code": "00000000"}),
                           "InvalidCode")
    # Mallory's password does not open Carol's account.
    await expect_error(t.action("auth:signIn", {"email": carol.email, "password": "x" * 12}),
                       "InvalidCredentials")


async def test_signing_out_ends_that_token_at_once(t: ReactorTest) -> None:
    carol = await sign_up(t, "carol@example.com")
    credentials = {"email": carol.email, "password": PASSWORD}
    laptop, phone = [ReactorClient(t.engine, await t.engine.token_verifier().verify(
        (await t.action("auth:signIn", credentials))["token"])) for _ in range(2)]
    assert (await laptop.query("auth:currentUser"))["_id"] == carol.user_id
    await laptop.mutation("auth:signOut")
    # The laptop's token is still unexpired and correctly signed, and worth nothing now.
    assert await laptop.query("auth:currentUser") is None
    await expect_error(laptop.mutation("tasks:create", {
        "title": "t", "repoFullName": "a/b", "repoUrl": "u", "baseBranch": "main"}),
        "Unauthenticated")
    assert (await phone.query("auth:currentUser"))["_id"] == carol.user_id


async def test_a_sign_up_code_cannot_be_guessed(t: ReactorTest) -> None:
    await t.action("auth:signUp", {"email": "dan@example.com", "password": PASSWORD,
                                   "name": "Dan"})
    code = await mailed_code(t, "dan@example.com")
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(5):
        await expect_error(t.action("auth:confirmSignUp", {"email": "dan@example.com",
                                                           "code": wrong}), "InvalidCode")
    # Five wrong tries void the sign-up: the right code no longer works either.
    await expect_error(t.action("auth:confirmSignUp", {"email": "dan@example.com",
                                                       "code": code}), "InvalidCode")
    assert await t.query("auth:currentUser") is None


async def test_an_expired_code_fails_and_the_pending_sign_up_is_pruned() -> None:
    clock = ManualClock(time.time() * 1000)
    async with ReactorTest(APP_DIR, clock=clock) as t:
        await t.action("auth:signUp", {"email": "fay@example.com", "password": PASSWORD,
                                       "name": "Fay"})
        code = await mailed_code(t, "fay@example.com")
        assert await count_rows(t, "authPendingSignUps") == 1
        clock.advance(14 * 60)
        assert await t.mutation("auth:pruneExpired") == 0  # not expired yet
        clock.advance(2 * 60)
        await expect_error(t.action("auth:confirmSignUp", {"email": "fay@example.com",
                                                           "code": code}), "InvalidCode")
        await t.action("auth:signUp", {"email": "gus@example.com", "password": PASSWORD,
                                       "name": "Gus"})
        clock.advance(24 * 3600 + 60)
        # Gus's sign-up expired unconfirmed; both mails are a day old.
        assert await t.mutation("auth:pruneExpired") == 3
        assert await count_rows(t, "authPendingSignUps") == 0
        assert await count_rows(t, "outbox") == 0


async def test_sign_ups_for_one_email_are_rate_limited(t: ReactorTest) -> None:
    sign_up_args = {"email": "flood@example.com", "password": PASSWORD, "name": "F"}
    for _ in range(3):
        assert await t.action("auth:signUp", sign_up_args) == {"status": "codeSent"}
    started = time.perf_counter()
    data = await expect_error(t.action("auth:signUp", sign_up_args), "RateLimited")
    assert time.perf_counter() - started < 0.3  # refused before hashing
    assert data["name"] == "signUp:email" and data["retryAfter"] > 60
    assert len(await t.query("auth:mailbox", {"email": "flood@example.com"})) == 3


async def test_password_hashing_follows_owasp_and_leaves_the_loop_free(t: ReactorTest) -> None:
    carol = await sign_up(t, "carol@example.com")
    stored = (await t.mutation("auth:passwordStore", {
        "op": "lookup", "data": {"email": carol.email}}))["hash"]
    assert stored.startswith("scrypt$131072$8$1$")
    # While a sign-in hashes (about half a second), the event loop keeps ticking.
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    await t.action("auth:signIn", {"email": carol.email, "password": PASSWORD})
    elapsed = time.perf_counter() - started
    ticking.cancel()
    assert elapsed > 0.1  # the hash did run
    assert max(gaps) < 0.1


async def insert_rows(t: ReactorTest, table: str, rows: list[dict[str, Any]]) -> None:
    """Bulk rows straight into the database (test setup), 2,000 per transaction."""
    for start in range(0, len(rows), 2000):
        chunk = rows[start:start + 2000]

        async def body(txn: Transaction, chunk: list[dict[str, Any]] = chunk) -> None:
            for row in chunk:
                await txn.insert(table, row)

        await transact(t.engine.database, body)


async def count_rows(t: ReactorTest, table: str) -> int:
    async def count(txn: Transaction) -> int:
        return len(await QueryBuilder(txn, table).collect())

    return await transact(t.engine.database, count)


async def legacy_credential(t: ReactorTest, member: Member, password: str) -> str:
    """The app's old credential account, with an N=2^14 hash as it used to make them."""
    old_hash = await asyncio.to_thread(hash_password, password, ScryptParams(2**14, 8, 1))
    await insert_rows(t, "accounts", [{
        "accountId": member.user_id, "providerId": "credential", "userId": member.user_id,
        "password": old_hash, "githubAppConnected": False, "createdAt": 0.0, "updatedAt": 0.0}])
    return old_hash


async def test_an_old_hash_is_upgraded_at_the_next_sign_in(t: ReactorTest) -> None:
    dora = await quick_user(t, "dora@example.com")
    old_hash = await legacy_credential(t, dora, PASSWORD)
    assert await t.mutation("auth:migrateLegacyPasswords") == 1
    assert await t.mutation("auth:migrateLegacyPasswords") == 0
    lookup = {"op": "lookup", "data": {"email": dora.email}}
    assert (await t.mutation("auth:passwordStore", lookup))["hash"] == old_hash
    await expect_error(t.action("auth:signIn", {"email": dora.email, "password": "wrong one"}),
                       "InvalidCredentials")
    assert (await t.mutation("auth:passwordStore", lookup))["hash"] == old_hash
    signed_in = await t.action("auth:signIn", {"email": dora.email, "password": PASSWORD})
    assert signed_in["userId"] == dora.user_id
    upgraded = (await t.mutation("auth:passwordStore", lookup))["hash"]
    assert upgraded.startswith("scrypt$131072$8$1$") and upgraded != old_hash
    again = await t.action("auth:signIn", {"email": dora.email, "password": PASSWORD})
    assert again["userId"] == dora.user_id


async def run_jobs_until_idle(t: ReactorTest, name: str) -> int:
    """Run scheduled jobs until none is due; how many `name` jobs succeeded."""
    while await t.run_scheduled():
        pass

    async def count(txn: Transaction) -> int:
        jobs = await QueryBuilder(txn, SCHEDULED_FUNCTIONS).collect()
        return sum(job["name"] == name and job["state"]["kind"] == "success" for job in jobs)

    return await transact(t.engine.database, count)


async def big_task(t: ReactorTest, member: Member, messages: int) -> str:
    task_id = await new_task(member)
    await insert_rows(t, "chatMessages", [{
        "taskId": task_id, "content": f"message {i}", "role": "USER", "llmModel": "m",
        "sequence": float(i + 1), "createdAt": 0.0} for i in range(messages)])
    return task_id


@pytest.mark.slow
async def test_deleting_an_account_with_10000_messages_and_5000_sessions(
        t: ReactorTest, alice: Member, bob: Member) -> None:
    bobs_task = await new_task(bob, message="bob's")
    await big_task(t, alice, 10_000)
    secret = "session-secret-of-alice"
    await insert_rows(t, "sessions", [{
        "token": hashlib.sha256(f"{secret}{i}".encode()).hexdigest(), "expiresAt": 1e15,
        "userId": alice.user_id, "createdAt": 0.0, "updatedAt": 0.0} for i in range(5_000)])
    assert await t.query("sessions:validate", {"token": f"{secret}7"}) is not None

    started = time.perf_counter()
    await alice.client.mutation("auth:deleteAccount")
    deleted_at_once = time.perf_counter() - started
    # Gone at once for everyone, though most of the rows are still there.
    assert await alice.client.query("auth:currentUser") is None
    await expect_error(alice.client.query("tasks:listByUser"), "Unauthenticated")
    assert await t.query("sessions:validate", {"token": f"{secret}7"}) is None
    assert await count_rows(t, "chatMessages") > 9_000

    batches = await run_jobs_until_idle(t, "auth:purgeUser")
    report = await integrity(t)
    assert report["orphans"] == []
    assert report["counts"]["chatMessages"] == 1 and report["counts"]["sessions"] == 0
    assert report["counts"]["users"] == 1 and report["counts"]["tasks"] == 1
    assert await bob.client.query("tasks:get", {"taskId": bobs_task}) is not None
    assert batches >= 20  # no one mutation deleted everything
    assert deleted_at_once < 2.0


async def test_removing_a_task_with_3000_messages(t: ReactorTest, alice: Member) -> None:
    task_id = await big_task(t, alice, 3_000)
    kept = await new_task(alice, message="kept")
    await alice.client.mutation("tasks:remove", {"taskId": task_id})
    assert await alice.client.query("tasks:get", {"taskId": task_id}) is None
    await expect_error(alice.client.query("messages:byTask", {"taskId": task_id}), "NotFound")
    assert await run_jobs_until_idle(t, "tasks:purge") >= 10
    report = await integrity(t)
    assert report["orphans"] == [] and report["counts"]["chatMessages"] == 1
    assert len(await alice.client.query("messages:byTask", {"taskId": kept})) == 1


async def test_editing_the_first_message_of_a_long_chat(t: ReactorTest, alice: Member) -> None:
    task_id = await big_task(t, alice, 1_000)
    messages = await alice.client.query("messages:byTask", {"taskId": task_id})
    first, later = messages[0], messages[500]
    await alice.client.mutation("pullRequests:record", {
        "messageId": later["_id"], "title": "t", "description": "d", "filesChanged": 1,
        "linesAdded": 1, "linesRemoved": 0, "commitSha": "abc"})
    await alice.client.mutation("messages:edit", {"messageId": first["_id"],
                                                  "content": "once more"})
    # The 999 later messages are gone for readers at once, though still being deleted.
    shown = await alice.client.query("messages:byTask", {"taskId": task_id})
    assert [(m["sequence"], m["content"]) for m in shown] == [(1, "once more")]
    await expect_error(alice.client.query("pullRequests:forMessage",
                                          {"messageId": later["_id"]}), "NotFound")
    append = {"taskId": task_id, "content": "next", "role": "USER"}
    await expect_error(alice.client.mutation("messages:append", append), "EditInProgress")
    assert await run_jobs_until_idle(t, "messages:purgeAfter") >= 5
    report = await integrity(t)
    assert report["orphans"] == []
    assert (report["counts"]["chatMessages"], report["counts"]["pullRequestSnapshots"]) == (1, 0)
    assert (await alice.client.mutation("messages:append", append))["sequence"] == 2


GITHUB_ISSUER = "https://github-oidc.example"
GITHUB_SECRET = "a shared secret only the GitHub issuer and this test know"


@pytest.fixture
async def linking(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ReactorTest]:
    """The app trusting a GitHub token issuer, configured as the `github` provider."""
    monkeypatch.setenv("TEST_GITHUB_SECRET", GITHUB_SECRET)
    config = AuthConfig.build([hs256_provider(GITHUB_ISSUER, None,
                                              secret_env="TEST_GITHUB_SECRET")], APP_DIR)
    async with ReactorTest(APP_DIR, auth_config=config) as engine:
        await engine.environment.set("LINK_ISSUER_GITHUB", GITHUB_ISSUER)
        yield engine


def github_token(subject: str, *, secret: str = GITHUB_SECRET, issuer: str = GITHUB_ISSUER,
                 expires_in: float = 600) -> str:
    now = int(time.time())
    return jwt.encode({"iss": issuer, "sub": subject, "iat": now, "exp": now + int(expires_in)},
                      secret, algorithm="HS256")


async def test_link_account_needs_proof_from_the_provider(linking: ReactorTest) -> None:
    t = linking
    alice = await quick_user(t, "alice@example.com")
    bob = await quick_user(t, "bob@example.com")
    link = {"providerId": "github", "scope": "repo"}
    # The old attack: name someone's account id. There is no such argument any more.
    await expect_error(bob.client.action("auth:linkAccount", {
        **link, "accountId": "4242", "idToken": github_token("bob-gh")}), "ArgsValidation")
    refusals = {
        "forged": github_token("4242", secret="a guessed secret, long enough for HS256"),
        "expired": github_token("4242", expires_in=-3600),
        "another issuer": t.engine.issuer.issue_token("4242"),
        "not a token": "4242",
    }
    for attack, token in refusals.items():
        try:
            await bob.client.action("auth:linkAccount", {**link, "idToken": token})
        except Exception as error:
            assert error_code(error) == "InvalidProof", attack
        else:
            pytest.fail(f"a {attack} token linked an account")
    account_id = await alice.client.action("auth:linkAccount", {
        **link, "idToken": github_token("4242")})
    rows = await alice.client.query("auth:accounts")
    assert [(row["_id"], row["providerId"], row["accountId"]) for row in rows] == [
        (account_id, "github", "4242")]
    assert await bob.client.query("auth:accounts") == []
    # Even a valid proof of the same GitHub account does not move it to Bob.
    data = await expect_error(bob.client.action("auth:linkAccount", {
        **link, "idToken": github_token("4242")}), "AccountAlreadyLinked")
    assert alice.user_id not in repr(data)
    await expect_error(bob.client.action("auth:linkAccount", {
        "providerId": "gitlab", "idToken": github_token("1")}), "InvalidArgument")
