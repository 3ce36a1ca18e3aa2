"""What both reliability tests share: the ledger app, its server, HTTP calls, the long-run flag."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

LEDGER_APP = Path(__file__).resolve().parent.parent / "apps" / "ledger"
# REACTOR_LONG=1 runs the longer variants (more crashes, longer load).
LONG = os.environ.get("REACTOR_LONG") == "1"


def call(base_url: str, kind: str, path: str, args: dict[str, Any]) -> Any:
    """A query or mutation over the HTTP API; its value, or AssertionError with the message."""
    body = json.dumps({"path": path, "format": "convex_encoded_json", "args": [args]}).encode()
    request = urllib.request.Request(f"{base_url}/api/{kind}", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", f"{path}: {answer}"
    return answer["value"]
