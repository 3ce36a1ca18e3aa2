"""What both providers share: settings, errors, retries with backoff, and SSE reading.

A call is retried only before its stream has produced anything: once events
have gone to the caller, a replay could duplicate text, so a connection that
drops mid-stream ends the call with a `ProviderError` instead.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from reactor.errors import ReactorError

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
MAX_ERROR_TEXT = 500


@dataclass(frozen=True)
class ProviderSettings:
    """How one provider is reached. `timeout_s` bounds the wait for each chunk."""

    base_url: str
    api_key: str | None = None
    timeout_s: float = 60.0
    connect_timeout_s: float = 10.0
    max_retries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0


class ProviderError(ReactorError):
    """A provider call failed: `status` is the HTTP status (None: no answer at all).

    The message says what happened in words a user can act on and never contains
    the API key.
    """

    code = "ProviderError"

    def __init__(self, message: str, *, status: int | None = None,
                 retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def scrub(text: str, secret: str | None) -> str:
    """`text` without `secret`, shortened for an error message."""
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT] + "…"


def error_text(body: bytes) -> str:
    """The human part of an error body: `error.message` of either vendor, else the text."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace").strip() or "(empty body)"
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return json.dumps(parsed)[:MAX_ERROR_TEXT]


def retry_after_s(response: httpx.Response) -> float | None:
    """The `Retry-After` header as seconds (a number or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(settings: ProviderSettings, attempt: int, hinted: float | None) -> float:
    """The wait before retry number `attempt` (0-based): the server's hint if it gave one."""
    if hinted is not None:
        return min(hinted, settings.max_backoff_s)
    base = settings.backoff_s * (2 ** attempt)
    return float(min(settings.max_backoff_s, base * (0.5 + random.random() / 2)))


Sleep = Callable[[float], Awaitable[None]]


@asynccontextmanager
async def open_stream(settings: ProviderSettings, what: str, url: str,
                      headers: dict[str, str], body: dict[str, Any],
                      sleep: Sleep = asyncio.sleep) -> AsyncIterator[httpx.Response]:
    """A 200 streaming response to `POST url`, retrying 429/5xx and failed connects."""
    timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
    async with httpx.AsyncClient(timeout=timeout) as client:
        attempt = 0
        while True:
            hinted: float | None = None
            try:
                request = client.build_request("POST", url, headers=headers, json=body)
                response = await client.send(request, stream=True)
            except httpx.TransportError as error:
                failure = ProviderError(
                    f"{what}: could not reach {url}: {type(error).__name__}"
                    f" {scrub(str(error), settings.api_key)}".rstrip(), retryable=True)
            else:
                if response.status_code == 200:
                    try:
                        yield response
                    finally:
                        await response.aclose()
                    return
                text = error_text(await response.aread())
                await response.aclose()
                hinted = retry_after_s(response)
                failure = ProviderError(
                    f"{what}: HTTP {response.status_code}:"
                    f" {scrub(text, settings.api_key)}",
                    status=response.status_code,
                    retryable=response.status_code in RETRY_STATUSES)
            if not failure.retryable or attempt >= settings.max_retries:
                if attempt:
                    failure.args = (f"{failure.message} (after {attempt + 1} attempts)",)
                raise failure
            await sleep(backoff_delay(settings, attempt, hinted))
            attempt += 1


async def sse_events(response: httpx.Response, what: str, secret: str | None
                     ) -> AsyncIterator[tuple[str, str]]:
    """`(event, data)` pairs of a server-sent-event stream; a cut stream is a ProviderError."""
    event, data = "", list[str]()
    try:
        async for line in response.aiter_lines():
            if not line:
                if data:
                    yield event or "message", "\n".join(data)
                event, data = "", []
            elif line.startswith(":"):
                continue
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
    except httpx.TimeoutException:
        raise ProviderError(f"{what}: no data for the read timeout; the stream was"
                            " abandoned") from None
    except httpx.TransportError as error:
        raise ProviderError(f"{what}: the connection dropped mid-stream"
                            f" ({type(error).__name__}: {scrub(str(error), secret)})"
                            ) from None
    if data:
        yield event or "message", "\n".join(data)


def parse_json(data: str, what: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise ProviderError(f"{what}: the stream sent invalid JSON: {data[:200]!r}") from None


def tool_args(text: str) -> tuple[dict[str, Any], str | None]:
    """A tool call's assembled argument text as an object (`{}` when empty), or an error."""
    if not text.strip():
        return {}, None
    try:
        value = json.loads(text)
    except ValueError:
        return {}, f"the arguments are not valid JSON: {text[:200]!r}"
    if not isinstance(value, dict):
        return {}, f"the arguments must be a JSON object, got {text[:200]!r}"
    return value, None
