"""Who is calling: the signed-in user, and the ownership checks every task-scoped function makes.

A token from the built-in issuer (`auth:signUp`, `auth:signIn`) has the users `_id`
as its subject. A user who signed in through an external issuer is found by
`externalId`, the identity's `tokenIdentifier`, once `auth:upsertUser` recorded it.
"""

from __future__ import annotations

from typing import Any, Final

from reactor import QueryCtx
from reactor.auth.password import session_user

from .errors import app_error

Doc = dict[str, Any]
# The `iss` of tokens from `ctx.auth.issue_token`: only its subjects are `users` ids.
BUILTIN_ISSUER: Final = "reactor"


async def find_user(ctx: QueryCtx) -> Doc | None:
    """The caller's users row, or None when signed out or not yet a user of this app.

    Another issuer's subject is never read as a users id, even when it looks like one:
    its users are found by `externalId` only.
    """
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        return None
    if identity["issuer"] == BUILTIN_ISSUER:
        subject = await session_user(ctx)  # None once the token's session has ended
        if subject is None:
            return None
        user_id = ctx.db.normalize_id("users", subject)
        if user_id is not None:
            return await ctx.db.get(user_id)
    token_identifier = identity["tokenIdentifier"]
    return await (ctx.db.query("users")
                  .with_index("by_external_id", lambda q: q.eq("externalId", token_identifier))
                  .unique())


async def require_user(ctx: QueryCtx) -> Doc:
    """The caller's users row; `Unauthenticated` when there is none."""
    user = await find_user(ctx)
    if user is None:
        raise app_error("Unauthenticated",
                        "this function needs a signed-in user: sign in with auth:signIn first")
    return user


def ensure_self(user: Doc, user_id: str | None, where: str) -> None:
    """A `userId` argument, where the original API had one, may only name the caller."""
    if user_id is not None and user_id != user["_id"]:
        raise app_error("Forbidden",
                        f"{where}: userId {user_id} is not the signed-in user {user['_id']}",
                        userId=user_id)


def ensure_owner(user: Doc, doc: Doc, what: str) -> None:
    """`Forbidden` unless `doc.userId` is the caller."""
    if doc["userId"] != user["_id"]:
        raise app_error("Forbidden", f"{what} {doc['_id']} belongs to another user",
                        id=doc["_id"])


async def require_task(ctx: QueryCtx, task_id: str) -> tuple[Doc, Doc]:
    """The caller and their task; `NotFound` or `Forbidden` otherwise."""
    user = await require_user(ctx)
    task = await ctx.db.get(task_id)
    if task is None:
        raise app_error("NotFound", f"task {task_id} does not exist", id=task_id)
    ensure_owner(user, task, "task")
    return user, task


async def require_message(ctx: QueryCtx, message_id: str) -> tuple[Doc, Doc, Doc]:
    """The caller, the task and the message, checked through the message's task.

    A refusal names only the message asked for, never the task it belongs to: the
    id of another user's task is not the caller's to learn.
    """
    user = await require_user(ctx)
    message = await ctx.db.get(message_id)
    task = None if message is None else await ctx.db.get(message["taskId"])
    # No task: deleted, its messages being purged. Past the task's truncation mark:
    # dropped by an edit, being deleted.
    if message is None or task is None or message["sequence"] > task.get("truncatedAfter",
                                                                         float("inf")):
        raise app_error("NotFound", f"message {message_id} does not exist", id=message_id)
    if task["userId"] != user["_id"]:
        raise app_error("Forbidden", f"message {message_id} belongs to another user",
                        id=message_id)
    return user, task, message


async def require_repository(ctx: QueryCtx, namespace: str) -> Doc:
    """The caller, who may see a code index namespace: `owner/repo` if one of their tasks
    is on that repository, `task:<id>` if that task is theirs. Otherwise `Forbidden`,
    worded the same whether or not the namespace exists."""
    user = await require_user(ctx)
    if namespace.startswith("task:"):
        task_id = ctx.db.normalize_id("tasks", namespace.removeprefix("task:"))
        task = None if task_id is None else await ctx.db.get(task_id)
        allowed = task is not None and task["userId"] == user["_id"]
    else:
        task = await (ctx.db.query("tasks")
                      .with_index("by_user_repo", lambda q: q.eq("userId", user["_id"])
                                  .eq("repoFullName", namespace)).first())
        allowed = task is not None
    if not allowed:
        raise app_error("Forbidden", f"repository {namespace!r}: none of your tasks is on it",
                        repoFullName=namespace)
    return user
