"""LLM providers over HTTP, and the rule that picks one from a model name.

The rule (`split_model`):

- `anthropic/<model>` → Anthropic Messages, model `<model>`;
- `openai/<model>` → OpenAI-compatible Chat Completions, model `<model>` (use
  this to reach e.g. `openai/anthropic/claude-3.5-sonnet` through OpenRouter);
- a name starting with `claude-` → Anthropic;
- anything else → OpenAI-compatible, the name as it is.

Keys and base URLs come from the deployment's environment variables
(`reactor env set OPENAI_API_KEY ...`): `OPENAI_API_KEY`, `OPENAI_BASE_URL`
(default `https://api.openai.com/v1`), `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`
(default `https://api.anthropic.com`). A provider needs its key unless its base
URL is set (local servers often take none).

Every provider has `async for event in provider.stream(messages, instructions=...,
tools=[{"name", "description", "parameters"}], options={...})`, yielding
`TextDelta`, `ReasoningDelta`, `ToolCall` and, last, `Finish`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, Protocol

from reactor.agent.events import Message, ProviderEvent
from reactor.agent.providers.anthropic import DEFAULT_BASE_URL as ANTHROPIC_DEFAULT_URL
from reactor.agent.providers.anthropic import AnthropicProvider
from reactor.agent.providers.http import ProviderError, ProviderSettings
from reactor.agent.providers.openai import DEFAULT_BASE_URL as OPENAI_DEFAULT_URL
from reactor.agent.providers.openai import OpenAIProvider


class Provider(Protocol):
    """A model that streams normalized events (see the module docstring)."""

    name: str
    model: str

    def stream(self, messages: list[Message], *, instructions: str | None = None,
               tools: list[dict[str, Any]] | None = None,
               options: dict[str, Any] | None = None) -> AsyncIterator[ProviderEvent]: ...


class EnvSource(Protocol):
    """Where settings are read: `ctx.env` in an action (or anything with `async get`)."""

    def get(self, name: str) -> Awaitable[str | None]: ...


def split_model(model: str) -> tuple[str, str]:
    """`(provider name, model name as the provider knows it)` by the documented rule."""
    if not isinstance(model, str) or not model.strip():
        raise ProviderError(f"model: expected a model name such as 'gpt-4o-mini' or"
                            f" 'claude-sonnet-4-5', got {model!r}")
    if model.startswith("anthropic/"):
        return "anthropic", model[len("anthropic/"):]
    if model.startswith("openai/"):
        return "openai", model[len("openai/"):]
    if model.startswith("claude-"):
        return "anthropic", model
    return "openai", model


async def _read(env: EnvSource | Mapping[str, str], name: str) -> str | None:
    if isinstance(env, Mapping):
        return env.get(name)
    return await env.get(name)


async def provider_for(model: str, env: EnvSource | Mapping[str, str], *,
                       timeout_s: float = 60.0, max_retries: int = 4,
                       backoff_s: float = 0.5) -> Provider:
    """The provider serving `model`, configured from `env` (`ctx.env` or a dict)."""
    kind, name = split_model(model)
    prefix = "ANTHROPIC" if kind == "anthropic" else "OPENAI"
    key = await _read(env, f"{prefix}_API_KEY")
    base = await _read(env, f"{prefix}_BASE_URL")
    if not key and not base:
        raise ProviderError(f"model {model!r} needs {prefix}_API_KEY (or {prefix}_BASE_URL"
                            f" for a server without keys): set it with `reactor env set"
                            f" {prefix}_API_KEY ...`")
    default = ANTHROPIC_DEFAULT_URL if kind == "anthropic" else OPENAI_DEFAULT_URL
    settings = ProviderSettings(base_url=base or default, api_key=key or None,
                                timeout_s=timeout_s, max_retries=max_retries,
                                backoff_s=backoff_s)
    if kind == "anthropic":
        return AnthropicProvider(name, settings)
    return OpenAIProvider(name, settings)


__all__ = [
    "AnthropicProvider",
    "EnvSource",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "ProviderSettings",
    "provider_for",
    "split_model",
]
