"""`reactor codegen [APP_DIR]`: write typed function references for JS/TS clients."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from reactor.runtime.codegen import write_api


def add_parser(commands: Any) -> None:
    """Register `reactor codegen` on the CLI's subcommands."""
    codegen = commands.add_parser(
        "codegen", help="write _generated/api.js and api.d.ts: typed references to the functions")
    codegen.add_argument("app_dir", nargs="?", default=".", type=Path,
                         help="the app directory (schema.py, functions/); default: .")
    codegen.add_argument("--out", dest="out_dir", type=Path, default=None,
                         help="where to write the files; default: APP_DIR/_generated")


def run(arguments: argparse.Namespace) -> int:
    for path in write_api(arguments.app_dir, arguments.out_dir):
        sys.stdout.write(f"wrote {path}\n")
    return 0
