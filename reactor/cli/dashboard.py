"""`reactor dashboard`: a dashboard link with a one-time login code instead of the key."""

from __future__ import annotations

import argparse
import sys
import webbrowser
from collections.abc import Callable
from typing import Any

from reactor.cli.remote import admin_key
from reactor.server.login_codes import CODE_TTL_S, make_code

DEFAULT_URL = "http://127.0.0.1:3210"


def add_parser(commands: Any, app_arguments: Callable[..., None]) -> None:
    """Register `reactor dashboard` on the CLI's subcommands."""
    parser = commands.add_parser("dashboard", help="print (or open) a sign-in link to the"
                                 " dashboard of a running server")
    app_arguments(parser, positional=False)
    parser.add_argument("--url", default=DEFAULT_URL,
                        help=f"where the server listens (default {DEFAULT_URL})")
    parser.add_argument("--admin-key", default=None,
                        help="the server's admin key (default: read from the data directory)")
    parser.add_argument("--open", action="store_true", help="open the link in a browser")


def run(arguments: argparse.Namespace) -> int:
    code = make_code(admin_key(arguments))
    # The code rides in the fragment: browsers never send it in a request or a Referer.
    link = f"{arguments.url.rstrip('/')}/_dashboard/#code={code}"
    sys.stdout.write(link + "\n")
    sys.stderr.write(f"the link signs in once, within {CODE_TTL_S / 60:g} minutes\n")
    if arguments.open:
        webbrowser.open(link)
    return 0
