"""Capturing `print` and `logging` inside a function as that execution's log lines."""

from __future__ import annotations

import contextvars
import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

MAX_LINES = 256
MAX_LINE_CHARS = 4_096

_LEVELS = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN",
           logging.ERROR: "ERROR", logging.CRITICAL: "ERROR"}


class LogSink:
    """Lines like `"[LOG] text"`, as the client prints them to the browser console."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._partial = ""
        self.dropped = 0

    def add(self, level: str, text: str) -> None:
        if len(self.lines) >= MAX_LINES:
            self.dropped += 1
            return
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + " (truncated)"
        self.lines.append(f"[{level}] {text}")

    def write(self, text: str) -> None:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        for line in complete:
            self.add("LOG", line)

    def finish(self) -> list[str]:
        if self._partial:
            self.add("LOG", self._partial)
            self._partial = ""
        if self.dropped:
            self.lines.append(f"[WARN] {self.dropped} more log lines were dropped"
                              f" (at most {MAX_LINES} per execution)")
            self.dropped = 0
        return self.lines


_current: contextvars.ContextVar[LogSink | None] = contextvars.ContextVar(
    "reactor_log_sink", default=None)


class _StdoutRouter(io.TextIOBase):
    """Stands in for sys.stdout: text written inside a function goes to its sink."""

    def __init__(self, fallback: TextIO) -> None:
        self.fallback = fallback

    def write(self, text: str) -> int:
        sink = _current.get()
        if sink is None:
            return self.fallback.write(text)
        sink.write(text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self.fallback.flush()

    def isatty(self) -> bool:
        return self.fallback.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.fallback, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.fallback.fileno()


class _SinkHandler(logging.Handler):
    """Sends records of app loggers to the running function's sink, else to stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _current.get()
        if sink is not None:
            sink.add(_LEVELS.get(record.levelno, "LOG"), self.format(record))
        elif record.levelno >= logging.WARNING:
            sys.stderr.write(self.format(record) + "\n")


_handler = _SinkHandler()
_handler.setFormatter(logging.Formatter("%(message)s"))


def install() -> None:
    """Route stdout through the current sink (idempotent).

    Checked on every capture: a test runner or library may have swapped
    sys.stdout since, and prints would then bypass the sink.
    """
    if not isinstance(sys.stdout, _StdoutRouter):
        sys.stdout = _StdoutRouter(sys.stdout)


def capture_app_loggers(package: str) -> None:
    """`logging.getLogger(__name__)` in an app module logs into its function's lines."""
    app_logger = logging.getLogger(package)
    app_logger.setLevel(logging.DEBUG)
    app_logger.propagate = False
    if _handler not in app_logger.handlers:
        app_logger.addHandler(_handler)


@contextmanager
def capture() -> Iterator[LogSink]:
    install()
    sink = LogSink()
    token = _current.set(sink)
    try:
        yield sink
    finally:
        _current.reset(token)
        sink.finish()


def current_sink() -> LogSink | None:
    """The sink of the function running in this task, if any."""
    return _current.get()
