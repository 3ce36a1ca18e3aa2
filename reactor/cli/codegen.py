"""`reactor codegen [APP_DIR]`: write typed function references for JS/TS clients."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from reactor.cli.app_dir import require_app
from reactor.runtime.codegen import CLIENTS, GENERATED_DIR, generated_client, write_api


def add_parser(commands: Any) -> None:
    """Register `reactor codegen` on the CLI's subcommands."""
    codegen = commands.add_parser(
        "codegen", help="write _generated/api.js, api.cjs and api.d.ts: typed references to"
                        " the functions")
    codegen.add_argument("app_dir", nargs="?", default=".", type=Path,
                         help="the app directory (schema.py, functions/); default: .")
    codegen.add_argument("--out", dest="out_dir", type=Path, default=None,
                         help="where to write the files; default: APP_DIR/_generated")
    codegen.add_argument("--client", choices=sorted(CLIENTS), default="reactor",
                         help="the client the references are for: reactor (reactor-client,"
                              " the default) or convex (the official `convex` package, for"
                              " convex/react's useQuery and friends)")


def run(arguments: argparse.Namespace) -> int:
    require_app(arguments.app_dir)
    for path in write_api(arguments.app_dir, arguments.out_dir, arguments.client):
        sys.stdout.write(f"wrote {path}\n")
    return 0


def refresh(app_dir: Path) -> str | None:
    """For `reactor dev`: rewrite APP_DIR/_generated in the flavour it holds, if the app
    has one (running `reactor codegen` once opts in); what was done, for the log."""
    client = generated_client(app_dir / GENERATED_DIR)
    if client is None:
        return None
    write_api(app_dir, None, client)
    return f"regenerated {GENERATED_DIR}/ ({client} client)"
