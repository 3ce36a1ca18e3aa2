"""Short, readable renderings of values for error messages and type descriptions."""

from __future__ import annotations

import json
import math
from typing import Any

from reactor.values.model import IDENTIFIER_RE, MISSING, Int64

_MAX_STRING_CHARS = 40
_MAX_KEYS_SHOWN = 5


def render_number(value: float) -> str:
    """A float the way JavaScript prints it (`3`, `2.5`, `NaN`, `-Infinity`)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 1e21:
        return "-0" if math.copysign(1.0, value) < 0 and value == 0 else str(int(value))
    return repr(value)


def render_literal(value: Any) -> str:
    """A literal as in a TypeScript type: `"RUNNING"`, `3`, `3n`, `true`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Int64):
        return f"{int(value)}n"
    if isinstance(value, float):
        return render_number(value)
    return json.dumps(value, ensure_ascii=False)


def render_field_name(name: str) -> str:
    """A field name in a type description: bare if an identifier, else quoted."""
    return name if IDENTIFIER_RE.fullmatch(name) else json.dumps(name)


def short_repr(value: Any) -> str:
    """The `got ...` part of a message: enough to recognise the value, never huge."""
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Int64):
        return repr(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return render_number(value) if not math.isfinite(value) else repr(float(value))
    if isinstance(value, str):
        if len(value) > _MAX_STRING_CHARS:
            return json.dumps(value[:_MAX_STRING_CHARS], ensure_ascii=False)[:-1] + '..."'
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return f"bytes of length {len(value)}"
    if isinstance(value, list):
        return f"array of length {len(value)}"
    if isinstance(value, dict):
        keys = [str(key) for key in list(value)[:_MAX_KEYS_SHOWN]]
        more = ", ..." if len(value) > _MAX_KEYS_SHOWN else ""
        return "object {" + ", ".join(keys) + more + "}"
    text = repr(value)
    if len(text) > _MAX_STRING_CHARS:
        text = text[:_MAX_STRING_CHARS] + "..."
    return f"{type(value).__name__} {text}"
