"""The agent's queries and mutations, made for one app by `agent_functions()`:

    # functions/agent.py
    from reactor.agent import agent_functions
    globals().update(agent_functions())

registers `agent:listThreads`, `agent:getThread`, `agent:listMessages`,
`agent:listToolCalls`, `agent:listDeltas`, `agent:createThread`,
`agent:saveUserMessage`, `agent:stop` and the run's own internal functions
(`beginRun`, `beginStep`, `appendBatch`, `finishStep`, `toolStarted`,
`toolFinished`, `heartbeat`, `finishRun`, `runState`, `contextMessages`,
`watchdog`, and `recoverRuns`, which the engine runs at startup). Each call
makes fresh function objects, so several apps (or tests) in one process never
share a registration.

Every run write names its `runId`: once the run is stopped, finished,
superseded or marked interrupted, its writes are refused (`stale`), so a
zombie run cannot touch a thread again. Every write is idempotent: messages by
(thread, order, stepOrder), delta batches by (message, attempt, chunk), tool
calls by (thread, toolCallId).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactor.agent.records import Records, stale
from reactor.agent.tables import MESSAGE_STATUSES, THREAD_STATUSES, TableNames
from reactor.errors import AppError
from reactor.runtime.functions import (
    FunctionDefinition,
    internal_mutation,
    internal_query,
    mutation,
    query,
)
from reactor.values import MISSING, v

# The watchdog looks this long past a lease's end before calling the run interrupted.
WATCHDOG_GRACE_MS = 500.0
# Threads marked interrupted per startup transaction (more: the next one is scheduled).
RECOVERY_BATCH = 100

Doc = dict[str, Any]


def agent_functions(prefix: str = "agent", *, public: bool = False
                    ) -> dict[str, FunctionDefinition]:
    """Fresh definitions of the agent's functions, keyed by their names.

    With `public=True` the listing queries, `createThread`, `saveUserMessage` and
    `stop` are callable by clients (they check no identity: wrap them for that);
    otherwise everything is internal, for the app's own functions to use.
    """
    names = TableNames(prefix)
    q: Callable[..., Callable[[Any], FunctionDefinition]] = (
        query if public else internal_query)
    m: Callable[..., Callable[[Any], FunctionDefinition]] = (
        mutation if public else internal_mutation)
    thread_id = v.id(names.threads)
    message_id = v.id(names.messages)
    status = v.union(*(v.literal(s) for s in MESSAGE_STATUSES))
    thread_status = v.union(*(v.literal(s) for s in THREAD_STATUSES))
    fns: dict[str, FunctionDefinition] = {}
    rec = Records(names)

    # -- listing -------------------------------------------------------------

    @q(args={"userKey": v.optional(v.string()), "paginationOpts": v.pagination_opts()})
    async def listThreads(ctx: Any, paginationOpts: Doc, userKey: str | None = None) -> Any:
        """The threads of `userKey` (all threads without it), newest first."""
        threads = ctx.db.query(names.threads)
        if userKey is not None:
            threads = threads.with_index("by_user", lambda r: r.eq("userKey", userKey))
        return await threads.order("desc").paginate(paginationOpts)

    @q(args={"threadId": thread_id})
    async def getThread(ctx: Any, threadId: str) -> Any:
        return await ctx.db.get(threadId)

    @q(args={"threadId": thread_id, "paginationOpts": v.pagination_opts(),
             "order": v.optional(v.union(v.literal("asc"), v.literal("desc")))})
    async def listMessages(ctx: Any, threadId: str, paginationOpts: Doc,
                           order: str = "asc") -> Any:
        return await (ctx.db.query(names.messages)
                      .with_index("by_thread", lambda r: r.eq("threadId", threadId))
                      .order(order).paginate(paginationOpts))

    @q(args={"threadId": thread_id, "order": v.optional(v.number())})
    async def listToolCalls(ctx: Any, threadId: str, order: float | None = None) -> Any:
        if order is not None:
            return await rec.tool_calls_of(ctx, threadId, order)
        return await (ctx.db.query(names.tool_calls)
                      .with_index("by_thread_order", lambda r: r.eq("threadId", threadId))
                      .take(1000))

    @q(args={"messageId": message_id, "afterChunk": v.optional(v.number()),
             "limit": v.optional(v.number())})
    async def listDeltas(ctx: Any, messageId: str, afterChunk: float = 0,
                         limit: float = 500) -> Any:
        """A streaming message's batches after `afterChunk` (of its current attempt)."""
        message = await ctx.db.get(messageId)
        if message is None:
            return []
        return await (ctx.db.query(names.deltas)
                      .with_index("by_message", lambda r: r.eq("messageId", messageId)
                                  .eq("attempt", message["attempt"]).gt("chunk", afterChunk))
                      .take(int(limit)))

    # -- the app's writes ----------------------------------------------------

    @m(args={"title": v.optional(v.string()), "userKey": v.optional(v.string())})
    async def createThread(ctx: Any, title: str | None = None,
                           userKey: str | None = None) -> Any:
        doc: Doc = {"status": "idle", "stopRequested": False, "order": 0}
        if title is not None:
            doc["title"] = title
        if userKey is not None:
            doc["userKey"] = userKey
        return await ctx.db.insert(names.threads, doc)

    @m(args={"threadId": thread_id, "text": v.string()})
    async def saveUserMessage(ctx: Any, threadId: str, text: str) -> Any:
        """The prompt of the thread's next order: `{messageId, order}`."""
        thread = await rec.thread_of(ctx, threadId)
        order = thread["order"] + 1
        message = await ctx.db.insert(names.messages, {
            "threadId": threadId, "order": order, "stepOrder": 0, "role": "user",
            "status": "success", "text": text, "parts": [{"type": "text", "text": text}],
            "attempt": 1, "chunk": 0, "searchText": text})
        await ctx.db.patch(threadId, {"order": order})
        return {"messageId": message, "order": order}

    @m(args={"threadId": thread_id, "reason": v.optional(v.string())})
    async def stop(ctx: Any, threadId: str, reason: str | None = None) -> Any:
        """Ask the running run to stop (it ends within one batch interval); whether one ran."""
        thread = await rec.thread_of(ctx, threadId)
        if thread["status"] != "running" or thread["stopRequested"]:
            return False
        await ctx.db.patch(threadId, {"stopRequested": True,
                                      "endReason": reason or "stopped by the user"})
        return True

    # -- the run's writes (internal) ------------------------------------------

    @internal_mutation(args={"threadId": thread_id, "order": v.number(),
                             "leaseMs": v.number(), "runId": v.string(),
                             "takeover": v.boolean()})
    async def beginRun(ctx: Any, threadId: str, order: float, leaseMs: float, runId: str,
                       takeover: bool) -> Any:
        thread = await rec.thread_of(ctx, threadId)
        now = ctx.now()
        if (thread["status"] == "running" and not takeover
                and thread.get("leaseUntil", 0) > now and thread.get("runId") != runId):
            raise AppError({"code": "ThreadBusy"}, f"agent thread {threadId} is running"
                           " another run; stop it first (or pass takeover=True)")
        lease = now + leaseMs
        await ctx.db.patch(threadId, {
            "status": "running", "stopRequested": False, "runId": runId,
            "leaseUntil": lease, "order": max(order, thread["order"]),
            "error": MISSING, "endReason": MISSING, "streamingMessageId": MISSING})
        await ctx.scheduler.run_at(lease + WATCHDOG_GRACE_MS, watchdog,
                                   {"threadId": threadId, "runId": runId})
        return True

    @internal_query(args={"threadId": thread_id, "order": v.number(), "limit": v.number(),
                          "searchLimit": v.optional(v.number())})
    async def contextMessages(ctx: Any, threadId: str, order: float, limit: float,
                              searchLimit: float = 0) -> Any:
        """`{found, history, current, toolCalls}`: up to `searchLimit` older messages
        matching the prompt (text search), up to `limit` messages before `order`, the
        messages of `order`, and its tool calls."""
        before = await (ctx.db.query(names.messages)
                        .with_index("by_thread", lambda r: r.eq("threadId", threadId)
                                    .lt("order", order))
                        .order("desc").take(int(limit)))
        current = await (ctx.db.query(names.messages)
                         .with_index("by_thread", lambda r: r.eq("threadId", threadId)
                                     .eq("order", order)).collect())
        prompt = next((m["text"] for m in current if m["stepOrder"] == 0), "")
        found: list[Doc] = []
        if searchLimit > 0 and prompt.strip():
            oldest = min((m["order"] for m in before), default=order)
            hits = await (ctx.db.query(names.messages)
                          .with_search_index("search_text", lambda r: r
                                             .search("searchText", prompt)
                                             .eq("threadId", threadId))
                          .take(int(searchLimit + limit + len(current))))
            found = sorted([m for m in hits if m["order"] < oldest][:int(searchLimit)],
                           key=lambda m: (m["order"], m["stepOrder"]))
        return {"found": found, "history": list(reversed(before)), "current": current,
                "toolCalls": await rec.tool_calls_of(ctx, threadId, order)}

    @internal_mutation(args={"threadId": thread_id, "runId": v.string(), "order": v.number(),
                             "stepOrder": v.number(), "model": v.string(),
                             "leaseMs": v.number()})
    async def beginStep(ctx: Any, threadId: str, runId: str, order: float, stepOrder: float,
                        model: str, leaseMs: float) -> Any:
        thread = await rec.thread_of(ctx, threadId)
        if stale(thread, runId):
            return {"stale": True, "stop": True}
        found = await rec.step_message(ctx, threadId, order, stepOrder)
        fresh = {"status": "streaming", "text": "", "parts": [], "chunk": 0, "model": model,
                 "error": MISSING, "finishReason": MISSING, "usage": MISSING}
        if found is None:
            message = await ctx.db.insert(names.messages, {
                "threadId": threadId, "order": order, "stepOrder": stepOrder,
                "role": "assistant", "attempt": 1,
                **{k: val for k, val in fresh.items() if val is not MISSING}})
            attempt = 1
        else:
            message, attempt = found["_id"], found["attempt"] + 1
            await ctx.db.patch(message, {**fresh, "attempt": attempt})
            for call in await rec.tool_calls_of(ctx, threadId, order, stepOrder):
                await ctx.db.delete(call["_id"])
        await ctx.db.patch(threadId, {"streamingMessageId": message})
        await rec.renew(ctx, thread, leaseMs)
        return {"messageId": message, "attempt": attempt, "stop": thread["stopRequested"],
                "stale": False}

    @internal_mutation(args={"threadId": thread_id, "runId": v.string(),
                             "messageId": message_id, "attempt": v.number(),
                             "chunk": v.number(), "parts": v.array(v.any()),
                             "leaseMs": v.number()})
    async def appendBatch(ctx: Any, threadId: str, runId: str, messageId: str,
                          attempt: float, chunk: float, parts: list[Doc],
                          leaseMs: float) -> Any:
        """One batch of deltas; a batch applied before (a retry) changes nothing."""
        thread = await rec.thread_of(ctx, threadId)
        message = await ctx.db.get(messageId)
        if (stale(thread, runId) or message is None or message["attempt"] != attempt
                or message["status"] != "streaming"):
            return {"stale": True, "stop": True, "applied": False}
        changes = await rec.apply_batch(ctx, message, chunk, parts)
        if changes:
            await ctx.db.patch(messageId, changes)
        await rec.renew(ctx, thread, leaseMs)
        return {"stale": False, "stop": thread["stopRequested"], "applied": bool(changes)}

    @internal_mutation(args={
        "threadId": thread_id, "runId": v.string(), "messageId": message_id,
        "attempt": v.number(), "chunk": v.number(), "parts": v.array(v.any()),
        "status": status, "finishReason": v.string(), "error": v.optional(v.string()),
        "usage": v.optional(v.any()), "toolCalls": v.array(v.any()),
        "threadStatus": v.optional(thread_status), "endReason": v.optional(v.string())})
    async def finishStep(ctx: Any, threadId: str, runId: str, messageId: str, attempt: float,
                         chunk: float, parts: list[Doc], status: str, finishReason: str,
                         toolCalls: list[Doc], error: str | None = None, usage: Any = None,
                         threadStatus: str | None = None, endReason: str | None = None
                         ) -> Any:
        """The last batch, the message's final state, its tool calls (REQUESTED), its
        usage and — for the run's last step — the thread's new state: one transaction."""
        thread = await rec.thread_of(ctx, threadId)
        message = await ctx.db.get(messageId)
        if stale(thread, runId) or message is None or message["attempt"] != attempt:
            return {"stale": True, "applied": False}
        if message["status"] != "streaming":
            return {"stale": False, "applied": False}  # finished already: a retry
        tail = list(parts) + [{"type": "tool-call", "toolCallId": c["id"],
                               "toolName": c["name"], "args": c["args"]} for c in toolCalls]
        if error is not None:
            tail.append({"type": "error", "error": error})
        changes = await rec.apply_batch(ctx, message, chunk if chunk > message["chunk"]
                                    else message["chunk"] + 1, tail)
        final: Doc = {**changes, "status": status, "finishReason": finishReason,
                      "searchText": changes.get("text", message["text"])}
        if error is not None:
            final["error"] = error
        if usage is not None:
            final["usage"] = usage
        await ctx.db.patch(messageId, final)
        for call in toolCalls:
            existing = await (ctx.db.query(names.tool_calls)
                              .with_index("by_thread_call", lambda r, c=call: r
                                          .eq("threadId", threadId).eq("toolCallId", c["id"]))
                              .first())
            if existing is None:
                await ctx.db.insert(names.tool_calls, {
                    "threadId": threadId, "messageId": messageId, "order": message["order"],
                    "stepOrder": message["stepOrder"], "toolCallId": call["id"],
                    "name": call["name"], "args": call["args"], "status": "REQUESTED"})
        if usage is not None:
            await ctx.db.insert(names.usage, {
                "threadId": threadId, "messageId": messageId,
                "model": message.get("model", ""), "inputTokens": usage["inputTokens"],
                "outputTokens": usage["outputTokens"], "totalTokens": usage["totalTokens"]})
        if threadStatus is not None:
            await rec.end_thread(ctx, thread, threadStatus, error,
                             endReason or thread.get("endReason"))
        else:
            await ctx.db.patch(threadId, {"streamingMessageId": MISSING})
        return {"stale": False, "applied": True, "stop": thread["stopRequested"]}

    @internal_mutation(args={"threadId": thread_id, "runId": v.string(),
                             "toolCallId": v.string(), "leaseMs": v.number()})
    async def toolStarted(ctx: Any, threadId: str, runId: str, toolCallId: str,
                          leaseMs: float) -> Any:
        thread = await rec.thread_of(ctx, threadId)
        if stale(thread, runId):
            return {"stale": True, "stop": True}
        call = await rec.tool_call(ctx, threadId, toolCallId)
        if call is not None and call["status"] == "REQUESTED":
            await ctx.db.patch(call["_id"], {"status": "RUNNING", "startedAt": ctx.now()})
        await rec.renew(ctx, thread, leaseMs)
        return {"stale": False, "stop": thread["stopRequested"]}

    @internal_mutation(args={"threadId": thread_id, "runId": v.string(),
                             "toolCallId": v.string(), "result": v.any(),
                             "failed": v.boolean(), "leaseMs": v.number()})
    async def toolFinished(ctx: Any, threadId: str, runId: str, toolCallId: str, result: Any,
                           failed: bool, leaseMs: float) -> Any:
        """The call's result, on the call and as a tool-result part of its message."""
        thread = await rec.thread_of(ctx, threadId)
        if stale(thread, runId):
            return {"stale": True, "stop": True}
        call = await rec.tool_call(ctx, threadId, toolCallId)
        if call is not None and call["status"] in ("REQUESTED", "RUNNING"):
            await ctx.db.patch(call["_id"], {"status": "FAILED" if failed else "SUCCEEDED",
                                             "result": result, "endedAt": ctx.now()})
            message = await ctx.db.get(call["messageId"])
            if message is not None:
                await ctx.db.patch(message["_id"], {"parts": [*message["parts"], {
                    "type": "tool-result", "toolCallId": toolCallId, "toolName": call["name"],
                    "result": result, "isError": failed}]})
        await rec.renew(ctx, thread, leaseMs)
        return {"stale": False, "stop": thread["stopRequested"]}

    @internal_mutation(args={"threadId": thread_id, "runId": v.string(),
                             "leaseMs": v.number()})
    async def heartbeat(ctx: Any, threadId: str, runId: str, leaseMs: float) -> Any:
        thread = await rec.thread_of(ctx, threadId)
        if stale(thread, runId):
            return {"stale": True, "stop": True}
        await ctx.db.patch(threadId, {"leaseUntil": ctx.now() + leaseMs})
        return {"stale": False, "stop": thread["stopRequested"]}

    @internal_query(args={"threadId": thread_id, "runId": v.string()})
    async def runState(ctx: Any, threadId: str, runId: str) -> Any:
        thread = await rec.thread_of(ctx, threadId)
        return {"stale": stale(thread, runId), "stop": thread["stopRequested"],
                "leaseUntil": thread.get("leaseUntil", 0)}

    @internal_mutation(args={"threadId": thread_id, "runId": v.string(),
                             "status": thread_status, "error": v.optional(v.string()),
                             "endReason": v.optional(v.string())})
    async def finishRun(ctx: Any, threadId: str, runId: str, status: str,
                        error: str | None = None, endReason: str | None = None) -> Any:
        """End the run (and close a message still streaming with the same outcome)."""
        thread = await rec.thread_of(ctx, threadId)
        if stale(thread, runId):
            return False
        await rec.close_streaming(ctx, thread, _message_status(status), error)
        await rec.end_thread(ctx, thread, status, error, endReason or thread.get("endReason"))
        return True

    @internal_mutation(args={"threadId": thread_id, "runId": v.string()})
    async def watchdog(ctx: Any, threadId: str, runId: str) -> Any:
        """Marks a run whose lease ran out (its server died) interrupted; else waits on."""
        thread = await ctx.db.get(threadId)
        if thread is None or stale(thread, runId) or thread["status"] != "running":
            return "done"
        lease = thread.get("leaseUntil", 0)
        if lease > ctx.now():
            await ctx.scheduler.run_at(lease + WATCHDOG_GRACE_MS, watchdog,
                                       {"threadId": threadId, "runId": runId})
            return "waiting"
        await rec.interrupt(ctx, thread)
        return "interrupted"

    @internal_mutation(args={})
    async def recoverRuns(ctx: Any) -> Any:
        """At startup no run can be alive: every thread still `running` was left so by
        the previous process, and is marked interrupted (in batches)."""
        running = await (ctx.db.query(names.threads)
                         .with_index("by_status", lambda r: r.eq("status", "running"))
                         .take(RECOVERY_BATCH))
        for thread in running:
            await rec.interrupt(ctx, thread)
        if len(running) == RECOVERY_BATCH:
            await ctx.scheduler.run_after(0, recoverRuns, {})
        return len(running)

    recoverRuns.on_startup = True

    for definition in (listThreads, getThread, listMessages, listToolCalls, listDeltas,
                       createThread, saveUserMessage, stop, beginRun, contextMessages,
                       beginStep, appendBatch, finishStep, toolStarted, toolFinished,
                       heartbeat, runState, finishRun, watchdog, recoverRuns):
        fns[definition.function.__name__] = definition
    return fns


def _message_status(thread_status: str) -> str:
    return {"completed": "success", "failed": "failed", "stopped": "stopped"}.get(
        thread_status, "interrupted")
