"""Chat: append and list messages in sequence order, edit a user message, stream an answer.

A streamed answer is an ordinary message that grows: `startAssistant` creates it
with `metadata.isStreaming`, each `appendParts` adds a batch of parts, `finish`
seals it. Subscribers of `messages:byTask` see every batch as a normal update.
"""

from __future__ import annotations

from typing import Final

from reactor import MISSING, MutationCtx, QueryCtx, internal_mutation, mutation, query, v
from reactor.auth.password import bounded

from ..schema import finish_reason, message_metadata, message_part, message_role
from ..schema import usage as token_usage
from ._lib.agent_runs import maybe_start_run
from ._lib.authz import Doc, require_message, require_task
from ._lib.cascade import BATCH
from ._lib.chat import delete_message, insert_message, messages_after, visible_range
from ._lib.errors import app_error
from ._lib.fields import present
from ._lib.lifecycle import on_agent_finish, on_agent_start, on_user_message
from ._lib.parts import joined_text, last_error, merge_parts

appended = v.object({"messageId": v.id("chatMessages"), "sequence": v.number()})

# Bounds checked before a call's input is used: what one call may add, and how large a
# message may grow (a document holds at most 1 MiB, and content is stored twice while
# streaming: as parts and joined).
MAX_CONTENT_CHARS: Final = 100_000
MAX_MESSAGE_CHARS: Final = 200_000
MAX_PARTS_PER_CALL: Final = 200
MAX_MODEL_CHARS: Final = 200


def check_content(content: str, llm_model: str | None) -> None:
    bounded(content, "content", MAX_CONTENT_CHARS)
    if llm_model is not None:
        bounded(llm_model, "llmModel", MAX_MODEL_CHARS)


def check_parts(parts: list[Doc]) -> None:
    """At most MAX_PARTS_PER_CALL parts, with MAX_CONTENT_CHARS of text among them."""
    if len(parts) > MAX_PARTS_PER_CALL:
        raise app_error("InvalidArgument", f"parts: at most {MAX_PARTS_PER_CALL} per call,"
                        f" got {len(parts)}", field="parts", maxLength=MAX_PARTS_PER_CALL)
    text = sum(len(part.get("text", "")) for part in parts)
    if text > MAX_CONTENT_CHARS:
        raise app_error("InvalidArgument", f"parts: at most {MAX_CONTENT_CHARS} characters of"
                        f" text per call, got {text}", field="parts",
                        maxLength=MAX_CONTENT_CHARS)


@mutation(args={"taskId": v.id("tasks"), "content": v.string(), "role": message_role,
                "llmModel": v.optional(v.string()), "metadata": v.optional(message_metadata)},
          returns=appended)
async def append(ctx: MutationCtx, taskId: str, content: str, role: str,
                 llmModel: str | None = None, metadata: Doc | None = None) -> Doc:
    """Add a message at the task's next sequence; a USER message sets the task running
    (and starts the agent when a provider is configured for its model)."""
    check_content(content, llmModel)
    if metadata is not None:
        check_parts(metadata.get("parts", []))
    _, task = await require_task(ctx, taskId)
    if role == "USER":
        await on_user_message(ctx, task)
    appended = await insert_message(ctx, task, content, role, llmModel, metadata)
    if role == "USER":
        await maybe_start_run(ctx, task, llmModel)
    return appended


@query(args={"taskId": v.id("tasks")})
async def byTask(ctx: QueryCtx, taskId: str) -> list[Doc]:
    """The task's messages in sequence order."""
    _, task = await require_task(ctx, taskId)
    return await (ctx.db.query("chatMessages")
                  .with_index("by_task_sequence", visible_range(task))
                  .collect())


@query(args={"taskId": v.id("tasks"), "paginationOpts": v.pagination_opts()})
async def page(ctx: QueryCtx, taskId: str, paginationOpts: Doc) -> Doc:
    """The task's messages newest first, a page at a time (`usePaginatedQuery`)."""
    _, task = await require_task(ctx, taskId)
    return await (ctx.db.query("chatMessages")
                  .with_index("by_task_sequence", visible_range(task))
                  .order("desc")
                  .paginate(paginationOpts))


@mutation(args={"messageId": v.id("chatMessages"), "content": v.string(),
                "llmModel": v.optional(v.string())})
async def edit(ctx: MutationCtx, messageId: str, content: str, llmModel: str | None = None) -> None:
    """Rewrite a user message and drop every later message: the conversation resumes there
    (the agent answers the edited message when a provider is configured)."""
    check_content(content, llmModel)
    _, task, message = await require_message(ctx, messageId)
    if message["role"] != "USER":
        raise app_error("NotEditable",
                        f"message {messageId} is a {message['role']} message; only USER"
                        " messages can be edited", role=message["role"])
    await ctx.db.patch(messageId, present({"content": content, "llmModel": llmModel,
                                           "editedAt": ctx.now()}))
    # The later messages go at once for readers; a long tail is deleted in batches.
    mark = min(message["sequence"], task.get("truncatedAfter", float("inf")))
    task = {**task, "truncatedAfter": mark}
    await ctx.db.patch(task["_id"], {"truncatedAfter": mark})
    if await purge_after(ctx, task):
        del task["truncatedAfter"]
    await on_user_message(ctx, task)
    await maybe_start_run(ctx, task, llmModel or message["llmModel"])


async def purge_after(ctx: MutationCtx, task: Doc) -> bool:
    """Delete one batch of the messages past the task's truncation mark; whether that was
    the last (the mark is then cleared) or the next batch is scheduled."""
    mark = task["truncatedAfter"]
    later = await messages_after(ctx, task["_id"], mark, BATCH // 2)
    for message in later:
        await delete_message(ctx, message)
    if len(later) == BATCH // 2:
        await ctx.scheduler.run_after(0, "messages:purgeAfter", {"taskId": task["_id"]})
        return False
    await ctx.db.patch(task["_id"], {"truncatedAfter": MISSING})
    return True


@internal_mutation(args={"taskId": v.id("tasks")})
async def purgeAfter(ctx: MutationCtx, taskId: str) -> None:
    """One batch of the messages an edit dropped; scheduled until none is left."""
    task = await ctx.db.get(taskId)
    if task is not None and "truncatedAfter" in task:
        await purge_after(ctx, task)


@mutation(args={"messageId": v.id("chatMessages"), "stackedTaskId": v.id("tasks")})
async def linkStackedTask(ctx: MutationCtx, messageId: str, stackedTaskId: str) -> None:
    """Link a message to the child task stacked on it (both the caller's)."""
    _, task, _ = await require_message(ctx, messageId)
    if stackedTaskId == task["_id"]:
        raise app_error("InvalidArgument", "stackedTaskId: a task cannot be stacked on itself",
                        field="stackedTaskId")
    await require_task(ctx, stackedTaskId)
    await ctx.db.patch(messageId, {"stackedTaskId": stackedTaskId})


@mutation(args={"taskId": v.id("tasks"), "llmModel": v.string()}, returns=appended)
async def startAssistant(ctx: MutationCtx, taskId: str, llmModel: str) -> Doc:
    """Create the streaming assistant message; the task is RUNNING from here."""
    check_content("", llmModel)
    _, task = await require_task(ctx, taskId)
    await on_agent_start(ctx, task)
    return await insert_message(ctx, task, "", "ASSISTANT", llmModel,
                                {"isStreaming": True, "parts": []})


async def streaming_message(ctx: QueryCtx, message_id: str) -> tuple[Doc, Doc]:
    """The task and message, which must still be streaming."""
    _, task, message = await require_message(ctx, message_id)
    if not message.get("metadata", {}).get("isStreaming"):
        raise app_error("NotStreaming", f"message {message_id} is not being streamed",
                        id=message_id)
    return task, message


@mutation(args={"messageId": v.id("chatMessages"), "parts": v.array(message_part)})
async def appendParts(ctx: MutationCtx, messageId: str, parts: list[Doc]) -> None:
    """Add a batch of parts; text deltas join the text part before them, content follows."""
    check_parts(parts)
    _, message = await streaming_message(ctx, messageId)
    metadata = message["metadata"]
    merged = merge_parts(metadata.get("parts", []), parts)
    content = joined_text(merged)
    if len(content) > MAX_MESSAGE_CHARS:
        raise app_error("MessageTooLong", f"message {messageId} would hold {len(content)}"
                        f" characters, more than {MAX_MESSAGE_CHARS}; finish it and start"
                        " another", maxLength=MAX_MESSAGE_CHARS)
    await ctx.db.patch(messageId, {"content": content,
                                   "metadata": {**metadata, "parts": merged}})


@mutation(args={"messageId": v.id("chatMessages"), "finishReason": finish_reason,
                "usage": v.optional(token_usage)})
async def finish(ctx: MutationCtx, messageId: str, finishReason: str,
                 usage: Doc | None = None) -> None:
    """Seal the answer; the run ends COMPLETED (FAILED for finishReason "error")."""
    task, message = await streaming_message(ctx, messageId)
    parts = message["metadata"].get("parts", [])
    metadata = present({**message["metadata"], "isStreaming": False,
                        "finishReason": finishReason, "usage": usage})
    await ctx.db.patch(messageId, {"content": joined_text(parts), "metadata": metadata,
                                   "finishReason": finishReason, **(usage or {})})
    error = None
    if finishReason == "error":
        error = last_error(parts) or "the agent stopped with an error"
    await on_agent_finish(ctx, task, error)
