"""The app's errors: an `AppError` whose data carries a stable `code` clients can match."""

from __future__ import annotations

from typing import Any

from reactor import AppError


def app_error(code: str, message: str, **details: Any) -> AppError:
    """The error a client receives with `errorData = {"code": code, **details}`."""
    return AppError({"code": code, **details}, message)
