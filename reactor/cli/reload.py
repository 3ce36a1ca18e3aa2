"""Hot reload for `reactor dev`: watch the app, load the new code beside the old, swap."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from watchfiles import Change, awatch

from reactor.cli.codegen import refresh
from reactor.errors import ReactorError
from reactor.server.app import ReactorServer

logger = logging.getLogger("reactor.reload")


def _relevant(change: Change, path: str) -> bool:
    name = Path(path).name
    return (path.endswith(".py") and "/.reactor/" not in path and "/_generated/" not in path
            and not name.startswith("."))


async def watch_and_reload(server: ReactorServer) -> None:
    app_dir = server.engine.app_dir
    async for changes in awatch(app_dir, watch_filter=_relevant, debounce=200, step=50):
        names = sorted({str(Path(p).relative_to(app_dir)) for _, p in changes})
        sys.stderr.write(f"change in {', '.join(names)}: reloading\n")
        try:
            report = await server.reload()
        except ReactorError as error:
            sys.stderr.write(f"reload failed, still serving the previous code:\n"
                             f"  [{error.code}] {error.message}\n")
            continue
        except Exception:
            # A bug, not a bad edit: report it and keep watching.
            logger.exception("reload failed, still serving the previous code")
            continue
        sys.stderr.write(f"reloaded: {report}\n")
        regenerate(app_dir)


def regenerate(app_dir: Path) -> None:
    """Keep the app's typed client code current, if it has some (see codegen.refresh)."""
    try:
        done = refresh(app_dir)
    except ReactorError as error:
        sys.stderr.write(f"codegen failed: [{error.code}] {error.message}\n")
        return
    if done is not None:
        sys.stderr.write(f"{done}\n")
