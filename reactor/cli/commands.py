"""`reactor run` and `reactor admin-key`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from typing import Any

from reactor.cli.app_dir import data_dir, require_app
from reactor.cli.database_arg import open_engine
from reactor.cli.remote import admin_key as remote_admin_key
from reactor.cli.remote import request
from reactor.errors import ReactorError
from reactor.runtime.auth import AdminKey
from reactor.runtime.scope import qualified_path
from reactor.values import from_wire, to_wire


def _parse_args(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReactorError(f"ARGS is not valid JSON: {error}", code="BadArguments") from None
    if not isinstance(parsed, dict):
        raise ReactorError("ARGS must be a JSON object", code="BadArguments")
    return parsed


def parse_identity(text: str | None) -> dict[str, Any] | None:
    """`--identity '{"subject": "u1", ...}'`: the user a function runs as, with the
    `issuer` ("admin" unless given) and `tokenIdentifier` a server gives an admin
    acting as that user."""
    if text is None:
        return None
    try:
        identity = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReactorError(f"--identity is not valid JSON: {error}",
                           code="BadArguments") from None
    if not isinstance(identity, dict) or not isinstance(identity.get("subject"), str):
        raise ReactorError('--identity must be a JSON object with a "subject" string, e.g.'
                           ' \'{"subject": "user-1", "name": "Ada"}\'', code="BadArguments")
    issuer = str(identity.get("issuer", "admin"))
    return {**identity, "issuer": issuer,
            "tokenIdentifier": f"{issuer}|{identity['subject']}"}


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def run(arguments: argparse.Namespace) -> int:
    if arguments.component:
        arguments.path = qualified_path(arguments.component, arguments.path)
    args = _parse_args(arguments.args)
    identity = parse_identity(arguments.identity)
    if arguments.url:
        return _run_remote(arguments, args, identity)
    require_app(arguments.app_dir)
    return asyncio.run(_run_local(arguments, args, identity))


async def _run_local(arguments: argparse.Namespace, args: dict[str, Any],
                     identity: dict[str, Any] | None) -> int:
    engine = await open_engine(arguments, data_dir(arguments), reading=False)
    try:
        # As a user, only public functions, as a client would; otherwise as the admin.
        as_admin = identity is None
        fn = engine.resolve(arguments.path, public_only=not as_admin, admin=as_admin)
        outcome = await engine.call(fn.kind, arguments.path, from_wire(args, "args"),
                                    identity, admin=as_admin)
    finally:
        await engine.stop()
    for line in outcome.log_lines:
        sys.stderr.write(line + "\n")
    if outcome.error is not None:
        sys.stderr.write(f"error [{outcome.error.code}]: {outcome.error.message}\n")
        if outcome.error.is_app_error:
            sys.stderr.write(f"data: {json.dumps(to_wire(outcome.error.data))}\n")
        return 1
    _print(to_wire(outcome.value))
    return 0


def _run_remote(arguments: argparse.Namespace, args: dict[str, Any],
                identity: dict[str, Any] | None) -> int:
    key = remote_admin_key(arguments)
    if identity is not None:
        # The admin acting as the user: the server's `Convex KEY:IDENTITY` form.
        key += ":" + base64.b64encode(json.dumps(identity).encode()).decode()
    base = arguments.url.rstrip("/")
    reply = request("POST", f"{base}/api/run", key,
                    {"path": arguments.path, "format": "convex_encoded_json", "args": [args]})
    for line in reply.get("logLines", []):
        sys.stderr.write(line + "\n")
    if reply.get("status") == "success":
        _print(reply["value"])
        return 0
    sys.stderr.write(f"error: {reply.get('errorMessage', '')}\n")
    if "errorData" in reply:
        sys.stderr.write(f"data: {json.dumps(reply['errorData'])}\n")
    return 1


def admin_key(arguments: argparse.Namespace) -> int:
    sys.stdout.write(AdminKey.load_or_create(data_dir(arguments)).value + "\n")
    return 0
