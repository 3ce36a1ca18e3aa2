"""Reading and changing the agent's documents inside one function's transaction.

The helpers the agent's functions (`store.py`, `listing.py`) share; `ctx` is a
query's or mutation's context, `Records(names)` knows the table names.
"""

from __future__ import annotations

from typing import Any

from reactor.agent.parts import merge_parts, text_of
from reactor.agent.tables import TableNames
from reactor.errors import AppError
from reactor.values import MISSING

INTERRUPTED = "interrupted: the server stopped before the run finished"

Doc = dict[str, Any]


def stale(thread: Doc, run_id: str) -> bool:
    """Whether `run_id` no longer owns the thread (finished, stopped, replaced)."""
    return thread.get("runId") != run_id


class Records:
    def __init__(self, names: TableNames) -> None:
        self.names = names

    async def thread_of(self, ctx: Any, tid: str) -> Doc:
        thread = await ctx.db.get(tid)
        if thread is None:
            raise AppError({"code": "ThreadNotFound"}, f"no agent thread {tid}")
        return thread  # type: ignore[no-any-return]

    async def renew(self, ctx: Any, thread: Doc, lease_ms: float) -> None:
        """Extend the lease once a third of it is used (not on every batch)."""
        now = ctx.now()
        if thread.get("leaseUntil", 0) - now < lease_ms * 2 / 3:
            await ctx.db.patch(thread["_id"], {"leaseUntil": now + lease_ms})

    async def step_message(self, ctx: Any, tid: str, order: float, step: float
                           ) -> Doc | None:
        return await (ctx.db.query(self.names.messages)  # type: ignore[no-any-return]
                      .with_index("by_thread", lambda r: r.eq("threadId", tid)
                                  .eq("order", order).eq("stepOrder", step)).first())

    async def apply_batch(self, ctx: Any, message: Doc, chunk: float, parts: list[Doc]
                          ) -> Doc:
        """The message's fields after batch `chunk` (none if it was applied already)."""
        if chunk <= message["chunk"] or not parts:
            return {}
        merged = merge_parts(message["parts"], parts)
        text = text_of(merged)
        await ctx.db.insert(self.names.deltas, {
            "threadId": message["threadId"], "messageId": message["_id"],
            "attempt": message["attempt"], "chunk": chunk, "start": len(message["text"]),
            "end": len(text), "parts": parts})
        return {"parts": merged, "text": text, "chunk": chunk}

    async def tool_calls_of(self, ctx: Any, tid: str, order: float,
                            step: float | None = None) -> list[Doc]:
        def bounds(r: Any) -> Any:
            r = r.eq("threadId", tid).eq("order", order)
            return r if step is None else r.eq("stepOrder", step)
        return await (ctx.db.query(self.names.tool_calls)  # type: ignore[no-any-return]
                      .with_index("by_thread_order", bounds).collect())

    async def tool_call(self, ctx: Any, tid: str, tool_call_id: str) -> Doc | None:
        return await (ctx.db.query(self.names.tool_calls)  # type: ignore[no-any-return]
                      .with_index("by_thread_call", lambda r: r.eq("threadId", tid)
                                  .eq("toolCallId", tool_call_id)).first())

    async def end_thread(self, ctx: Any, thread: Doc, state: str, error: str | None,
                         reason: str | None) -> None:
        """The run's end; a tool call it left open is failed, never left RUNNING."""
        for call in await self.tool_calls_of(ctx, thread["_id"], thread["order"]):
            if call["status"] in ("REQUESTED", "RUNNING"):
                await ctx.db.patch(call["_id"], {
                    "status": "FAILED", "endedAt": ctx.now(),
                    "result": {"error": f"the run ended ({state}) before the tool finished"}})
        await ctx.db.patch(thread["_id"], {
            "status": state, "runId": MISSING, "leaseUntil": MISSING,
            "streamingMessageId": MISSING, "stopRequested": False,
            "error": error if error is not None else MISSING,
            "endReason": reason if reason is not None else MISSING})

    async def close_streaming(self, ctx: Any, thread: Doc, state: str,
                              error: str | None) -> None:
        """End the thread's streaming message (if any) as `state`, keeping its text."""
        streaming = thread.get("streamingMessageId")
        message = None if streaming is None else await ctx.db.get(streaming)
        if message is not None and message["status"] == "streaming":
            patch: Doc = {"status": state, "finishReason": state,
                          "searchText": message["text"]}
            if error is not None:
                patch["error"] = error
                patch["parts"] = [*message["parts"], {"type": "error", "error": error}]
            await ctx.db.patch(message["_id"], patch)

    async def interrupt(self, ctx: Any, thread: Doc) -> None:
        await self.close_streaming(ctx, thread, "interrupted", INTERRUPTED)
        await self.end_thread(ctx, thread, "interrupted", INTERRUPTED, "interrupted")
