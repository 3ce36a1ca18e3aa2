"""`GET /`: a small page saying what is running here and where to go next."""

from __future__ import annotations

import html
from importlib import metadata

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reactor: {app}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
code{{background:#f2f2f2;padding:0 .25em}}</style></head>
<body>
<h1>Reactor is running</h1>
<p>App <strong>{app}</strong>, served by Reactor {version}.</p>
<ul>
{links}
</ul>
<p>Clients connect to this address: <code>new ConvexClient("{origin}")</code> with the
official <code>convex</code> package, or <code>reactor-client</code>.</p>
</body></html>
"""


def _version() -> str:
    try:
        return metadata.version("reactor")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def home_route(app_name: str, *, has_demo: bool) -> Route:
    """The `/` route; it names the app's folder, never a path on the server."""
    links = []
    if has_demo:
        links.append('<li><a href="/demo/">The demo page</a> of this app</li>')
    links += ['<li><a href="/health">/health</a>: answers <code>ok</code> while the server'
              " runs</li>",
              '<li><a href="/.well-known/jwks.json">/.well-known/jwks.json</a>: the keys of'
              " the built-in token issuer</li>"]

    async def home(request: Request) -> HTMLResponse:
        origin = f"{request.url.scheme}://{request.url.netloc}"
        return HTMLResponse(_PAGE.format(app=html.escape(app_name), version=_version(),
                                         links="\n".join(links), origin=html.escape(origin)))

    return Route("/", home, methods=["GET"])
