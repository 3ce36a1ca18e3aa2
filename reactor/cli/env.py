"""`reactor env set | get | list | remove`: environment variables of a deployment (admin)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.parse
from collections.abc import Callable
from typing import Any

from reactor.cli.app_dir import data_dir, require_app
from reactor.cli.remote import admin_key as remote_admin_key
from reactor.cli.remote import request

AppArguments = Callable[..., None]


def add_parser(commands: Any, app_arguments: AppArguments) -> None:
    """Register `reactor env ...` on the CLI's subcommands."""
    env = commands.add_parser("env", help="set, read and remove environment variables")
    actions = env.add_subparsers(dest="env_command", required=True)
    set_ = actions.add_parser("set", help="set NAME to VALUE")
    set_.add_argument("name")
    set_.add_argument("value")
    get = actions.add_parser("get", help="print the value of NAME")
    get.add_argument("name")
    listing = actions.add_parser("list", help="print every variable as NAME=VALUE")
    remove = actions.add_parser("remove", help="remove NAME")
    remove.add_argument("name")
    for action in (set_, get, listing, remove):
        app_arguments(action, positional=False)
        action.add_argument("--url", default=None,
                            help="change a running server instead of opening the data directory")
        action.add_argument("--admin-key", default=None,
                            help="admin key for --url (default: read from the data directory)")


def run(arguments: argparse.Namespace) -> int:
    if arguments.url:
        result = _remote(arguments)
    else:
        require_app(arguments.app_dir)
        result = asyncio.run(_local(arguments))
    return _print(arguments, result)


def _print(arguments: argparse.Namespace, result: Any) -> int:
    match arguments.env_command:
        case "get":
            if result is None:
                sys.stderr.write(f"{arguments.name} is not set\n")
                return 1
            sys.stdout.write(f"{result}\n")
        case "list":
            for name, value in sorted(result.items()):
                sys.stdout.write(f"{name}={value}\n")
        case "remove":
            sys.stderr.write(f"removed {arguments.name}\n" if result
                             else f"{arguments.name} was not set\n")
        case "set":
            sys.stderr.write(f"set {arguments.name}\n")
    return 0


async def _local(arguments: argparse.Namespace) -> Any:
    from reactor.runtime import Engine

    engine = Engine(arguments.app_dir, data_dir(arguments))
    await engine.start()
    try:
        environment = engine.environment
        match arguments.env_command:
            case "set":
                return await environment.set(arguments.name, arguments.value)
            case "get":
                return await environment.get(arguments.name)
            case "list":
                return await environment.list()
            case _:
                return await environment.remove(arguments.name)
    finally:
        await engine.stop()


def _remote(arguments: argparse.Namespace) -> Any:
    key = remote_admin_key(arguments)
    base = arguments.url.rstrip("/") + "/api/admin/env"
    command = arguments.env_command
    if command == "list":
        return request("GET", base, key, timeout=60)["variables"]
    url = f"{base}/{urllib.parse.quote(arguments.name, safe='')}"
    if command == "set":
        request("PUT", url, key, {"value": arguments.value}, timeout=60)
        return None
    if command == "get":
        reply = request("GET", url, key, missing_ok=True, timeout=60)
        return None if reply is None else reply["value"]
    return request("DELETE", url, key, timeout=60)["removed"]
