"""What clients can put in the server log: a request cut off mid-body is one line (not a
traceback) with the body clipped, and a refused token's claims are clipped too."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import pytest
from e2e_support import ReactorServer
from server_probe import LIMITS_APP
from sync_support import ProtocolClient

from reactor.server.log_text import LOG_CHARS

PAYLOAD = "A" * 5_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(LIMITS_APP, tmp_path_factory.mktemp("logs")) as running:
        yield running


def new_lines(server: ReactorServer, before: str) -> list[str]:
    return server.log()[len(before):].splitlines()


async def wait_for_line(server: ReactorServer, before: str, fragment: str) -> list[str]:
    for _ in range(50):
        lines = new_lines(server, before)
        if any(fragment in line for line in lines):
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError(f"no log line with {fragment!r}: {new_lines(server, before)}")


@pytest.mark.parametrize("path", ["/api/mutation", "/http/anything"])
async def test_a_client_leaving_mid_body_is_one_clipped_line(server: ReactorServer,
                                                             path: str) -> None:
    before = server.log()
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    body = ('{"path":"counter:incr","args":[{"name":"' + PAYLOAD).encode()
    writer.write(f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 f"content-length: {len(body) + 1000}\r\n\r\n".encode() + body)
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await wait_for_line(server, before, "disconnected during")
    await asyncio.sleep(0.3)
    lines = [line for line in new_lines(server, before) if line.strip()
             and not line.startswith(("Reactor ", "  app:", "  data:"))]
    assert len(lines) == 1, lines
    assert f"POST {path} after {len(body)} bytes of its body" in lines[0]
    assert len(lines[0]) < 2 * LOG_CHARS and lines[0].endswith("…"), lines[0]


def forged_token(issuer: str) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part({'iss': issuer, 'sub': 'x'})}.c2ln"


async def test_a_refused_tokens_claims_are_clipped_in_the_log(server: ReactorServer) -> None:
    before = server.log()
    huge_issuer = "https://" + "i" * 10_000
    async with ProtocolClient(server.url) as client:
        await client.send({"type": "Authenticate", "baseVersion": 0, "tokenType": "User",
                           "value": forged_token(huge_issuer)})
        auth_error = await client.receive_until(lambda f: f["type"] == "AuthError", 10)
        assert auth_error["error"].startswith("NoAuthProvider: no auth provider matches")
    lines = await wait_for_line(server, before, "AuthError")
    assert max(len(line) for line in lines) < 2 * LOG_CHARS + 200, lines
    assert "i" * (LOG_CHARS + 1) not in "\n".join(lines)
