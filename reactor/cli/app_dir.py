"""The app folder a command works on, and its data directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from reactor.errors import ReactorError


def require_app(app_dir: Path) -> Path:
    """`app_dir` if it is an app (a `schema.py` or a `functions/` folder); refuse it
    otherwise, before anything is created in it (no `.reactor/` in the wrong folder)."""
    if not app_dir.is_dir():
        raise ReactorError(f"{app_dir}: no such folder; create an app with"
                           " `reactor init NAME`", code="NotAnApp")
    if not (app_dir / "schema.py").is_file() and not (app_dir / "functions").is_dir():
        raise ReactorError(f"{app_dir.resolve()} is not a Reactor app: it has no schema.py and"
                           " no functions/ folder (create one with `reactor init NAME`, or"
                           " pass the app's folder)", code="NotAnApp")
    return app_dir


def data_dir(arguments: argparse.Namespace) -> Path:
    """`--data`, or the app's own `.reactor/` (what `reactor dev` uses by default)."""
    return arguments.data_dir or Path(arguments.app_dir) / ".reactor"
