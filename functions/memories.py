"""Repository memories: facts the agent keeps per user and repository, grouped by category."""

from __future__ import annotations

from typing import Any, Final

from reactor import MutationCtx, QueryCtx, mutation, query, v

from ..schema import MEMORY_CATEGORIES, memory_category
from ._lib.authz import Doc, ensure_owner, require_task, require_user
from ._lib.bounds import MAX_NOTE_CHARS, bound_all
from ._lib.errors import app_error

CATEGORY_RANK: Final = {category: rank for rank, category in enumerate(MEMORY_CATEGORIES)}
PROMPT_HEADING: Final = "## REPOSITORY MEMORIES"


def in_display_order(rows: list[Doc]) -> list[Doc]:
    """By category (in the enum's order), newest first within a category."""
    return sorted(rows, key=lambda row: (CATEGORY_RANK[row["category"]], -row["_creationTime"]))


async def user_repo_memories(ctx: QueryCtx, user_id: str, repo_full_name: str,
                             category: str | None = None) -> list[Doc]:
    def key_range(q: Any) -> Any:
        q = q.eq("userId", user_id).eq("repoFullName", repo_full_name)
        return q if category is None else q.eq("category", category)

    rows = await ctx.db.query("memories").with_index("by_user_repo", key_range).collect()
    return in_display_order(rows)


@mutation(args={"taskId": v.id("tasks"), "content": v.string(), "category": memory_category},
          returns=v.id("memories"))
async def add(ctx: MutationCtx, taskId: str, content: str, category: str) -> str:
    """Remember a fact; the repository and the owner are the task's."""
    bound_all(MAX_NOTE_CHARS, content=content)
    _, task = await require_task(ctx, taskId)
    return await insert_memory(ctx, task, content, category)


async def insert_memory(ctx: MutationCtx, task: Doc, content: str, category: str) -> str:
    """A memory of the task's repository for the task's owner (`add`, the agent's tool)."""
    if not content.strip():
        raise app_error("InvalidArgument", "content: must not be empty", field="content")
    now = ctx.now()
    return await ctx.db.insert("memories", {
        "content": content.strip(), "category": category, "repoFullName": task["repoFullName"],
        "repoUrl": task["repoUrl"], "userId": task["userId"], "taskId": task["_id"],
        "createdAt": now, "updatedAt": now})


@query(args={"repoFullName": v.string()})
async def listGrouped(ctx: QueryCtx, repoFullName: str) -> Any:
    """`[{category, memories}]` for the caller and repository, categories in enum order."""
    user = await require_user(ctx)
    groups: Any = []
    for row in await user_repo_memories(ctx, user["_id"], repoFullName):
        if not groups or groups[-1]["category"] != row["category"]:
            groups.append({"category": row["category"], "memories": []})
        groups[-1]["memories"].append(row)
    return groups


@mutation(args={"memoryId": v.id("memories")})
async def remove(ctx: MutationCtx, memoryId: str) -> None:
    """Forget a memory; only its owner may."""
    user = await require_user(ctx)
    memory = await ctx.db.get(memoryId)
    if memory is None:
        raise app_error("NotFound", f"memory {memoryId} does not exist", id=memoryId)
    ensure_owner(user, memory, "memory")
    await ctx.db.delete(memoryId)


@query(args={"repoFullName": v.string()})
async def forPrompt(ctx: QueryCtx, repoFullName: str) -> str:
    """The caller's memories of a repository as prompt text ("" when there are none)."""
    user = await require_user(ctx)
    rows = await user_repo_memories(ctx, user["_id"], repoFullName)
    if not rows:
        return ""
    lines = [f"- [{row['category']}] {row['content']}" for row in rows]
    return PROMPT_HEADING + "\n" + "\n".join(lines)


@query(args={"repoFullName": v.string(), "category": v.optional(memory_category)},
       name="list")
async def list_memories(ctx: QueryCtx, repoFullName: str,
                        category: str | None = None) -> list[Doc]:
    """The caller's memories of a repository, by category then newest first."""
    user = await require_user(ctx)
    return await user_repo_memories(ctx, user["_id"], repoFullName, category)
