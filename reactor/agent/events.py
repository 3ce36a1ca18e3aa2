"""The provider-neutral vocabulary of a run: chat messages in, events out.

Every provider turns its own wire format into these few event types, so the
step loop, the persistence layer and an app's own sink never see a vendor's
JSON. Messages handed to a provider use one plain-dict shape (`Message`):

- `{"role": "user", "content": str}`
- `{"role": "assistant", "content": str, "toolCalls": [{"id", "name", "args"}],
  "reasoning": [{"text", "signature"?}]}` (`toolCalls` and `reasoning` optional)
- `{"role": "tool", "toolCallId": str, "name": str, "result": Any}`

Instructions (the system prompt) travel beside the messages, not among them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]


@dataclass(frozen=True)
class Usage:
    """Token counts of one provider call (or a sum of several)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens)

    def to_json(self) -> dict[str, int]:
        return {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens,
                "totalTokens": self.total_tokens}


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning (Anthropic thinking); `signature` arrives last."""

    text: str
    signature: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """One complete tool call: the provider has assembled its JSON arguments."""

    id: str
    name: str
    args: dict[str, Any]
    # Set when the model sent arguments that are not a JSON object: the tool is not
    # run and the model is told why.
    args_error: str | None = None


@dataclass(frozen=True)
class Finish:
    """The end of one provider call: why it ended (`stop`, `tool-calls`, `length`, ...)."""

    reason: str
    usage: Usage = field(default_factory=Usage)


ProviderEvent = TextDelta | ReasoningDelta | ToolCall | Finish


@dataclass(frozen=True)
class ToolStarted:
    """A tool call is about to run (after its step's `Finish`)."""

    id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned (or `{"error": ...}` when it raised), as sent to the model."""

    id: str
    name: str
    result: Any
    failed: bool = False


@dataclass(frozen=True)
class StepEvent:
    """One event of the step loop: which step (0-based) and the event itself."""

    step: int
    event: ProviderEvent | ToolStarted | ToolResult
