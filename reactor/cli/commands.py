"""`reactor run` and `reactor admin-key`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from reactor.errors import ReactorError
from reactor.runtime import Engine
from reactor.runtime.auth import AdminKey
from reactor.runtime.auth.admin_key import ADMIN_KEY_FILE
from reactor.runtime.auth.secret_files import AUTH_DIR
from reactor.values import from_wire, to_wire


def _data_dir(arguments: argparse.Namespace) -> Path:
    app_dir: Path = arguments.app_dir
    return arguments.data_dir or app_dir / ".reactor"


def _parse_args(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReactorError(f"ARGS is not valid JSON: {error}", code="BadArguments") from None
    if not isinstance(parsed, dict):
        raise ReactorError("ARGS must be a JSON object", code="BadArguments")
    return parsed


def _print(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def run(arguments: argparse.Namespace) -> int:
    args = _parse_args(arguments.args)
    if arguments.url:
        return _run_remote(arguments, args)
    return asyncio.run(_run_local(arguments, args))


async def _run_local(arguments: argparse.Namespace, args: dict[str, Any]) -> int:
    engine = Engine(arguments.app_dir, _data_dir(arguments))
    await engine.start()
    try:
        fn = engine.resolve(arguments.path)
        outcome = await engine.call(fn.kind, arguments.path, from_wire(args, "args"),
                                    admin=True)
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


def _remote_admin_key(arguments: argparse.Namespace) -> str:
    """`--admin-key`, or the key in the (existing) data directory of the server called."""
    if arguments.admin_key:
        return str(arguments.admin_key)
    data_dir = _data_dir(arguments)
    if not (data_dir / AUTH_DIR / ADMIN_KEY_FILE).is_file():
        raise ReactorError(f"no admin key in {data_dir}: pass --admin-key KEY (printed by"
                           " `reactor admin-key` where the server runs) or --data DIR",
                           code="AdminKeyMissing")
    return AdminKey.load_or_create(data_dir).value


def _run_remote(arguments: argparse.Namespace, args: dict[str, Any]) -> int:
    key = _remote_admin_key(arguments)
    base = arguments.url.rstrip("/")
    body = json.dumps({"path": arguments.path, "format": "convex_encoded_json",
                       "args": [args]}).encode()
    request = urllib.request.Request(f"{base}/api/run", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Convex {key}"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            reply = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ReactorError(f"{base}: HTTP {error.code}: {error.read().decode()}",
                           code="ServerError") from None
    except urllib.error.URLError as error:
        raise ReactorError(f"cannot reach {base}: {error.reason}",
                           code="ServerUnreachable") from None
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
    sys.stdout.write(AdminKey.load_or_create(_data_dir(arguments)).value + "\n")
    return 0
