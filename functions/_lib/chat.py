"""Chat messages: the per-task sequence, inserting and deleting messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from reactor import MutationCtx, QueryCtx

from .authz import Doc
from .errors import app_error

# The llmModel of a message when neither the caller nor the task names one.
DEFAULT_LLM_MODEL: Final = "unspecified"


async def next_sequence(ctx: QueryCtx, task_id: str) -> float:
    """One past the task's last sequence (1 for the first message).

    The read of the last entry is in the transaction's read set, so two concurrent
    appends conflict and one is re-run: sequences stay unique and gap-free.
    """
    last = await (ctx.db.query("chatMessages")
                  .with_index("by_task_sequence", lambda q: q.eq("taskId", task_id))
                  .order("desc")
                  .first())
    return 1.0 if last is None else last["sequence"] + 1


async def insert_message(ctx: MutationCtx, task: Doc, content: str, role: str,
                         llm_model: str | None, metadata: Doc | None = None) -> Doc:
    """Append a message at the next sequence; returns `{messageId, sequence}`."""
    check_not_truncating(task)
    sequence = await next_sequence(ctx, task["_id"])
    document: Doc = {
        "taskId": task["_id"],
        "content": content,
        "role": role,
        "llmModel": llm_model or task.get("mainModel") or DEFAULT_LLM_MODEL,
        "sequence": sequence,
        "createdAt": ctx.now(),
        "userId": task["userId"],
    }
    if metadata is not None:
        document["metadata"] = metadata
    message_id = await ctx.db.insert("chatMessages", document)
    return {"messageId": message_id, "sequence": sequence}


def visible_range(task: Doc) -> Callable[[Any], Any]:
    """The index range of the task's messages that readers see: all of them, or while an
    edit's deletion of later messages runs, those up to the edited one."""
    task_id, mark = task["_id"], task.get("truncatedAfter")
    if mark is None:
        return lambda q: q.eq("taskId", task_id)
    return lambda q: q.eq("taskId", task_id).lte("sequence", mark)


def check_not_truncating(task: Doc) -> None:
    """`EditInProgress` while later messages of an edit are still being deleted."""
    if "truncatedAfter" in task:
        raise app_error("EditInProgress", "the messages after an edited one are still being"
                        " deleted; try again in a moment", retryable=True)


async def messages_after(ctx: QueryCtx, task_id: str, sequence: float,
                         limit: int) -> list[Doc]:
    """Up to `limit` of the task's messages with a sequence above `sequence`."""
    return await (ctx.db.query("chatMessages")
                  .with_index("by_task_sequence",
                              lambda q: q.eq("taskId", task_id).gt("sequence", sequence))
                  .take(limit))


async def delete_message(ctx: MutationCtx, message: Doc) -> int:
    """Delete a message and its pull-request snapshot; how many rows that was."""
    snapshot = await (ctx.db.query("pullRequestSnapshots")
                      .with_index("by_message", lambda q: q.eq("messageId", message["_id"]))
                      .unique())
    if snapshot is not None:
        await ctx.db.delete(snapshot["_id"])
    await ctx.db.delete(message["_id"])
    return 1 if snapshot is None else 2
