"""Client-supplied text in the server log is clipped: a client must not be able to write
megabytes into the operator's log (a refused token's claims, a request body, a frame)."""

from __future__ import annotations

LOG_CHARS = 200


def clip(text: str | bytes, limit: int = LOG_CHARS) -> str:
    """`text` as at most `limit` characters, saying how much was left out."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"
