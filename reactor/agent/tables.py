"""The agent's tables, added to an app's schema with one call:

    schema = define_schema({"tasks": define_table({...}), **agent_tables()})

Names carry a prefix (`agent` by default): `agentThreads`, `agentMessages`,
`agentToolCalls`, `agentStreamDeltas`, `agentUsage`. A message is one
(thread, `order`, `stepOrder`): `order` counts the prompts of a thread (the
user's message is step 0 of its order), each model step of the answer is the
next `stepOrder`. A message's `parts` are `{"type": "text", "text"}`,
`{"type": "reasoning", "text", "signature"?}`, `{"type": "tool-call",
"toolCallId", "toolName", "args"}`, `{"type": "tool-result", "toolCallId",
"toolName", "result", "isError"}` and `{"type": "error", "error"}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from reactor.schema import TableDefinition, define_table
from reactor.values import Validator, v

THREAD_STATUSES = ("idle", "running", "completed", "failed", "stopped", "interrupted")
MESSAGE_STATUSES = ("streaming", "success", "failed", "stopped", "interrupted")
TOOL_STATUSES = ("REQUESTED", "RUNNING", "SUCCEEDED", "FAILED")


def _one_of(values: tuple[str, ...]) -> Validator:
    return v.union(*(v.literal(value) for value in values))


@dataclass(frozen=True)
class TableNames:
    """The five table names for one prefix."""

    prefix: str = "agent"

    @property
    def threads(self) -> str:
        return f"{self.prefix}Threads"

    @property
    def messages(self) -> str:
        return f"{self.prefix}Messages"

    @property
    def tool_calls(self) -> str:
        return f"{self.prefix}ToolCalls"

    @property
    def deltas(self) -> str:
        return f"{self.prefix}StreamDeltas"

    @property
    def usage(self) -> str:
        return f"{self.prefix}Usage"


def agent_tables(prefix: str = "agent") -> dict[str, TableDefinition]:
    """The table definitions, keyed by name, for `define_schema({..., **agent_tables()})`."""
    names = TableNames(prefix)
    thread_id = v.id(names.threads)
    return {
        names.threads: define_table({
            "title": v.optional(v.string()),
            # The app's owner of the thread (a user id, a task id...), for listing.
            "userKey": v.optional(v.string()),
            "status": _one_of(THREAD_STATUSES),
            "stopRequested": v.boolean(),
            # The run that may write now; a write from any other run is refused.
            "runId": v.optional(v.string()),
            "order": v.number(),  # the order of the latest prompt (0: none yet)
            "leaseUntil": v.optional(v.number()),
            "streamingMessageId": v.optional(v.id(names.messages)),
            "error": v.optional(v.string()),
            "endReason": v.optional(v.string()),
        }).index("by_user", ["userKey"]).index("by_status", ["status"]),
        names.messages: define_table({
            "threadId": thread_id,
            "order": v.number(),
            "stepOrder": v.number(),
            "role": _one_of(("user", "assistant", "system")),
            "status": _one_of(MESSAGE_STATUSES),
            "text": v.string(),
            "parts": v.array(v.any()),
            "attempt": v.number(),
            "chunk": v.number(),  # the last delta batch applied (idempotency)
            "model": v.optional(v.string()),
            "finishReason": v.optional(v.string()),
            "error": v.optional(v.string()),
            "usage": v.optional(v.any()),
            # The text once final: what the thread's history is searched by (a
            # message is not re-indexed on every streamed batch).
            "searchText": v.optional(v.string()),
        }).index("by_thread", ["threadId", "order", "stepOrder"])
          .search_index("search_text", search_field="searchText", filter_fields=["threadId"]),
        names.tool_calls: define_table({
            "threadId": thread_id,
            "messageId": v.id(names.messages),
            "order": v.number(),
            "stepOrder": v.number(),
            "toolCallId": v.string(),
            "name": v.string(),
            "args": v.any(),
            "status": _one_of(TOOL_STATUSES),
            "result": v.optional(v.any()),
            "startedAt": v.optional(v.number()),
            "endedAt": v.optional(v.number()),
        }).index("by_thread_call", ["threadId", "toolCallId"])
          .index("by_thread_order", ["threadId", "order", "stepOrder"]),
        names.deltas: define_table({
            "threadId": thread_id,
            "messageId": v.id(names.messages),
            "attempt": v.number(),
            "chunk": v.number(),
            "start": v.number(),  # character offsets of this batch's text in the message
            "end": v.number(),
            "parts": v.array(v.any()),
        }).index("by_message", ["messageId", "attempt", "chunk"]),
        names.usage: define_table({
            "threadId": thread_id,
            "messageId": v.id(names.messages),
            "model": v.string(),
            "inputTokens": v.number(),
            "outputTokens": v.number(),
            "totalTokens": v.number(),
        }).index("by_thread", ["threadId"]),
    }
