"""`reactor init NAME`: a new app folder to start from, with a function, a test and a README."""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template
from typing import Any

from reactor.errors import ReactorError

TEMPLATE_SUFFIX = ".tmpl"
# Files whose name starts with a dot are stored without it, so tools leave them alone.
DOTTED = {"gitignore"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def add_parser(commands: Any) -> None:
    """Register `reactor init` on the CLI's subcommands."""
    init = commands.add_parser("init", help="create a new app folder: schema.py, functions/,"
                                            " a test, .gitignore and a README")
    init.add_argument("path", type=Path, help="the folder to create, e.g. myapp")


def _templates() -> Traversable:
    return resources.files("reactor.cli").joinpath("templates", "app")


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, str]]:
    """(relative path, template text) of every template below `folder`."""
    found: list[tuple[str, str]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found.extend(_files(entry, f"{prefix}{entry.name}/"))
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            name = entry.name.removesuffix(TEMPLATE_SUFFIX)
            found.append((f"{prefix}{'.' if name in DOTTED else ''}{name}",
                          entry.read_text(encoding="utf-8")))
    return found


def create_app(target: Path) -> list[Path]:
    """Write the new app into `target`, which must not exist or be empty."""
    name = target.resolve().name
    if not _NAME.match(name):
        raise ReactorError(f"{name!r} is not a usable app name: use letters, digits, '.',"
                           " '_' and '-'", code="BadAppName")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ReactorError(f"{target} already exists and is not an empty folder; choose"
                           " another name", code="AppExists")
    written = []
    for relative, text in _files(_templates()):
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(name=name), encoding="utf-8")
        written.append(path)
    return written


def run(arguments: argparse.Namespace) -> int:
    target: Path = arguments.path
    written = create_app(target)
    for path in written:
        sys.stdout.write(f"created {path}\n")
    sys.stdout.write(f"\nNext:\n  cd {target}\n  reactor dev\n")
    return 0
