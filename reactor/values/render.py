"""Short, readable renderings of values for error messages and type descriptions."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from reactor.values.model import IDENTIFIER_RE, MISSING, Int64

_MAX_STRING_CHARS = 40
_MAX_KEYS_SHOWN = 5


def render_number(value: float) -> str:
    """A float the way JavaScript prints it (`3`, `2.5`, `1e+21`, `1e-7`, `NaN`, `-0`).

    Python's `repr` already gives the shortest digits that round-trip, as
    JavaScript does; only where the decimal point goes and when to switch to
    an exponent differ (JavaScript: from 1e21 up and below 1e-6).
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        # String(-0) is "0" in JavaScript; messages keep the sign (as console.log does).
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    exact = Decimal(repr(abs(float(value)))).normalize()
    _, digit_tuple, exponent = exact.as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # digits before the decimal point
    if len(digits) <= point <= 21:
        text = digits + "0" * (point - len(digits))
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
        text = f"{mantissa}e{'+' if point > 0 else '-'}{abs(point - 1)}"
    return sign + text


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
        return f"{int(value)}n"
    if isinstance(value, float) or (isinstance(value, int) and abs(value) <= 2**53):
        return render_number(float(value))
    if isinstance(value, int):
        return str(value)
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


# The official client cuts the text of a ConvexError's data at this many characters.
MAX_ERROR_TEXT_CHARS = 16_384
_TRUNCATED = "[...truncated]"


def error_data_text(value: Any) -> str:
    """A value as the official client prints a `ConvexError`'s data: a string as is,
    anything else as compact JSON in its order, int64 as `"123n"`, bytes as `{}`."""
    text = value if isinstance(value, str) else _js_json(value)
    if len(text) > MAX_ERROR_TEXT_CHARS:
        text = text[:MAX_ERROR_TEXT_CHARS - len(_TRUNCATED)] + _TRUNCATED
    return text


def _js_json(value: Any) -> str:
    """`JSON.stringify` of the value the client decodes (bigint as its text plus "n")."""
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Int64):
        return f'"{int(value)}n"'
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            return "null"
        return "0" if number == 0 else render_number(number)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bytes):
        return "{}"  # an ArrayBuffer has no enumerable properties
    if isinstance(value, list | tuple):
        return "[" + ",".join(_js_json(item) for item in value) + "]"
    if isinstance(value, dict):
        # A JavaScript object lists integer-like keys first, in numeric order.
        keys = list(value)
        index_keys = sorted((k for k in keys if _is_array_index(k)), key=int)
        ordered = index_keys + [k for k in keys if not _is_array_index(k)]
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_js_json(value[k])}"
                              for k in ordered) + "}"
    return json.dumps(str(value), ensure_ascii=False)


def _is_array_index(key: object) -> bool:
    return (isinstance(key, str) and key.isdigit() and key.isascii()
            and (key == "0" or not key.startswith("0")) and int(key) < 2**32 - 1)
