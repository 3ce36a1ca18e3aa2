"""What a function call produced: a value or an error, its log lines, its timestamp."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reactor.errors import ReactorError
from reactor.transactions import ReadSet


class FunctionError(ReactorError):
    """A call failed; `message` is safe to show a client (never a traceback).

    `data` is the application's `AppError` data (the client's `errorData`), or
    None for errors Reactor raised itself. `summary` is the message without its
    request id line (client_errors.py); `trace` the app's own frames, if any.
    """

    code = "FunctionError"

    def __init__(self, message: str, *, code: str | None = None, data: Any = None,
                 is_app_error: bool = False, log_lines: list[str] | None = None,
                 request_id: str = "", summary: str | None = None, trace: str = "") -> None:
        super().__init__(message, code=code)
        self.data = data
        self.is_app_error = is_app_error
        self.log_lines = log_lines or []
        self.request_id = request_id
        self.summary = message if summary is None else summary
        self.trace = trace


@dataclass
class Outcome:
    """The result of one call through the engine."""

    path: str
    value: Any = None
    error: FunctionError | None = None
    log_lines: list[str] = field(default_factory=list)
    ts: int | None = None
    read_set: ReadSet | None = None
    duration_s: float = 0.0
    attempts: int = 1
    # The value's convex-JSON encoding when it is already at hand (a cached query).
    encoded: bytes | None = None
    # How the call came about, for the dev log: "live" / "live, re-run" for live queries.
    note: str = ""
    # The request it served (errors carry the same id) and the caller's identity subject,
    # filled in when the call is reported (Engine.report), for the execution log.
    request_id: str = ""
    caller: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> Any:
        """The value, or the error raised (for Python callers and tests)."""
        if self.error is not None:
            self.error.log_lines = self.log_lines
            raise self.error
        return self.value
