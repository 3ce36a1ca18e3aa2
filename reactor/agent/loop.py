"""The step loop: call the model, run the tools it asks for, repeat — with no storage.

    async for item in run_steps(provider, messages, tools, context=ToolContext(ctx)):
        ...  # item.step, item.event: TextDelta, ReasoningDelta, ToolCall, Finish,
             # ToolStarted, ToolResult

It writes nothing: an app that keeps its own tables consumes the events (or
hands a `Sink` to `run_into`), and `Agent` builds its persistence on it.
`messages` is extended in place with each step's assistant and tool messages,
so after the loop it is the whole conversation. Closing the iterator (leaving
the `async for`, or cancelling the task) closes the provider's connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reactor.agent.events import (
    Finish,
    Message,
    ReasoningDelta,
    StepEvent,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolStarted,
    Usage,
)
from reactor.agent.providers import Provider
from reactor.agent.tools import Tool, ToolContext

DEFAULT_MAX_STEPS = 8


def assistant_message(text: str, reasoning: list[dict[str, Any]],
                      calls: list[ToolCall]) -> Message:
    message: Message = {"role": "assistant", "content": text}
    if calls:
        message["toolCalls"] = [{"id": c.id, "name": c.name, "args": c.args} for c in calls]
    if reasoning:
        message["reasoning"] = reasoning
    return message


async def run_tool(tools: dict[str, Tool], call: ToolCall, context: ToolContext,
                   step: int) -> ToolResult:
    """One call's result; unknown tools and bad arguments are results, not exceptions."""
    if call.args_error is not None:
        return ToolResult(call.id, call.name, {"error": call.args_error}, failed=True)
    found = tools.get(call.name)
    if found is None:
        return ToolResult(call.id, call.name,
                          {"error": f"there is no tool named {call.name!r}; the tools are"
                                    f" {', '.join(sorted(tools)) or '(none)'}"}, failed=True)
    result, failed = await found.call(context.for_call(call.id, step), call.args)
    return ToolResult(call.id, call.name, result, failed)


async def run_steps(provider: Provider, messages: list[Message], tools: Sequence[Tool] = (),
                    *, context: ToolContext, instructions: str | None = None,
                    max_steps: int = DEFAULT_MAX_STEPS, first_step: int = 0,
                    options: dict[str, Any] | None = None,
                    execute: Callable[[ToolCall, int], Awaitable[ToolResult]] | None = None,
                    ) -> AsyncIterator[StepEvent]:
    """Steps `first_step`.. until the model answers without tool calls or `max_steps`.

    `execute(call, step)` replaces running a tool directly (`Agent` records each
    call around it).
    """
    by_name = {t.name: t for t in tools}
    specs = [t.spec() for t in tools]
    step = first_step
    while step < max_steps:
        text: list[str] = []
        reasoning: list[dict[str, Any]] = []
        calls: list[ToolCall] = []
        async for event in provider.stream(messages, instructions=instructions, tools=specs,
                                           options=options):
            if isinstance(event, TextDelta):
                text.append(event.text)
            elif isinstance(event, ReasoningDelta):
                if not reasoning or reasoning[-1].get("signature"):
                    reasoning.append({"text": ""})
                reasoning[-1]["text"] += event.text
                if event.signature:
                    reasoning[-1]["signature"] = event.signature
            elif isinstance(event, ToolCall):
                calls.append(event)
            yield StepEvent(step, event)
        messages.append(assistant_message("".join(text), reasoning, calls))
        if not calls:
            return
        for call in calls:
            yield StepEvent(step, ToolStarted(call.id, call.name, call.args))
            result = (await execute(call, step) if execute is not None
                      else await run_tool(by_name, call, context, step))
            messages.append({"role": "tool", "toolCallId": result.id, "name": result.name,
                             "result": result.result})
            yield StepEvent(step, result)
        step += 1


class Sink(Protocol):
    """Receives a run's events, e.g. to write them into an app's own tables."""

    async def on_text(self, step: int, text: str) -> None: ...

    async def on_reasoning(self, step: int, text: str, signature: str | None) -> None: ...

    async def on_tool_call(self, step: int, call: ToolCall) -> None: ...

    async def on_tool_started(self, step: int, call: ToolStarted) -> None: ...

    async def on_tool_result(self, step: int, result: ToolResult) -> None: ...

    async def on_finish(self, step: int, finish: Finish) -> None: ...


@dataclass
class RunSummary:
    text: str
    steps: int
    finish_reason: str
    usage: Usage


async def run_into(sink: Sink, provider: Provider, messages: list[Message],
                   tools: Sequence[Tool] = (), *, context: ToolContext,
                   instructions: str | None = None, max_steps: int = DEFAULT_MAX_STEPS,
                   options: dict[str, Any] | None = None) -> RunSummary:
    """`run_steps` delivered to `sink`; the last step's text, steps taken, reason, usage."""
    usage = Usage()
    reason = "stop"
    last_text: list[str] = []
    steps = 0
    async for item in run_steps(provider, messages, tools, context=context,
                                instructions=instructions, max_steps=max_steps,
                                options=options):
        event = item.event
        if steps <= item.step:
            steps, last_text = item.step + 1, []
        if isinstance(event, TextDelta):
            last_text.append(event.text)
            await sink.on_text(item.step, event.text)
        elif isinstance(event, ReasoningDelta):
            await sink.on_reasoning(item.step, event.text, event.signature)
        elif isinstance(event, ToolCall):
            await sink.on_tool_call(item.step, event)
        elif isinstance(event, ToolStarted):
            await sink.on_tool_started(item.step, event)
        elif isinstance(event, ToolResult):
            await sink.on_tool_result(item.step, event)
        elif isinstance(event, Finish):
            usage, reason = usage + event.usage, event.reason
            await sink.on_finish(item.step, event)
    return RunSummary("".join(last_text), steps, reason, usage)
