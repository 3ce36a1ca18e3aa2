"""A small agent: arithmetic and note-taking tools; settings from the environment."""

from __future__ import annotations

import asyncio
from typing import Any

from reactor import action, internal_mutation, query, v
from reactor.agent import Agent, StreamSettings, ToolContext, tool


@internal_mutation(args={"threadId": v.string(), "text": v.string()})
async def addNote(ctx, threadId, text):
    return await ctx.db.insert("notes", {"threadId": threadId, "text": text})


@query(args={"threadId": v.string()})
async def notes(ctx, threadId):
    return [n["text"] for n in await ctx.db.query("notes").collect()
            if n["threadId"] == threadId]


@tool
async def add(ctx: ToolContext, a: float, b: float) -> float:
    """Add two numbers.

    Args:
        a: the first
        b: the second
    """
    return a + b


@tool
async def note(ctx: ToolContext, text: str) -> str:
    """Write a note on the thread."""
    await ctx.run_mutation(addNote, {"threadId": ctx.thread_id, "text": f"{ctx.state}:{text}"})
    return "noted"


@tool
async def wait(ctx: ToolContext, seconds: float) -> str:
    """Wait a while."""
    await asyncio.sleep(seconds)
    return "waited"


@tool
async def echo(ctx: ToolContext, key: str) -> dict[str, str]:
    """Echo a key back, marked."""
    return {f"${key}": "echoed"}


async def _agent(ctx: Any) -> Agent:
    async def number(name: str, default: float) -> float:
        value = await ctx.env.get(name)
        return float(value) if value else default

    return Agent(model=await ctx.env.get("AGENT_MODEL") or "gpt-test",
                 instructions="You are a test agent.", tools=[add, note, wait, echo],
                 max_steps=int(await number("AGENT_MAX_STEPS", 4)),
                 stream=StreamSettings(interval_s=await number("AGENT_INTERVAL_S", 0.05),
                                       max_chars=int(await number("AGENT_MAX_CHARS", 2048)),
                                       lease_s=await number("AGENT_LEASE_S", 30)),
                 context_messages=int(await number("AGENT_CONTEXT", 20)),
                 search_messages=int(await number("AGENT_SEARCH", 0)),
                 max_retries=1, timeout_s=10)


def _result(result: Any) -> dict[str, Any]:
    return {"status": result.status, "text": result.text, "error": result.error,
            "steps": result.steps, "order": result.order, "batches": result.batches,
            "finishReason": result.finish_reason, "tokens": result.usage.total_tokens}


@action(args={"prompt": v.string()})
async def start(ctx, prompt):
    agent = await _agent(ctx)
    thread = await agent.create_thread(ctx, title="test")
    return {"threadId": thread, **_result(await agent.stream_text(ctx, thread, prompt=prompt,
                                                                   state="ws"))}


@action(args={"threadId": v.string(), "prompt": v.optional(v.string()),
              "order": v.optional(v.number()), "stream": v.optional(v.boolean())})
async def ask(ctx, threadId, prompt=None, order=None, stream=True):
    agent = await _agent(ctx)
    run = agent.stream_text if stream else agent.generate_text
    order = None if order is None else int(order)
    return _result(await run(ctx, threadId, prompt=prompt, order=order, state="ws"))
