"""Files to and from a running server's admin endpoints (`reactor backup|export|import --url`)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from reactor.cli.remote import server_error
from reactor.errors import ReactorError

CHUNK = 1024 * 1024


def download(url: str, key: str, body: dict[str, Any], out: Path) -> int:
    """POST `body`, write the answer to the new file `out` (through a hidden temporary
    name, fsynced, then renamed); its size."""
    out = Path(out).absolute()
    if out.exists():
        raise ReactorError(f"{out} already exists; choose a new name", code="BackupExists")
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    call = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                  headers={"Content-Type": "application/json",
                                           "Authorization": f"Convex {key}"})
    try:
        with urllib.request.urlopen(call, timeout=3600) as response, \
                open(partial, "xb") as sink:
            size = 0
            while chunk := response.read(CHUNK):
                sink.write(chunk)
                size += len(chunk)
            expected = response.headers.get("Content-Length")
            if expected is not None and int(expected) != size:
                raise ReactorError(f"{url}: the transfer stopped after {size} of {expected}"
                                   " bytes", code="ServerError")
            sink.flush()
            os.fsync(sink.fileno())
        os.rename(partial, out)
        return size
    except urllib.error.HTTPError as error:
        raise server_error(url, error) from None
    except urllib.error.URLError as error:
        raise ReactorError(f"cannot reach {url}: {error.reason}",
                           code="ServerUnreachable") from None
    finally:
        partial.unlink(missing_ok=True)


def upload(url: str, key: str, path: Path) -> Any:
    """POST the file at `path` as the body; the server's JSON answer."""
    size = path.stat().st_size
    with open(path, "rb") as source:
        call = urllib.request.Request(url, data=source, method="POST",
                                      headers={"Content-Type": "application/octet-stream",
                                               "Content-Length": str(size),
                                               "Authorization": f"Convex {key}"})
        try:
            with urllib.request.urlopen(call, timeout=3600) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise server_error(url, error) from None
        except urllib.error.URLError as error:
            raise ReactorError(f"cannot reach {url}: {error.reason}",
                               code="ServerUnreachable") from None
