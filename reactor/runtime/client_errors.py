"""How a failed call reads to a client, in the shapes Convex apps match on.

Every error a function call ends with carries a request id:
`[Request ID: <16 hex>] Server Error` then one line saying what happened
(`Uncaught ValueError: boom`, `Uncaught ConvexError: {"code":1}`,
`ArgumentValidationError: ...`). The same id is in the server's log line for
that call, so a user's report can be found in the log. Nested calls (an action
running a query) share the id of the request that started them.
"""

from __future__ import annotations

import contextvars
import os
import re
import sqlite3
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from reactor.errors import AppError, NotFoundError, ReactorError, StorageError
from reactor.values.render import error_data_text

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "reactor_request_id", default=None)

# Errors about the call itself, not raised inside the handler's code: they are not
# "Uncaught" exceptions of the app. Those naming the function already come as they are.
_CALL_ERRORS = frozenset({"ActionTimeout", "UserTimeExceeded", "Overloaded", "ShuttingDown"})
_NAMED_CALL_ERRORS = frozenset({"FunctionNotFound", "WrongFunctionKind"})
# Modules of a loaded app live under this package prefix (runtime/loader.py).
_APP_PACKAGE_PREFIX = "_reactor_app_"
_REQUEST_LINE = re.compile(r"^\[Request ID: [0-9a-f]{16}\] Server Error\n")
# A validation message starts with where: `args.items[0]["first name"]: ...`.
_PATH_PREFIX = re.compile(r'^(args|returns)((?:\.[A-Za-z_$][\w$]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*)'
                          r"(?=:)")


def new_request_id() -> str:
    return os.urandom(8).hex()


def current_request_id() -> str:
    """The id of the request being served, or a fresh one outside any request."""
    return _request_id.get() or new_request_id()


@contextmanager
def request_scope(request_id: str = "") -> Iterator[str]:
    """Calls made inside (nested calls too) report errors under one request id:
    `request_id` (a worker process serving part of a request), or the one already
    in force, or a new one."""
    current = _request_id.get()
    if current is not None and not request_id:
        yield current
        return
    request_id = request_id or new_request_id()
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def function_not_found(path: str, *, public: bool) -> NotFoundError:
    """The error for a path naming no function the caller may run; the leading text is
    Convex's (apps and tools match on it)."""
    if public:
        return NotFoundError(f"Could not find public function for '{path}'. Check the path"
                             " (module:function) and that the function is public, not"
                             " internal.", code="FunctionNotFound")
    return NotFoundError(f"Could not find function for '{path}'. Check the path"
                         " (module:function).", code="FunctionNotFound")


def server_error(request_id: str, summary: str) -> str:
    """The whole message a client sees: the request id line, then the summary."""
    return f"[Request ID: {request_id}] Server Error\n{summary}"


def same_failure(first: str | None, second: str | None) -> bool:
    """Whether two messages tell of the same failure, whatever their request ids."""
    if first is None or second is None:
        return first is second
    return _REQUEST_LINE.sub("", first, count=1) == _REQUEST_LINE.sub("", second, count=1)


def summarize(path: str, error: BaseException) -> str:
    """The line (or lines) saying what went wrong, as Convex words it."""
    if isinstance(error, AppError):
        # The data, as the official client prints it; unless the app chose a message.
        chosen = str(error) != str(AppError(error.data))
        return f"Uncaught ConvexError: {error if chosen else error_data_text(error.data)}"
    if isinstance(error, OSError | sqlite3.Error):
        # Their text names files of the server: it stays in the log.
        return f"Uncaught {type(error).__name__} (the details are in the server log)"
    if not isinstance(error, ReactorError):
        return f"Uncaught {type(error).__name__}: {error}"
    if error.code == "ArgsValidation":
        return _validation("ArgumentValidationError", path, error.message)
    if error.code == "ReturnsValidation":
        return _validation("ReturnsValidationError", path, error.message)
    if error.code == "OptimisticConcurrency":
        return f"OptimisticConcurrencyControlFailure: {path}: {error.message}"
    if isinstance(error, StorageError):
        return f"{path}: {error.public_message}"  # the server's failure, not the app's
    if error.code in _NAMED_CALL_ERRORS:
        return error.message
    if error.code in _CALL_ERRORS:
        return f"{path}: {error.public_message}"
    return f"Uncaught {type(error).__name__}: {path}: {error.public_message}"


def _validation(kind: str, path: str, explanation: str) -> str:
    """`<kind>: Value does not match validator.`, Convex's `Path: .a.b`, then ours."""
    match = _PATH_PREFIX.match(explanation)
    lines = [f"{kind}: Value does not match validator."]
    if match is not None and match.group(2):
        lines.append(f"Path: {match.group(2)}")
    lines.append(f"{path}: {explanation}")
    return "\n".join(lines)


def app_trace(error: BaseException) -> str:
    """The frames of the app's own code, innermost first (`at fn (functions/x.py:12)`);
    Reactor's and the standard library's frames are left out."""
    lines = []
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if not module.startswith(_APP_PACKAGE_PREFIX):
            continue
        relative = module.partition(".")[2].replace(".", "/") or "__init__"
        lines.append(f"    at {frame.f_code.co_name} ({relative}.py:{lineno})")
    return "\n".join(reversed(lines))
