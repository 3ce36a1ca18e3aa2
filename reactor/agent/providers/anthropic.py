"""Anthropic Messages over streaming SSE: text, tool use, and thinking as reasoning.

Content blocks stream as start/delta/stop events keyed by index. A `tool_use`
block's input arrives as `partial_json` fragments and becomes one `ToolCall`
at its stop; a `thinking` block becomes reasoning deltas, its signature a
last reasoning delta carrying only the signature (the API wants it back with
the block on the next turn).
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

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_REASONS = {"end_turn": "stop", "tool_use": "tool-calls", "max_tokens": "length",
            "stop_sequence": "stop", "refusal": "content-filter"}


def _blocks(message: Message) -> list[dict[str, Any]]:
    role = message["role"]
    if role == "tool":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["toolCallId"],
                                 "content": json.dumps(message["result"])}
        if isinstance(message["result"], dict) and "error" in message["result"]:
            block["is_error"] = True
        return [block]
    if role != "assistant":
        return [{"type": "text", "text": message["content"]}]
    blocks: list[dict[str, Any]] = []
    for part in message.get("reasoning") or []:
        if part.get("signature"):  # unsigned thinking cannot be sent back
            blocks.append({"type": "thinking", "thinking": part["text"],
                           "signature": part["signature"]})
    if message.get("content"):
        blocks.append({"type": "text", "text": message["content"]})
    for call in message.get("toolCalls") or []:
        blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"],
                       "input": call["args"]})
    return blocks


def to_wire_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """The library's messages as alternating user/assistant turns of content blocks."""
    wire: list[dict[str, Any]] = []
    for message in messages:
        role = "assistant" if message["role"] == "assistant" else "user"
        blocks = _blocks(message)
        if not blocks:
            continue
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})
    return wire


class AnthropicProvider:
    """One Claude model behind the Messages API (`/v1/messages`)."""

    name = "anthropic"

    def __init__(self, model: str, settings: ProviderSettings, sleep: Sleep | None = None
                 ) -> None:
        self.model = model
        self.settings = settings
        self._sleep = sleep

    async def stream(self, messages: list[Message], *, instructions: str | None = None,
                     tools: list[dict[str, Any]] | None = None,
                     options: dict[str, Any] | None = None) -> AsyncIterator[ProviderEvent]:
        what = f"Anthropic provider ({self.model})"
        url = self.settings.base_url.rstrip("/") + "/v1/messages"
        headers = {"Accept": "text/event-stream", "anthropic-version": API_VERSION}
        if self.settings.api_key:
            headers["x-api-key"] = self.settings.api_key
        body: dict[str, Any] = {"model": self.model, "stream": True,
                                "max_tokens": DEFAULT_MAX_TOKENS,
                                "messages": to_wire_messages(messages)}
        if instructions:
            body["system"] = instructions
        if tools:
            body["tools"] = [{"name": tool["name"], "description": tool["description"],
                              "input_schema": tool["parameters"]} for tool in tools]
        body.update(options or {})
        extra = {} if self._sleep is None else {"sleep": self._sleep}
        blocks: dict[int, dict[str, str]] = {}
        reason: str | None = None
        input_tokens = output_tokens = 0
        async with open_stream(self.settings, what, url, headers, body, **extra) as response:
            async for event, data in sse_events(response, what, self.settings.api_key):
                payload = parse_json(data, what)
                kind = payload.get("type", event) if isinstance(payload, dict) else event
                if kind == "error":
                    error = payload.get("error") or {}
                    raise ProviderError(f"{what}: error in the stream:"
                                        f" {error.get('type', '')} {error.get('message', '')}"
                                        .rstrip())
                if kind == "message_start":
                    usage = (payload.get("message") or {}).get("usage") or {}
                    input_tokens = int(usage.get("input_tokens") or 0)
                    output_tokens = int(usage.get("output_tokens") or 0)
                elif kind == "content_block_start":
                    block = payload.get("content_block") or {}
                    blocks[int(payload.get("index", 0))] = {
                        "type": str(block.get("type", "")), "id": str(block.get("id", "")),
                        "name": str(block.get("name", "")), "json": ""}
                    if block.get("type") == "text" and block.get("text"):
                        yield TextDelta(block["text"])
                elif kind == "content_block_delta":
                    delta = payload.get("delta") or {}
                    current = blocks.setdefault(int(payload.get("index", 0)),
                                                {"type": "", "id": "", "name": "", "json": ""})
                    if delta.get("type") == "text_delta":
                        yield TextDelta(delta.get("text", ""))
                    elif delta.get("type") == "thinking_delta":
                        yield ReasoningDelta(delta.get("thinking", ""))
                    elif delta.get("type") == "signature_delta":
                        yield ReasoningDelta("", signature=delta.get("signature", ""))
                    elif delta.get("type") == "input_json_delta":
                        current["json"] += delta.get("partial_json", "")
                elif kind == "content_block_stop":
                    block_state = blocks.get(int(payload.get("index", 0)))
                    if block_state is not None and block_state["type"] == "tool_use":
                        args, problem = tool_args(block_state["json"])
                        yield ToolCall(block_state["id"], block_state["name"], args, problem)
                elif kind == "message_delta":
                    stop = (payload.get("delta") or {}).get("stop_reason")
                    if stop:
                        reason = _REASONS.get(stop, stop)
                    usage = payload.get("usage") or {}
                    output_tokens = int(usage.get("output_tokens") or output_tokens)
                elif kind == "message_stop":
                    break
        if reason is None:
            raise ProviderError(f"{what}: the stream ended before the model finished"
                                " (no stop_reason)")
        yield Finish(reason, Usage(input_tokens, output_tokens))
