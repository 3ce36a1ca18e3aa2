"""The example app's users and sign-in, and what holds across all its functions.

Ownership everywhere, secrets never returned, deletes that cascade without orphans.
"""

from __future__ import annotations

from typing import Any

import jwt
from example_app_support import (
    PASSWORD,
    Member,
    error_code,
    expect_error,
    get_task,
    integrity,
    mailed_code,
    new_task,
    quick_user,
    sign_up,
)

from reactor.testing import ReactorTest

DEFAULT_SETTINGS = {"memoriesEnabled": True, "autoPullRequest": False, "enableShadowWiki": True,
                    "enableIndexing": False, "selectedModels": []}


def subject_of(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["sub"]


async def test_sign_up_returns_a_token_whose_subject_is_the_new_user(t: ReactorTest) -> None:
    carol = await sign_up(t, " Carol@Example.com ", " Carol ")
    result = await t.action("auth:signIn", {"email": "carol@example.com", "password": PASSWORD})
    assert subject_of(result["token"]) == result["userId"] == carol.user_id
    user = await carol.client.query("auth:currentUser")
    assert user["_id"] == carol.user_id
    # The code proved the address.
    assert (user["email"], user["name"], user["emailVerified"]) == ("carol@example.com",
                                                                    "Carol", True)


async def test_current_user_is_null_when_signed_out(t: ReactorTest) -> None:
    assert await t.query("auth:currentUser") is None


async def test_sign_in_with_the_right_password(t: ReactorTest) -> None:
    carol = await sign_up(t, "carol@example.com")
    result = await t.action("auth:signIn", {"email": "CAROL@example.com ", "password": PASSWORD})
    assert result["userId"] == carol.user_id
    assert subject_of(result["token"]) == carol.user_id


async def test_sign_in_failures_do_not_say_which_part_was_wrong(t: ReactorTest) -> None:
    await sign_up(t, "carol@example.com")
    wrong_password = await expect_error(
        t.action("auth:signIn", {"email": "carol@example.com", "password": PASSWORD + "!"}),
        "InvalidCredentials")
    unknown_email = await expect_error(
        t.action("auth:signIn", {"email": "nobody@example.com", "password": PASSWORD}),
        "InvalidCredentials")
    assert wrong_password == unknown_email == {"code": "InvalidCredentials"}


async def test_sign_up_refuses_a_weak_password_and_a_non_address(t: ReactorTest) -> None:
    base = {"password": PASSWORD, "name": "Other"}
    data = await expect_error(t.action("auth:signUp", {
        **base, "email": "dan@example.com", "password": "short"}), "WeakPassword")
    assert data["minLength"] == 8
    await expect_error(t.action("auth:signUp", {**base, "email": "not an address"}),
                       "InvalidEmail")
    assert await t.query("auth:mailbox", {"email": "dan@example.com"}) == []


async def test_the_password_hash_is_stored_but_no_public_function_returns_it(
        t: ReactorTest) -> None:
    started = await t.action("auth:signUp", {"email": "carol@example.com",
                                             "password": PASSWORD, "name": "Carol"})
    signed_up = await t.action("auth:confirmSignUp", {
        "email": "carol@example.com", "code": await mailed_code(t, "carol@example.com")})
    carol = t.with_identity(subject=signed_up["userId"])
    stored = (await t.mutation("auth:passwordStore", {
        "op": "lookup", "data": {"email": "carol@example.com"}}))["hash"]
    assert stored.startswith("scrypt$131072$8$1$")
    secrets = [stored, *stored.split("$")[-2:], PASSWORD]
    session = await carol.action("sessions:create", {"userAgent": "pytest"})
    task_id = (await carol.mutation("tasks:create", {
        "title": "t", "repoFullName": "acme/widgets", "repoUrl": "u", "baseBranch": "main",
        "message": "hello"}))["taskId"]
    results: dict[str, Any] = {
        "auth:signUp": started,
        "auth:confirmSignUp": signed_up,
        "auth:signIn": await t.action("auth:signIn", {"email": "carol@example.com",
                                                      "password": PASSWORD}),
        "auth:currentUser": await carol.query("auth:currentUser"),
        "auth:upsertUser": await carol.mutation("auth:upsertUser", {
            "email": "carol@example.com", "name": "Carol"}),
        "auth:accounts": await carol.query("auth:accounts"),
        "settings:get": await carol.query("settings:get"),
        "settings:update": await carol.mutation("settings:update", {"enableIndexing": True}),
        "sessions:create": session,
        "sessions:list": await carol.query("sessions:list"),
        "sessions:validate": await t.query("sessions:validate", {"token": session["token"]}),
        "tasks:get": await carol.query("tasks:get", {"taskId": task_id}),
        "tasks:listByUser": await carol.query("tasks:listByUser"),
        "messages:byTask": await carol.query("messages:byTask", {"taskId": task_id}),
    }
    assert results["auth:accounts"] == []
    for path, result in results.items():
        for secret in secrets:
            assert secret not in repr(result), f"{path} returned a password secret"


async def test_upsert_user_updates_only_the_signed_in_user(t: ReactorTest, alice: Member,
                                                           bob: Member) -> None:
    user_id = await alice.client.mutation("auth:upsertUser", {
        "email": "Alice@Example.com", "name": "Alice L.", "image": "https://img.example/a.png"})
    assert user_id == alice.user_id
    user = await alice.client.query("auth:currentUser")
    assert (user["name"], user["image"]) == ("Alice L.", "https://img.example/a.png")
    await expect_error(alice.client.mutation("auth:upsertUser", {
        "email": bob.email, "name": "Mallory"}), "Forbidden")
    await expect_error(t.mutation("auth:upsertUser", {"email": "x@example.com", "name": "X"}),
                       "Unauthenticated")
    assert (await bob.client.query("auth:currentUser"))["name"] == "Bob"


async def test_admin_upsert_is_keyed_on_email(t: ReactorTest) -> None:
    first = await t.mutation("auth:adminUpsertUser", {"email": "dan@example.com", "name": "Dan"})
    second = await t.mutation("auth:adminUpsertUser", {
        "email": "DAN@example.com", "name": "Daniel", "emailVerified": True})
    assert first == second
    user = await t.with_identity(subject=first).query("auth:currentUser")
    assert (user["name"], user["emailVerified"]) == ("Daniel", True)


async def test_an_external_identity_becomes_a_user_through_upsert(t: ReactorTest,
                                                                  alice: Member) -> None:
    erin = t.with_identity(subject="gh-42", issuer="https://id.example.com",
                           email="erin@example.com", email_verified=True)
    assert await erin.query("auth:currentUser") is None
    user_id = await erin.mutation("auth:upsertUser", {"email": "erin@example.com",
                                                      "name": "Erin"})
    user = await erin.query("auth:currentUser")
    assert user["_id"] == user_id
    assert user["externalId"] == "https://id.example.com|gh-42"
    assert await erin.query("tasks:listByUser") == []
    unverified = t.with_identity(subject="gh-43", issuer="https://id.example.com",
                                 email=alice.email, email_verified=False)
    await expect_error(unverified.mutation("auth:upsertUser", {
        "email": alice.email, "name": "Not Alice"}), "Forbidden")
    await expect_error(unverified.mutation("auth:upsertUser", {
        "email": "other@example.com", "name": "Other"}), "Forbidden")


async def test_sessions_are_created_validated_listed_and_revoked(t: ReactorTest, alice: Member,
                                                                 bob: Member) -> None:
    created = await alice.client.action("sessions:create", {"userAgent": "pytest"})
    assert await t.query("sessions:validate", {"token": created["token"]}) == {
        "sessionId": created["sessionId"], "userId": alice.user_id,
        "expiresAt": created["expiresAt"]}
    assert await t.query("sessions:validate", {"token": created["token"] + "x"}) is None
    listed = await alice.client.query("sessions:list")
    assert [row["_id"] for row in listed] == [created["sessionId"]]
    assert "token" not in listed[0] and listed[0]["userAgent"] == "pytest"
    assert created["expiresAt"] - listed[0]["createdAt"] == 7 * 24 * 3600 * 1000
    assert await bob.client.query("sessions:list") == []
    assert await t.mutation("sessions:expire", {"sessionId": created["sessionId"]}) is False
    await expect_error(bob.client.mutation("sessions:revoke", {
        "sessionId": created["sessionId"]}), "Forbidden")
    await alice.client.mutation("sessions:revoke", {"sessionId": created["sessionId"]})
    assert await t.query("sessions:validate", {"token": created["token"]}) is None
    await expect_error(t.action("sessions:create", {}), "Unauthenticated")


async def test_linked_accounts_are_listed_without_secrets(t: ReactorTest, alice: Member,
                                                          bob: Member) -> None:
    github = {"providerId": "github", "accountId": "1234", "scope": "repo", "idToken": "t"}
    link = "auth:linkVerified"  # what auth:linkAccount calls once the proof is checked
    linked = await alice.client.mutation(link, {
        **github, "accessToken": "gho_first", "refreshToken": "ghr_secret"})
    relinked = await alice.client.mutation(link, {
        **github, "accessToken": "gho_second", "githubAppConnected": True})
    assert relinked == linked
    rows = await alice.client.query("auth:accounts")
    assert [(row["providerId"], row["accountId"], row["scope"], row["githubAppConnected"])
            for row in rows] == [("github", "1234", "repo", True)]
    assert not any(secret in repr(rows) for secret in ("gho_", "ghr_secret"))
    data = await expect_error(bob.client.mutation(link, github), "AccountAlreadyLinked")
    assert alice.user_id not in repr(data)


async def test_settings_have_the_original_defaults_and_update_per_user(
        t: ReactorTest, alice: Member, bob: Member) -> None:
    assert await alice.client.query("settings:get") == DEFAULT_SETTINGS
    updated = await alice.client.mutation("settings:update", {
        "autoPullRequest": True, "selectedModels": ["model-a", "model-b"], "rules": "Use tabs"})
    assert updated == {**DEFAULT_SETTINGS, "autoPullRequest": True,
                       "selectedModels": ["model-a", "model-b"], "rules": "Use tabs"}
    assert await alice.client.query("settings:get") == updated
    cleared = await alice.client.mutation("settings:update", {"rules": ""})
    assert "rules" not in cleared and cleared["autoPullRequest"] is True
    assert await bob.client.query("settings:get") == DEFAULT_SETTINGS


async def test_another_users_task_is_forbidden_everywhere(t: ReactorTest, alice: Member,
                                                          bob: Member) -> None:
    task_id = await new_task(alice, message="hello")
    message_id = (await alice.client.query("messages:byTask", {"taskId": task_id}))[0]["_id"]
    bobs_task = await new_task(bob)
    by_task = {"taskId": task_id}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("query", "tasks:get", by_task),
        ("mutation", "tasks:update", {**by_task, "title": "mine now"}),
        ("mutation", "tasks:setStatus", {**by_task, "status": "RUNNING"}),
        ("mutation", "tasks:stop", by_task),
        ("mutation", "tasks:archive", by_task),
        ("mutation", "tasks:remove", by_task),
        ("mutation", "tasks:advanceInit", {**by_task, "mode": "local"}),
        ("mutation", "tasks:failInit", {**by_task, "error": "x"}),
        ("mutation", "messages:append", {**by_task, "content": "hi", "role": "USER"}),
        ("query", "messages:byTask", by_task),
        ("mutation", "messages:edit", {"messageId": message_id, "content": "changed"}),
        ("mutation", "messages:linkStackedTask", {"messageId": message_id,
                                                  "stackedTaskId": bobs_task}),
        ("mutation", "messages:startAssistant", {**by_task, "llmModel": "m"}),
        ("mutation", "todos:write", {**by_task, "merge": False, "todos": []}),
        ("query", "todos:byTask", by_task),
        ("mutation", "memories:add", {**by_task, "content": "c", "category": "GENERAL"}),
        ("mutation", "taskSessions:start", by_task),
        ("query", "taskSessions:byTask", by_task),
        ("mutation", "pullRequests:record", {
            "messageId": message_id, "title": "t", "description": "d", "filesChanged": 1,
            "linesAdded": 1, "linesRemoved": 0, "commitSha": "abc"}),
        ("query", "pullRequests:forMessage", {"messageId": message_id}),
    ]
    for kind, path, args in calls:
        try:
            await getattr(bob.client, kind)(path, args)
        except Exception as error:
            refusal = error
        assert error_code(refusal) == "Forbidden", path
        # The refusal names what Bob asked for, and nothing of Alice's he did not name.
        asked = args.get("messageId", task_id)
        assert refusal.data == {"code": "Forbidden", "id": asked}, path  # type: ignore[attr-defined]
        for secret in {alice.user_id, task_id, message_id} - {asked}:
            assert secret not in str(refusal), path
    task = await get_task(alice, task_id)
    assert (task["title"], task["status"]) == ("Fix the flaky test", "INITIALIZING")
    messages = await alice.client.query("messages:byTask", by_task)
    assert [message["content"] for message in messages] == ["hello"]


async def test_signed_out_callers_and_foreign_user_ids_are_refused(t: ReactorTest, alice: Member,
                                                                   bob: Member) -> None:
    await expect_error(t.mutation("tasks:create", {
        "title": "t", "repoFullName": "a/b", "repoUrl": "u", "baseBranch": "main"}),
        "Unauthenticated")
    await expect_error(new_task(alice, userId=bob.user_id), "Forbidden")
    await expect_error(alice.client.query("tasks:listByUser", {"userId": bob.user_id}),
                       "Forbidden")
    assert await alice.client.query("tasks:listByUser", {"userId": alice.user_id}) == []


# Rows `populate_task` adds per task.
PER_TASK = {"tasks": 1, "chatMessages": 2, "pullRequestSnapshots": 1, "todos": 2, "memories": 1,
            "taskSessions": 1}


async def populate_task(member: Member) -> str:
    """A task with a row in every table that hangs off a task."""
    client = member.client
    task_id = await new_task(member, message="please fix it")
    answer = await client.mutation("messages:append", {
        "taskId": task_id, "content": "done", "role": "ASSISTANT", "llmModel": "m"})
    await client.mutation("pullRequests:record", {
        "messageId": answer["messageId"], "title": "Fix", "description": "d",
        "filesChanged": 2, "linesAdded": 10, "linesRemoved": 3, "commitSha": "abc123"})
    await client.mutation("todos:write", {"taskId": task_id, "merge": False, "todos": [
        {"id": "1", "content": "a", "status": "pending"},
        {"id": "2", "content": "b", "status": "completed"}]})
    await client.mutation("memories:add", {"taskId": task_id, "content": "uses pytest",
                                           "category": "TESTING"})
    await client.mutation("taskSessions:start", {"taskId": task_id, "podName": "pod-1"})
    return task_id


async def populate_user(member: Member) -> None:
    """Rows that hang off the user directly."""
    await member.client.action("sessions:create", {})
    await member.client.mutation("auth:linkVerified", {"providerId": "github",
                                                       "accountId": member.user_id,
                                                       "idToken": "proof"})
    await member.client.mutation("settings:update", {"enableIndexing": True})


async def test_removing_a_task_removes_what_it_owns_and_nothing_else(t: ReactorTest,
                                                                    alice: Member) -> None:
    await populate_task(alice)
    task_id = await populate_task(alice)
    full = await integrity(t)
    await alice.client.mutation("tasks:remove", {"taskId": task_id})
    after = await integrity(t)
    assert after["orphans"] == []
    assert after["counts"] == {table: count - PER_TASK.get(table, 0)
                               for table, count in full["counts"].items()}
    assert await get_task(alice, task_id) is None


async def test_deleting_a_user_removes_everything_they_own(t: ReactorTest, alice: Member,
                                                           bob: Member) -> None:
    await populate_user(bob)
    await populate_task(bob)
    bobs_share = await integrity(t)
    await populate_user(alice)
    await populate_task(alice)
    await populate_task(alice)
    assert (await integrity(t))["counts"]["tasks"] == 3
    await alice.client.mutation("auth:deleteAccount")
    after = await integrity(t)
    assert after["orphans"] == []
    assert after["counts"] == {**bobs_share["counts"], "users": 1}
    assert await alice.client.query("auth:currentUser") is None
    assert len(await bob.client.query("tasks:listByUser")) == 1


async def test_operators_delete_users_through_the_internal_function(t: ReactorTest) -> None:
    carol = await quick_user(t, "carol@example.com")
    await populate_task(carol)
    await t.mutation("auth:deleteUser", {"userId": carol.user_id})
    report = await integrity(t)
    assert report["orphans"] == [] and report["counts"]["tasks"] == 0
    await expect_error(t.mutation("auth:deleteUser", {"userId": carol.user_id}), "NotFound")
