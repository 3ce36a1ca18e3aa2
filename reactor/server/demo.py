"""Static pages of an app: its `demo/` folder at /demo/, with reactor-client's ES modules."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

# reactor-client's sources in a checkout of this repository; browsers load them as they are.
CLIENT_SOURCES: Final = Path(__file__).resolve().parents[2] / "client_js" / "src"


def demo_routes(app_dir: Path) -> list[Mount]:
    """`/demo/` serving APP_DIR/demo when it has an index.html, and `/demo/client/` the client.

    Nothing is mounted for an app without a demo, and `/demo/client/` only when the
    client's sources are beside the server (a source checkout, not an installed wheel).
    """
    pages = app_dir / "demo"
    if not (pages / "index.html").is_file():
        return []
    routes = []
    if CLIENT_SOURCES.is_dir():
        routes.append(Mount("/demo/client", StaticFiles(directory=CLIENT_SOURCES)))
    routes.append(Mount("/demo", StaticFiles(directory=pages, html=True)))
    return routes
