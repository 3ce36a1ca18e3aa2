"""Message parts: merging a batch of streamed parts into a message, and back into context.

Consecutive text (or reasoning) pieces merge into one part, so a message
streamed in a thousand batches has as many parts as one written at once.
"""

from __future__ import annotations

import json
from typing import Any

from reactor.agent.events import Message
from reactor.errors import ReactorError
from reactor.values import canonicalize

Part = dict[str, Any]


def merge_parts(parts: list[Part], batch: list[Part]) -> list[Part]:
    """`parts` followed by `batch`, with adjacent text/reasoning pieces joined."""
    merged = [dict(part) for part in parts]
    for part in batch:
        last = merged[-1] if merged else None
        kind = part.get("type")
        if (last is not None and kind in ("text", "reasoning") and last.get("type") == kind
                and not last.get("signature")):
            last["text"] = last.get("text", "") + part.get("text", "")
            if part.get("signature"):
                last["signature"] = part["signature"]
        else:
            merged.append(dict(part))
    return merged


def text_of(parts: list[Part]) -> str:
    return "".join(part.get("text", "") for part in parts if part.get("type") == "text")


def to_context(docs: list[dict[str, Any]]) -> list[Message]:
    """Stored messages (in order) as the provider-neutral messages a model is sent.

    A tool call without a stored result (its run was interrupted) gets an error
    result: providers refuse a call without one.
    """
    messages: list[Message] = []
    for doc in docs:
        if doc["role"] == "user":
            messages.append({"role": "user", "content": doc["text"]})
            continue
        if doc["role"] == "system":
            messages.append({"role": "user", "content": doc["text"]})
            continue
        parts = doc["parts"]
        calls = [p for p in parts if p.get("type") == "tool-call"]
        results = {p["toolCallId"]: p for p in parts if p.get("type") == "tool-result"}
        message: Message = {"role": "assistant", "content": text_of(parts)}
        reasoning = [{"text": p.get("text", ""), **({"signature": p["signature"]}
                                                    if p.get("signature") else {})}
                     for p in parts if p.get("type") == "reasoning"]
        if reasoning:
            message["reasoning"] = reasoning
        if calls:
            message["toolCalls"] = [{"id": c["toolCallId"], "name": c["toolName"],
                                     "args": c.get("args") or {}} for c in calls]
        if not message["content"] and not calls:
            continue
        messages.append(message)
        for call in calls:
            found = results.get(call["toolCallId"])
            result = found["result"] if found is not None else {
                "error": "no result: the run was interrupted before the tool finished"}
            messages.append({"role": "tool", "toolCallId": call["toolCallId"],
                             "name": call["toolName"], "result": result})
    return messages


def size_of(batch: list[Part]) -> int:
    """A batch's weight for the size-based flush: its text, or its JSON for other parts."""
    total = 0
    for part in batch:
        if part.get("type") in ("text", "reasoning"):
            total += len(part.get("text", ""))
        else:
            total += len(json.dumps(part, default=str))
    return total


def storable(value: Any) -> Any:
    """`value` if a document can hold it, else `{"json": <its JSON text>}`: a model's
    arguments or a tool's result may have keys no document field may have (`é`, `$x`)."""
    try:
        canonicalize(value, "value")
    except ReactorError:
        return {"json": json.dumps(value, default=str)}
    return value
