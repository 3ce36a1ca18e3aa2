"""`Agent`: a model, instructions and tools, run inside an action into the agent tables.

    agent = Agent(model="gpt-4o-mini", instructions="...", tools=[read_file])

    @action(args={"threadId": v.string(), "prompt": v.string()})
    async def ask(ctx, threadId, prompt):
        result = await agent.stream_text(ctx, threadId, prompt=prompt)
        return result.text

A run owns its thread while it lives (`runId`): it writes the answer step by
step (one assistant message per model step), records each tool call, and ends
the thread `completed`, `failed` (with the error), `stopped` (the `stop`
mutation) or, if its server died, `interrupted` (by the watchdog once the
run's lease runs out). Calling again with the same `order` resumes a run:
finished steps and tool calls are kept, the unfinished step is redone.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reactor.agent.events import (
    Finish,
    Message,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolStarted,
    Usage,
)
from reactor.agent.loop import DEFAULT_MAX_STEPS, run_steps, run_tool
from reactor.agent.parts import storable, text_of, to_context
from reactor.agent.providers import Provider, ProviderError, provider_for
from reactor.agent.tools import Tool, ToolContext
from reactor.agent.writer import StreamSettings, StreamWriter


@dataclass
class RunResult:
    """How a run ended. `text` is the last step's text (the answer)."""

    thread_id: str
    order: int
    status: str  # completed | failed | stopped | interrupted
    text: str = ""
    finish_reason: str = ""
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    error: str | None = None
    batches: int = 0


def describe_error(error: BaseException) -> str:
    """What a user reads about a failure: no traceback, no paths."""
    if isinstance(error, ProviderError):
        return error.message
    text = getattr(error, "message", None) or str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Agent:
    """A reusable agent definition; `functions` is the module its functions are in."""

    def __init__(self, *, model: str, instructions: str | None = None,
                 tools: Sequence[Tool] = (), max_steps: int = DEFAULT_MAX_STEPS,
                 functions: str = "agent", stream: StreamSettings | None = None,
                 context_messages: int = 20, search_messages: int = 0,
                 options: dict[str, Any] | None = None,
                 provider: Provider | None = None, timeout_s: float = 60.0,
                 max_retries: int = 4) -> None:
        self.model = model
        self.instructions = instructions
        self.tools = list(tools)
        self.max_steps = max_steps
        self.functions = functions
        self.settings = stream or StreamSettings()
        self.context_messages = context_messages
        self.search_messages = search_messages
        self.options = options
        self.provider = provider
        self.timeout_s = timeout_s
        self.max_retries = max_retries

    def path(self, name: str) -> str:
        return f"{self.functions}:{name}"

    async def create_thread(self, ctx: Any, *, title: str | None = None,
                            user_key: str | None = None) -> str:
        args = {k: val for k, val in (("title", title), ("userKey", user_key)) if val}
        return str(await ctx.run_mutation(self.path("createThread"), args))

    async def stream_text(self, ctx: Any, thread_id: str, *, prompt: str | None = None,
                          order: int | None = None, state: Any = None,
                          takeover: bool = False) -> RunResult:
        """Answer `prompt` (saved as the thread's next message), or resume `order`;
        deltas reach subscribers in batches while the model writes."""
        return await self._run(ctx, thread_id, prompt, order, state, takeover, streaming=True)

    async def generate_text(self, ctx: Any, thread_id: str, *, prompt: str | None = None,
                            order: int | None = None, state: Any = None,
                            takeover: bool = False) -> RunResult:
        """As `stream_text`, but each step is written once, when it is complete."""
        return await self._run(ctx, thread_id, prompt, order, state, takeover, streaming=False)

    async def _run(self, ctx: Any, thread_id: str, prompt: str | None, order: int | None,
                   state: Any, takeover: bool, *, streaming: bool) -> RunResult:
        if prompt is not None:
            saved = await ctx.run_mutation(self.path("saveUserMessage"),
                                           {"threadId": thread_id, "text": prompt})
            order = int(saved["order"])
        elif order is None:
            raise ValueError("Agent run: give a prompt, or the order of a saved prompt")
        run_id = uuid.uuid4().hex
        await ctx.run_mutation(self.path("beginRun"), {
            "threadId": thread_id, "order": order, "leaseMs": self.settings.lease_ms,
            "runId": run_id, "takeover": takeover})
        writer = StreamWriter(ctx, self.path, thread_id, run_id, self.settings,
                              streaming=streaming)
        result = RunResult(thread_id, order, "completed")
        run = _Run(self, ctx, writer, result, state)
        await run.execute()
        result.batches = writer.batches
        return result


class _Run:
    """One run's moving parts: the pump (model + tools) and the ticker (writes, stops)."""

    def __init__(self, agent: Agent, ctx: Any, writer: StreamWriter, result: RunResult,
                 state: Any) -> None:
        self.agent = agent
        self.ctx = ctx
        self.writer = writer
        self.result = result
        self.context = ToolContext(ctx, thread_id=result.thread_id, state=state)
        self.step_text: list[str] = []
        self.calls: list[ToolCall] = []

    async def _finish_run(self, status: str, error: str | None = None,
                          reason: str | None = None) -> None:
        args: dict[str, Any] = {"threadId": self.result.thread_id, "runId": self.writer.run_id,
                                "status": status}
        if error is not None:
            args["error"] = error
        if reason is not None:
            args["endReason"] = reason
        await self.ctx.run_mutation(self.agent.path("finishRun"), args)

    async def _prepare(self) -> tuple[list[Message], int] | None:
        """The context and the first step to run; None when the order is answered."""
        loaded = await self.ctx.run_query(self.agent.path("contextMessages"), {
            "threadId": self.result.thread_id, "order": self.result.order,
            "limit": self.agent.context_messages,
            "searchLimit": self.agent.search_messages})
        done: list[dict[str, Any]] = []
        for doc in sorted(loaded["current"], key=lambda d: d["stepOrder"]):
            if doc["stepOrder"] == 0 or doc["status"] == "success":
                done.append(doc)
            else:
                break
        steps = [d for d in done if d["stepOrder"] > 0]
        last = steps[-1] if steps else None
        if last is not None:
            pending = [c for c in loaded["toolCalls"] if c["messageId"] == last["_id"]
                       and c["status"] in ("REQUESTED", "RUNNING")]
            for call in pending:
                await self._run_tool(ToolCall(call["toolCallId"], call["name"], call["args"]),
                                     int(last["stepOrder"]) - 1)
            if pending:
                return await self._prepare()
            calls = [p for p in last["parts"] if p.get("type") == "tool-call"]
            if not calls or len(steps) >= self.agent.max_steps:
                self.result.text = text_of(last["parts"])
                self.result.steps = len(steps)
                await self._finish_run("completed")
                return None
        context = to_context(loaded["found"] + loaded["history"]) + to_context(done)
        return context, len(steps)

    async def _run_tool(self, call: ToolCall, step: int) -> ToolResult:
        await self.writer.tool_event("toolStarted", {"toolCallId": call.id})
        by_name = {t.name: t for t in self.agent.tools}
        result = await run_tool(by_name, call, self.context, step)
        await self.writer.tool_event("toolFinished", {"toolCallId": result.id,
                                                      "result": storable(result.result),
                                                      "failed": result.failed})
        return result

    async def _pump(self, provider: Provider, messages: list[Message], first: int) -> None:
        current = -1
        async for item in run_steps(provider, messages, self.agent.tools, context=self.context,
                                    instructions=self.agent.instructions,
                                    max_steps=self.agent.max_steps, first_step=first,
                                    options=self.agent.options, execute=self._run_tool):
            event = item.event
            if item.step != current:
                current = item.step
                self.step_text, self.calls = [], []
                await self.writer.begin_step(self.result.order, current + 1, provider.model)
            if isinstance(event, TextDelta):
                self.step_text.append(event.text)
                self.writer.add({"type": "text", "text": event.text})
            elif isinstance(event, ReasoningDelta):
                part: dict[str, Any] = {"type": "reasoning", "text": event.text}
                if event.signature:
                    part["signature"] = event.signature
                self.writer.add(part)
            elif isinstance(event, ToolCall):
                self.calls.append(event)
            elif isinstance(event, Finish):
                self.result.usage = self.result.usage + event.usage
                self.result.finish_reason = event.reason
                self.result.steps = current + 1
                self.result.text = "".join(self.step_text)
                last = not self.calls
                await self.writer.finish_step(
                    status="success", finish_reason=event.reason,
                    tool_calls=[{"id": c.id, "name": c.name, "args": storable(c.args)}
                                for c in self.calls],
                    usage={**event.usage.to_json()},
                    thread_status="completed" if last else None)
            elif isinstance(event, ToolStarted | ToolResult):
                pass  # written by _run_tool
            if self.writer.ending:
                raise asyncio.CancelledError
            if self.writer.due():
                await self.writer.flush()
        if self.calls:  # the step limit ended the run after tools
            await self._finish_run("completed", reason=f"the step limit"
                                   f" ({self.agent.max_steps}) was reached")

    async def _ticker(self, pump: asyncio.Task[None]) -> None:
        while not pump.done():
            await asyncio.sleep(self.agent.settings.interval_s / 2)
            try:
                await self.writer.tick()
            except Exception:  # a failed check is retried on the next beat
                continue
            if self.writer.finished:
                return
            if self.writer.ending and not pump.done():
                pump.cancel()
                return

    async def execute(self) -> None:
        try:
            provider = self.agent.provider or await provider_for(
                self.agent.model, self.ctx.env, timeout_s=self.agent.timeout_s,
                max_retries=self.agent.max_retries)
            prepared = await self._prepare()
        except Exception as error:
            await self._fail(describe_error(error))
            return
        if prepared is None:
            return
        messages, first = prepared
        self.result.steps = first
        pump = asyncio.ensure_future(self._pump(provider, messages, first))
        ticker = asyncio.ensure_future(self._ticker(pump))
        failure: Exception | None = None
        try:
            await pump
        except asyncio.CancelledError:
            if not self.writer.ending:
                raise
        except Exception as error:
            failure = error
        else:
            return
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        if self.writer.stale:
            self.result.status = "interrupted"
        elif failure is not None:
            await self._fail(describe_error(failure), model=provider.model)
        else:
            await self._stop()

    async def _stop(self) -> None:
        self.result.status = "stopped"
        self.result.finish_reason = "stopped"
        self.result.text = "".join(self.step_text)
        if self.writer.message_id is not None:
            await self.writer.finish_step(status="stopped", finish_reason="stopped",
                                          tool_calls=[], usage=None, thread_status="stopped")
        else:
            await self._finish_run("stopped")

    async def _fail(self, error: str, model: str | None = None) -> None:
        self.result.status = "failed"
        self.result.error = error
        self.result.finish_reason = "error"
        if self.writer.message_id is None and model is not None:
            await self.writer.begin_step(self.result.order, self.result.steps + 1, model)
        if self.writer.message_id is not None:
            await self.writer.finish_step(status="failed", finish_reason="error", tool_calls=[],
                                          usage=None, error=error, thread_status="failed")
        else:
            await self._finish_run("failed", error=error)
