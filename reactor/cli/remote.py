"""Calling a running server (`--url`): its admin key, and requests with readable errors."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from typing import Any

from reactor.cli.app_dir import data_dir
from reactor.errors import ReactorError
from reactor.runtime.auth import AdminKey
from reactor.runtime.auth.admin_key import ADMIN_KEY_FILE
from reactor.runtime.auth.secret_files import AUTH_DIR


def admin_key(arguments: argparse.Namespace) -> str:
    """`--admin-key`, or the key in the existing data directory of the server called."""
    if arguments.admin_key:
        return str(arguments.admin_key)
    folder = data_dir(arguments)
    if not (folder / AUTH_DIR / ADMIN_KEY_FILE).is_file():
        raise ReactorError(f"--url needs the server's admin key, and {folder} has none: pass"
                           " --admin-key KEY (`reactor admin-key --data DIR` prints it where"
                           " the server runs) or --data DIR (the server's data directory)",
                           code="AdminKeyMissing")
    return AdminKey.load_or_create(folder).value


def request(method: str, url: str, key: str, body: dict[str, Any] | None = None, *,
            missing_ok: bool = False, timeout: float = 600) -> Any:
    """One admin call; failures become a `ReactorError` with the server's own message."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Convex {key}"}
    call = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if missing_ok and error.code == 404:
            return None
        raise server_error(url, error) from None
    except urllib.error.URLError as error:
        raise ReactorError(f"cannot reach {url}: {error.reason}",
                           code="ServerUnreachable") from None


def server_error(url: str, error: urllib.error.HTTPError) -> ReactorError:
    """The server's `{"code", "message"}` as an error; any other body in a sentence."""
    body = error.read()
    try:
        reply = json.loads(body)
        return ReactorError(f"{url}: {reply['message']}", code=str(reply["code"]))
    except (ValueError, KeyError, TypeError):
        text = body.decode(errors="replace").strip()[:200]
        detail = f": {text}" if text else ""
        return ReactorError(f"{url}: HTTP {error.code}{detail}", code="ServerError")
