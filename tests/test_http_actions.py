"""HTTP actions in-process: routing, 404/405, bodies and limits, errors, identity, SSE framing."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from reactor import HttpResponse, SseEvent, http_router
from reactor.errors import ReactorError
from reactor.runtime import Engine, FunctionKind, Outcome
from reactor.server.app import ReactorServer
from reactor.server.config import ServerConfig

APP = Path(__file__).parent / "apps" / "scheduler"
BASIC = Path(__file__).parent / "apps" / "basic"
LIMIT = 4096


async def client_for(app_dir: Path, data_dir: Path) -> tuple[ReactorServer, httpx.AsyncClient]:
    server = ReactorServer(Engine(app_dir, data_dir, durability="normal"),
                           ServerConfig(max_message_bytes=LIMIT))
    asgi = server.build()
    await server.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi),
                               base_url="http://testserver")
    return server, client


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ReactorServer, httpx.AsyncClient]]:
    server, client = await client_for(APP, tmp_path)
    try:
        yield server, client
    finally:
        await client.aclose()
        await server.stop()


@pytest.fixture
def http(served: tuple[ReactorServer, httpx.AsyncClient]) -> httpx.AsyncClient:
    return served[1]


async def test_exact_routes_and_query_strings(http: httpx.AsyncClient) -> None:
    reply = await http.get("/http/hello", params={"name": "ada"})
    assert (reply.status_code, reply.text) == (200, "hello ada")
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"


async def test_json_bodies_headers_and_status(http: httpx.AsyncClient) -> None:
    reply = await http.post("/http/echo", json={"a": [1, 2]}, headers={"X-Test": "yes"})
    assert reply.status_code == 201
    assert reply.json() == {"method": "POST", "body": {"a": [1, 2]}, "header": "yes"}


async def test_the_longest_path_prefix_wins(http: httpx.AsyncClient) -> None:
    assert (await http.get("/http/files/a/b.txt")).text == "/files/a/b.txt"
    assert (await http.get("/http/files/deep/x")).text == "deep /files/deep/x"


async def test_unknown_paths_are_404_and_wrong_methods_405(http: httpx.AsyncClient) -> None:
    missing = await http.get("/http/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"code": "RouteNotFound",
                              "message": "no HTTP action for GET /http/nowhere"}
    wrong = await http.post("/http/hello")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert wrong.json()["code"] == "MethodNotAllowed"
    assert (await http.delete("/http/files/x")).headers["allow"] == "GET"


async def test_request_bodies_over_the_limit_are_refused(http: httpx.AsyncClient) -> None:
    assert (await http.put("/http/upload", content=b"x" * LIMIT)).json() == {"bytes": LIMIT}
    refused = await http.put("/http/upload", content=b"x" * (LIMIT + 1))
    assert refused.status_code == 413
    assert refused.json()["code"] == "RequestTooLarge"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"y" * (LIMIT // 2)

    streamed = await http.put("/http/upload", content=chunks())
    assert streamed.status_code == 413, "a body without Content-Length is counted as it comes"


async def test_handlers_call_mutations_and_queries(http: httpx.AsyncClient) -> None:
    for expected in (1, 2):
        reply = await http.post("/http/bump", json={"name": "h"})
        assert reply.json() == {"value": expected, "read": expected}


async def test_errors_become_500_with_a_message_and_logs_reach_the_listener(
        served: tuple[ReactorServer, httpx.AsyncClient]) -> None:
    server, http = served
    calls: list[tuple[FunctionKind, Outcome]] = []
    server.engine.add_call_listener(lambda kind, outcome: calls.append((kind, outcome)))
    reply = await http.get("/http/boom")
    assert reply.status_code == 500
    body = reply.json()
    assert body["code"] == "Uncaught RuntimeError: kaboom"
    assert re.fullmatch(r"\[Request ID: [0-9a-f]{16}\] Server Error\n"
                        r"Uncaught RuntimeError: kaboom", body["message"])
    # The app's own frames, as paths inside the app: nothing of the server's.
    assert body["trace"] == "    at boom (functions/http.py:59)"
    [(kind, outcome)] = calls
    assert (kind, outcome.path, outcome.ok) == (FunctionKind.ACTION, "GET /boom", False)
    assert outcome.error is not None and outcome.error.request_id in body["message"]
    wrong = await http.get("/http/not-a-response")
    assert wrong.status_code == 500
    assert "expected an HttpResponse, got dict" in wrong.json()["message"]


async def test_an_app_error_answers_400_with_its_data(http: httpx.AsyncClient) -> None:
    reply = await http.get("/http/refuse")
    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == 'Uncaught ConvexError: {"code":"NoWay","limit":"3n"}'
    assert body["data"] == {"code": "NoWay", "limit": {"$integer": "AwAAAAAAAAA="}}
    assert body["message"].endswith("\n" + body["code"])
    # An app error of a mutation the handler called passes through with its data.
    through = await http.get("/http/explode")
    assert through.status_code == 400
    assert through.json()["data"] == {"code": "Exploded"}
    assert through.json()["code"] == "Uncaught ConvexError: the job exploded"


async def test_a_bearer_token_gives_the_handler_an_identity(
        served: tuple[ReactorServer, httpx.AsyncClient]) -> None:
    server, http = served
    token = server.engine.issuer.issue_token("alice")
    signed_in = await http.get("/http/whoami", headers={"Authorization": f"Bearer {token}"})
    assert signed_in.json() == "alice"
    assert (await http.get("/http/whoami")).json() is None
    # A header that is not a valid token: reading the identity fails, as in Convex...
    forged = await http.get("/http/whoami", headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code == 500
    assert forged.json()["code"].startswith(
        "Uncaught AuthenticationError: GET /whoami: malformed token")
    webhook = await http.get("/http/whoami", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert webhook.status_code == 500
    assert "the Authorization header ('Basic' scheme) is not a user's token" in (
        webhook.json()["code"])
    # ... while a handler that does not read it gets the request, header included.
    echoed = await http.post("/http/echo", json={"a": 1},
                             headers={"Authorization": "Basic dXNlcjpwdw==", "X-Test": "t"})
    assert echoed.status_code == 201 and echoed.json()["header"] == "t"


async def test_an_app_without_http_routes_answers_404(tmp_path: Path) -> None:
    server, http = await client_for(BASIC, tmp_path)
    try:
        reply = await http.get("/http/anything")
        assert reply.status_code == 404
        assert "no functions/http.py router" in reply.json()["message"]
    finally:
        await http.aclose()
        await server.stop()


def test_router_declarations_are_checked() -> None:
    router = http_router()

    async def handler(ctx: object, request: object) -> HttpResponse:
        return HttpResponse()

    router.route(path="/a", method="get", handler=handler)
    with pytest.raises(ReactorError, match="declared twice"):
        router.route(path="/a", method="GET", handler=handler)
    with pytest.raises(ReactorError, match="exactly one of path= and path_prefix="):
        router.route(path="/b", path_prefix="/b/", handler=handler)
    with pytest.raises(ReactorError, match="must end with '/'"):
        router.route(path_prefix="/b", handler=handler)
    with pytest.raises(ReactorError, match="starting with '/'"):
        router.route(path="b", handler=handler)
    with pytest.raises(ReactorError, match="method 'TRACE'"):
        router.route(path="/c", method="TRACE", handler=handler)


def test_sse_events_are_framed_per_the_spec() -> None:
    assert SseEvent("hi").encode() == b"data: hi\n\n"
    assert SseEvent({"n": 1}, event="tick", id="7", retry_ms=500).encode() == (
        b'event: tick\nid: 7\nretry: 500\ndata: {"n": 1}\n\n')
    assert SseEvent("two\nlines").encode() == b"data: two\ndata: lines\n\n"
    with pytest.raises(ReactorError, match="line break"):
        SseEvent("x", event="a\nb").encode()
    assert json.loads(HttpResponse.json([1]).body) == [1]
