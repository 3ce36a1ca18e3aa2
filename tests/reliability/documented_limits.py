"""Every limit the guide documents, with its documented default, and the numbers the guide's
limit sections actually state (for the test that keeps the two in step)."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parent.parent.parent / "docs" / "guide"
KIB = 1024
MIB = 1024 * KIB

# Name of the catalogue case -> the documented default (None: a rule with no number).
DOCUMENTED: dict[str, float | None] = {
    # values.md and schema.md
    "document size": 1 * MIB,
    "nesting": 16,
    "array items": 8_192,
    "object fields": 1_024,
    "nested field name length": 1_024,
    "nested field name characters": None,
    "dollar prefix": None,
    "top-level field name": 64,
    "reserved underscore": None,
    "table name": 64,
    "integer precision": 2**53,
    "indexes per table": 32,
    "fields per index": 16,
    # functions.md
    "documents scanned": 32_000,
    "bytes read": 16 * MIB,
    "index ranges": 4_096,
    "documents written": 16_000,
    "bytes written": 16 * MIB,
    "user time": 1,
    # operations.md and clients.md (server settings)
    "message size": 8 * MIB,
    "queries per connection": 4_096,
    "in-flight requests": 1_024,
    "outbox messages": 2_048,
    "send timeout": 30,
    "ping interval": 15,
    "transition chunk": 4 * MIB,
    "upload size": 4_096 * MIB,
    "upload timeout": 600,
    "uploads per minute": 600,
    # actions.md and environment.md
    "action timeout": 600,
    "action step": 1,
    "concurrent actions": 64,
    "environment variable name": 40,
    "environment variable value": 8 * KIB,
}

# Where the guide states limits: (page, heading that opens the section, text that ends it).
LIMIT_SECTIONS = [
    ("values.md", "## Limits", None),
    ("schema.md", "## Limits", None),
    ("functions.md", "## Limits", "## "),
    ("operations.md", "## Server settings", "## "),
    ("clients.md", "## Limits and close reasons", "How a socket ends"),
    ("actions.md", "## Limits", "## "),
    ("environment.md", "- Names:", "- The variables"),
]

# The rows of the limit tables in those sections -> the catalogue name of the limit.
ROW_LIMITS = {
    "document size": "document size",
    "nesting of arrays and objects": "nesting",
    "nesting depth": "nesting",
    "array length": "array items",
    "array items": "array items",
    "object fields": "object fields",
    "nested field name": "nested field name length",
    "top-level field or table name": "top-level field name",
    "table and top-level field names": "table name",
    "indexes per table": "indexes per table",
    "fields per index": "fields per index",
    "REACTOR_MAX_MESSAGE_BYTES": "message size",
    "size of one message or HTTP body": "message size",
    "REACTOR_MAX_QUERIES_PER_CONNECTION": "queries per connection",
    "live queries per connection": "queries per connection",
    "REACTOR_MAX_INFLIGHT_REQUESTS": "in-flight requests",
    "mutations and actions in flight per connection": "in-flight requests",
    "REACTOR_MAX_OUTBOX_MESSAGES": "outbox messages",
    "responses waiting to be written": "outbox messages",
    "REACTOR_SEND_TIMEOUT_S": "send timeout",
    "time to write one message": "send timeout",
    "REACTOR_PING_INTERVAL_S": "ping interval",
    "silence before the server sends a Ping": "ping interval",
    "REACTOR_TRANSITION_CHUNK_BYTES": "transition chunk",
    "Transition size before splitting into chunks": "transition chunk",
    "REACTOR_MAX_UPLOAD_BYTES": "upload size",
    "REACTOR_UPLOAD_TIMEOUT_S": "upload timeout",
    "REACTOR_UPLOADS_PER_MINUTE": "uploads per minute",
    "run time of one action": "action timeout",
    "REACTOR_ACTION_TIMEOUT_S": "action timeout",
    "own code between two awaits in an action": "action step",
    "actions running at once": "concurrent actions",
}
# Rows of those tables that are settings but not limits.
NOT_LIMIT_ROWS = {"REACTOR_CORS_ORIGINS", "REACTOR_SHUTDOWN_TIMEOUT_S",
                  # The operator's own log and the wire's compression: no client meets them.
                  "REACTOR_LOG_RETENTION_S", "REACTOR_LOG_MAX_BYTES", "REACTOR_WS_COMPRESSION"}

# Numbers in those sections that are not limits of the server.
NOT_LIMITS = {60: "the official client reconnects after 60 s without a message",
              413: "the HTTP status of a body past the message size",
              10: "REACTOR_SHUTDOWN_TIMEOUT_S: how long a SIGTERM may take (not a client's limit)",
              1009: "the close code of a message past the message size"}

_UNITS = {"MiB": MIB, "KiB": KIB}
_NUMBER = re.compile(r"(?<![\w.])(\d[\d,]*)(?:\s*(MiB|KiB)\b)?")


def section(page: str, start: str, end: str | None) -> str:
    """The text of `page` from the line starting with `start` to the next `end` (or the
    next heading of the same level, or the end of the page)."""
    text = (GUIDE / page).read_text()
    begin = text.index(start)
    stop = end or ("\n" + start.split(" ")[0] + " " if start.startswith("#") else "\n\n")
    finish = text.find(stop, begin + len(start))
    return text[begin:finish if finish >= 0 else len(text)]


def stated_numbers(text: str) -> set[int]:
    """Numbers in `text` outside code spans: `8,192` is 8192, `16 MiB` is 16777216."""
    prose = re.sub(r"`[^`]*`", "", text)
    return {int(match.group(1).replace(",", "")) * _UNITS.get(match.group(2) or "", 1)
            for match in _NUMBER.finditer(prose)}


def guide_numbers() -> set[int]:
    """Every number stated anywhere in the guide."""
    return set().union(*(stated_numbers(page.read_text()) for page in GUIDE.glob("*.md")))


def documented_numbers() -> dict[int, list[str]]:
    """Each number the limit sections state (rows of settings that are not limits left
    out), with the pages that state it."""
    found: dict[int, list[str]] = {}
    for page, start, end in LIMIT_SECTIONS:
        text = "\n".join(line for line in section(page, start, end).splitlines()
                         if not any(line.startswith(f"| `{row}`") for row in NOT_LIMIT_ROWS))
        for number in stated_numbers(text):
            found.setdefault(number, []).append(page)
    return found


def limit_rows() -> list[tuple[str, str, set[int]]]:
    """(page, first cell, numbers of the second cell) of each table row in the limit
    sections, header rows left out."""
    rows = []
    for page, start, end in LIMIT_SECTIONS:
        lines = section(page, start, end).splitlines()
        for line, following in zip(lines, [*lines[1:], ""], strict=True):
            if not line.startswith("|") or line.startswith("|-") or following.startswith("|-"):
                continue
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows.append((page, cells[0].replace("`", ""), stated_numbers(cells[1])))
    return rows
