"""`reactor serve` with benchmark-only routes: server statistics, a bare JSON endpoint, and a
body sink and source (the HTTP floor under file uploads and downloads).

Run as `python -m bench.serve APP_DIR --port P --data DIR [--durability ...]`, the
same arguments as `reactor serve`. The server is built and run by `reactor serve`'s
own code (the CLI's `main`), with the `ReactorServer` that `reactor.cli.serve`
constructs swapped for a subclass that appends the two routes, so the uvicorn
settings, middleware and engine are exactly those of the real command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import reactor.cli.serve as serve_module
from reactor.cli.main import main as cli_main
from reactor.server.app import ReactorServer


class BenchServer(ReactorServer):
    """The real server plus `/bench/stats`, `/bench/bare`, `/bench/sink` and `/bench/source`."""

    def build(self) -> Starlette:
        app = super().build()
        app.router.routes.append(Route("/bench/stats", self.stats, methods=["GET"]))
        app.router.routes.append(Route("/bench/bare", self.bare, methods=["POST"]))
        app.router.routes.append(Route("/bench/sink", self.sink, methods=["POST"]))
        app.router.routes.append(Route("/bench/source", self.source, methods=["GET"]))
        return app

    async def sink(self, request: Request) -> Response:
        """The upload floor: read the streamed body and drop it."""
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return JSONResponse({"size": size})

    async def source(self, request: Request) -> Response:
        """The download floor: `?bytes=N` zero bytes streamed in 1 MiB chunks."""
        size = int(request.query_params["bytes"])
        block = bytes(1024 * 1024)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, size, len(block)):
                yield block[:min(len(block), size - start)]

        return StreamingResponse(chunks(), headers={"content-length": str(size)})

    async def stats(self, request: Request) -> JSONResponse:
        """What the load generators cannot see from outside: batching and executions."""
        stats = self.engine.database.committer.stats
        forwarder = self.engine.forwarder
        return JSONResponse({
            "pid": os.getpid(),
            "commits": stats.commits,
            "batches": stats.batches,
            "conflicts": stats.conflicts,
            "batch_sizes": {str(k): n for k, n in sorted(stats.batch_sizes.items())},
            "executions": self.engine.manager.executions,
            "entries": len(self.engine.manager.entries),
            "sessions": len(self.sessions),
            # A follower's forwarded transactions and the requests that carried them.
            "forwarded": 0 if forwarder is None else forwarder.forwarded,
            "forward_requests": 0 if forwarder is None else forwarder.requests,
        })

    async def bare(self, request: Request) -> Response:
        """The read-throughput baseline: parse a JSON body and answer JSON, nothing else."""
        body = orjson.loads(await request.body())
        return Response(orjson.dumps({"status": "success", "value": len(body),
                                      "logLines": []}), media_type="application/json")


def main(argv: list[str]) -> None:
    """`reactor serve ARGV` through the CLI's own entry point, with BenchServer swapped in."""
    if getattr(serve_module, "ReactorServer", None) is not ReactorServer:
        raise SystemExit("reactor.cli.serve no longer builds ReactorServer by name; update bench")
    serve_module.ReactorServer = BenchServer  # type: ignore[attr-defined]  # not re-exported
    cli_main(["serve", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
