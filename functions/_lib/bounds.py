"""Size bounds on the example app's inputs, checked before the input is used.

The server bounds a whole request; these bound each field, so that one call cannot
store a megabyte title or a thousand todos, and nothing parses an oversized string.
"""

from __future__ import annotations

from typing import Final

from reactor.auth.password import bounded

from .errors import app_error

MAX_TITLE_CHARS: Final = 500
MAX_SHORT_CHARS: Final = 255  # branch names, commit SHAs, model names, ids
MAX_URL_CHARS: Final = 2_000
MAX_REPO_CHARS: Final = 200
MAX_CONTENT_CHARS: Final = 100_000  # a message
MAX_NOTE_CHARS: Final = 10_000  # a memory, a todo
MAX_ITEMS: Final = 200  # todos per write


def bound_all(limit: int, **fields: str | None) -> None:
    """`InvalidArgument` naming the first field longer than `limit` characters."""
    for name, value in fields.items():
        if value is not None:
            bounded(value, name, limit)


def bound_items(items: list[object], field: str) -> None:
    if len(items) > MAX_ITEMS:
        raise app_error("InvalidArgument", f"{field}: at most {MAX_ITEMS} items, got"
                        f" {len(items)}", field=field, maxLength=MAX_ITEMS)
