"""`reactor.agent`: LLM runs with tools, for Reactor actions (layer above the runtime).

Nothing below this package imports it; the server and CLI do not either.

- Providers (`provider_for(model, ctx.env)`, the model-name rule in
  `reactor.agent.providers`) stream `TextDelta`, `ReasoningDelta`, `ToolCall`,
  `Finish`.
- `@tool` makes an `async def f(ctx: ToolContext, ...)` a tool.
- `run_steps(provider, messages, tools, context=ToolContext(ctx, state=...))`
  is the step loop without storage (or `run_into(sink, ...)`).
- `agent_tables()` (schema) + `agent_functions()` (a functions module) +
  `Agent(...).stream_text(ctx, thread_id, prompt=...)` store runs in the
  library's tables, streamed in throttled idempotent batches (`StreamSettings`).
"""

from reactor.agent.agent import Agent, RunResult
from reactor.agent.events import (
    Finish,
    Message,
    ProviderEvent,
    ReasoningDelta,
    StepEvent,
    TextDelta,
    ToolCall,
    ToolResult,
    ToolStarted,
    Usage,
)
from reactor.agent.loop import DEFAULT_MAX_STEPS, RunSummary, Sink, run_into, run_steps
from reactor.agent.providers import (
    AnthropicProvider,
    OpenAIProvider,
    Provider,
    ProviderError,
    ProviderSettings,
    provider_for,
    split_model,
)
from reactor.agent.store import agent_functions
from reactor.agent.tables import agent_tables
from reactor.agent.tools import Tool, ToolContext, tool
from reactor.agent.writer import StreamSettings

__all__ = [
    "DEFAULT_MAX_STEPS",
    "Agent",
    "AnthropicProvider",
    "Finish",
    "Message",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "ProviderEvent",
    "ProviderSettings",
    "ReasoningDelta",
    "RunResult",
    "RunSummary",
    "Sink",
    "StepEvent",
    "StreamSettings",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolResult",
    "ToolStarted",
    "Usage",
    "agent_functions",
    "agent_tables",
    "provider_for",
    "run_into",
    "run_steps",
    "split_model",
    "tool",
]
