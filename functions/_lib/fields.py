"""Building documents from optional arguments: an absent argument is an absent field."""

from __future__ import annotations

from typing import Any


def present(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` without the None values (optional columns are absent, never null)."""
    return {name: value for name, value in fields.items() if value is not None}
