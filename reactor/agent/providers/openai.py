"""OpenAI-compatible Chat Completions over streaming SSE (OpenAI, OpenRouter, local servers).

Tool-call arguments arrive as string fragments keyed by the call's `index`,
spread over many chunks; they are assembled here and handed on only when the
stream ends, as whole `ToolCall` events. Usage comes in a last chunk without
choices (requested with `stream_options.include_usage`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from reactor.agent.events import (
    Finish,
    Message,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from reactor.agent.providers.http import (
    ProviderError,
    ProviderSettings,
    Sleep,
    open_stream,
    parse_json,
    sse_events,
    tool_args,
)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_REASONS = {"stop": "stop", "tool_calls": "tool-calls", "function_call": "tool-calls",
            "length": "length", "content_filter": "content-filter"}


def to_wire_messages(instructions: str | None, messages: list[Message]) -> list[dict[str, Any]]:
    """The library's messages in Chat Completions form."""
    wire: list[dict[str, Any]] = []
    if instructions:
        wire.append({"role": "system", "content": instructions})
    for message in messages:
        role = message["role"]
        if role == "assistant":
            item: dict[str, Any] = {"role": "assistant", "content": message.get("content") or None}
            calls = message.get("toolCalls") or []
            if calls:
                item["tool_calls"] = [
                    {"id": call["id"], "type": "function",
                     "function": {"name": call["name"], "arguments": json.dumps(call["args"])}}
                    for call in calls]
            wire.append(item)
        elif role == "tool":
            wire.append({"role": "tool", "tool_call_id": message["toolCallId"],
                         "content": json.dumps(message["result"])})
        else:
            wire.append({"role": role, "content": message["content"]})
    return wire


class OpenAIProvider:
    """One model behind an OpenAI-compatible `/chat/completions` endpoint."""

    name = "openai"

    def __init__(self, model: str, settings: ProviderSettings, sleep: Sleep | None = None
                 ) -> None:
        self.model = model
        self.settings = settings
        self._sleep = sleep

    def _request(self, messages: list[Message], instructions: str | None,
                 tools: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "stream": True,
                                "stream_options": {"include_usage": True},
                                "messages": to_wire_messages(instructions, messages)}
        if tools:
            body["tools"] = [{"type": "function", "function": tool} for tool in tools]
        body.update(options)
        return body

    async def stream(self, messages: list[Message], *, instructions: str | None = None,
                     tools: list[dict[str, Any]] | None = None,
                     options: dict[str, Any] | None = None) -> AsyncIterator[ProviderEvent]:
        what = f"OpenAI-compatible provider ({self.model})"
        url = self.settings.base_url.rstrip("/") + "/chat/completions"
        headers = {"Accept": "text/event-stream"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        body = self._request(messages, instructions, tools or [], options or {})
        extra = {} if self._sleep is None else {"sleep": self._sleep}
        calls: dict[int, dict[str, str]] = {}
        reason: str | None = None
        usage = Usage()
        async with open_stream(self.settings, what, url, headers, body, **extra) as response:
            async for _event, data in sse_events(response, what, self.settings.api_key):
                if data.strip() == "[DONE]":
                    break
                chunk = parse_json(data, what)
                if not isinstance(chunk, dict):
                    continue
                if isinstance(chunk.get("error"), dict):
                    raise ProviderError(f"{what}: error in the stream:"
                                        f" {chunk['error'].get('message', chunk['error'])}")
                if isinstance(chunk.get("usage"), dict):
                    usage = Usage(int(chunk["usage"].get("prompt_tokens") or 0),
                                  int(chunk["usage"].get("completion_tokens") or 0))
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    thought = delta.get("reasoning_content") or delta.get("reasoning")
                    if isinstance(thought, str) and thought:
                        yield ReasoningDelta(thought)
                    if isinstance(delta.get("content"), str) and delta["content"]:
                        yield TextDelta(delta["content"])
                    for part in delta.get("tool_calls") or []:
                        call = calls.setdefault(int(part.get("index", 0)),
                                                {"id": "", "name": "", "args": ""})
                        function = part.get("function") or {}
                        call["id"] = part.get("id") or call["id"]
                        call["name"] += function.get("name") or ""
                        call["args"] += function.get("arguments") or ""
                    if choice.get("finish_reason"):
                        reason = _REASONS.get(choice["finish_reason"], choice["finish_reason"])
        if reason is None:
            raise ProviderError(f"{what}: the stream ended before the model finished"
                                " (no finish_reason)")
        for index in sorted(calls):
            call = calls[index]
            args, problem = tool_args(call["args"])
            yield ToolCall(call["id"] or f"call_{index}", call["name"], args, problem)
        yield Finish(reason, usage)
