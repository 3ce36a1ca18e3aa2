"""The messages between the server and an action worker process (action_worker.py).

An action whose code held the event loop too long runs its next calls in a
worker process (action_workers.py). Unlike a query or a mutation it is not a
transaction to ship back whole: it talks to the server while it runs. The
worker sends a `CtxRequest` for each `ctx` call that needs the server
(`run_query`, `run_mutation`, `run_action`, the scheduler, the environment,
file storage, rate limits, vector search, token verification); the server runs
it with the call's real `ActionCtx` and answers with a `CtxReply`. The action
ends with an `ActionDone`. Frames are pickles, as for the query workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reactor.runtime.outcome import FunctionError

# (message, code, data, is_app_error, request_id, summary, trace) of a FunctionError.
ErrorFields = tuple[str, str, Any, bool, str, str, str]


def error_fields(error: FunctionError) -> ErrorFields:
    return (error.message, error.code, error.data, error.is_app_error, error.request_id,
            error.summary, error.trace)


def function_error(fields: ErrorFields) -> FunctionError:
    message, code, data, is_app_error, request_id, summary, trace = fields
    return FunctionError(message, code=code, data=data, is_app_error=is_app_error,
                         request_id=request_id, summary=summary, trace=trace)


@dataclass(frozen=True)
class ActionCall:
    """Run the action at `path` with its checked `args` as `identity`."""

    path: str
    args: dict[str, Any]
    identity: dict[str, Any] | None
    now_ms: float
    timeout_s: float
    request_id: str = ""


@dataclass(frozen=True)
class CtxRequest:
    """`target.method(*args, **kwargs)` on the server's ctx of the running action."""

    number: int
    target: str
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CtxReply:
    number: int
    value: Any = None
    error: ErrorFields | None = None
    # For calls of other functions: their log lines, which join the action's.
    log_lines: list[str] = field(default_factory=list)


@dataclass
class ActionDone:
    value: Any = None
    error: ErrorFields | None = None
    log_lines: list[str] = field(default_factory=list)
    longest_step_s: float = 0.0
