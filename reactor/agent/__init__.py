"""`reactor.agent`: LLM runs with tools, for Reactor actions (layer above the runtime).

Nothing below this package imports it; the server and CLI do not either.
"""

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
from reactor.agent.tools import Tool, ToolContext, tool

__all__ = [
    "DEFAULT_MAX_STEPS",
    "AnthropicProvider",
    "Finish",
    "Message",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "ProviderEvent",
    "ProviderSettings",
    "ReasoningDelta",
    "RunSummary",
    "Sink",
    "StepEvent",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolResult",
    "ToolStarted",
    "Usage",
    "provider_for",
    "run_into",
    "run_steps",
    "split_model",
    "tool",
]
