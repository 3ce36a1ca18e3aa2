"""reactor.auth.password: the app of docs/guide/auth.md, as written and with small limits.

The guide's files are written out as an app. A variant with cheap scrypt parameters
and small limits drives the limits and the hash upgrade quickly; the guide's own app
runs the whole flow at the real parameters. One test goes through a live server, to
show that the per-client limits see the client's real address.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ReactorServer
from sync_support import ProtocolClient, http_json

from reactor.auth.password import (
    CREDENTIALS,
    ScryptParams,
    Verdict,
    hash_password,
    hash_password_async,
    verify_password,
    verify_password_async,
)
from reactor.runtime.client import client_scope
from reactor.runtime.system.transact import transact
from reactor.testing import ReactorClient, ReactorTest
from reactor.transactions import QueryBuilder, Transaction

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide" / "auth.md"
FILE_BLOCK = re.compile(r"```python\n# (?P<path>[\w/]+\.py)\n(?P<code>.*?)```", re.S)
PASSWORD = "correct horse battery"
CHEAP = "ScryptParams(2**10, 8, 1)"
SMALL_LIMITS = ("Limits(sign_in_per_email=Limit(3, timedelta(minutes=15)),"
                " sign_in_per_client=Limit(5, timedelta(minutes=15)),"
                " confirm_per_client=Limit(4, timedelta(minutes=15)))")


def write_app(root: Path, *, cheap: bool) -> Path:
    """The guide's app under `root`; `cheap` swaps in small limits and a cheap hash."""
    for match in FILE_BLOCK.finditer(GUIDE.read_text()):
        code = match.group("code")
        if cheap and match.group("path") == "functions/auth.py":
            code = code.replace("PasswordAuth(users=Users(), deliver=send_mail)",
                                f"PasswordAuth(users=Users(), deliver=send_mail, scrypt={CHEAP},"
                                f" limits={SMALL_LIMITS})")
            code = ("from datetime import timedelta\n"
                    "from reactor.auth.password import Limit, Limits, ScryptParams\n" + code)
        target = root / match.group("path")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(code)
    assert (root / "schema.py").exists() and (root / "functions" / "auth.py").exists()
    return root


@pytest.fixture
async def guide_app(tmp_path: Path) -> AsyncIterator[ReactorTest]:
    async with ReactorTest(write_app(tmp_path / "app", cheap=False)) as t:
        yield t


@pytest.fixture
async def cheap_app(tmp_path: Path) -> AsyncIterator[ReactorTest]:
    async with ReactorTest(write_app(tmp_path / "app", cheap=True)) as t:
        yield t


async def rows(t: ReactorTest, table: str) -> list[dict[str, Any]]:
    async def read(txn: Transaction) -> list[dict[str, Any]]:
        return await QueryBuilder(txn, table).collect()

    return await transact(t.engine.database, read)


async def code_for(t: ReactorTest, email: str) -> str:
    texts = [row["text"] for row in await rows(t, "mail") if row["to"] == email]
    found = re.search(r"code is (\d+)", texts[-1])
    assert found, texts
    return found.group(1)


async def failure(call: Any) -> Any:
    try:
        await call
    except Exception as error:
        return getattr(error, "data", None)
    pytest.fail("the call succeeded")


async def test_the_guides_app_signs_up_confirms_and_signs_in(guide_app: ReactorTest) -> None:
    t = guide_app
    assert await t.action("auth:signUp", {"email": " Ada@Example.com", "password": PASSWORD,
                                          "name": "Ada"}) == {"status": "codeSent"}
    assert await t.query("auth:me") is None
    signed_up = await t.action("auth:confirmSignUp", {
        "email": "ada@example.com", "code": await code_for(t, "ada@example.com")})
    me = await t.with_identity(subject=signed_up["userId"]).query("auth:me")
    assert (me["_id"], me["email"], me["name"]) == (signed_up["userId"], "ada@example.com",
                                                   "Ada")
    [credential] = await rows(t, CREDENTIALS)
    assert credential["hash"].startswith("scrypt$131072$8$1$")
    assert PASSWORD not in repr(await rows(t, CREDENTIALS))
    signed_in = await t.action("auth:signIn", {"email": "ADA@example.com",
                                               "password": PASSWORD})
    assert signed_in["userId"] == signed_up["userId"]
    # Signing out ends that token's session: `me` no longer knows it.
    device = ReactorClient(t.engine, await t.engine.token_verifier().verify(signed_in["token"]))
    assert (await device.query("auth:me"))["_id"] == signed_up["userId"]
    await device.mutation("auth:signOut")
    assert await device.query("auth:me") is None
    # A taken email: the same answer, a notice to the owner, no code for anyone.
    assert await t.action("auth:signUp", {"email": "ada@example.com", "password": "another pw",
                                          "name": "Eve"}) == {"status": "codeSent"}
    assert (await rows(t, "mail"))[-1]["text"].startswith("Someone tried")
    assert (await failure(t.action("auth:signIn", {"email": "ada@example.com",
                                                   "password": "another pw"})))["code"] == \
        "InvalidCredentials"


async def test_wrong_passwords_for_one_email_are_limited(cheap_app: ReactorTest) -> None:
    t = cheap_app
    await t.action("auth:signUp", {"email": "bo@example.com", "password": PASSWORD,
                                   "name": "Bo"})
    await t.action("auth:confirmSignUp", {"email": "bo@example.com",
                                          "code": await code_for(t, "bo@example.com")})
    wrong = {"email": "bo@example.com", "password": "not it at all"}
    for _ in range(3):
        assert (await failure(t.action("auth:signIn", wrong)))["code"] == "InvalidCredentials"
    # The right password does not get through the empty bucket either.
    limited = await failure(t.action("auth:signIn", {**wrong, "password": PASSWORD}))
    assert (limited["code"], limited["name"]) == ("RateLimited", "signIn:email")
    assert limited["retryAfter"] > 0


async def test_a_successful_sign_in_refills_its_emails_bucket(cheap_app: ReactorTest) -> None:
    t = cheap_app
    await t.action("auth:signUp", {"email": "cy@example.com", "password": PASSWORD,
                                   "name": "Cy"})
    await t.action("auth:confirmSignUp", {"email": "cy@example.com",
                                          "code": await code_for(t, "cy@example.com")})
    right = {"email": "cy@example.com", "password": PASSWORD}
    for _ in range(2):
        await failure(t.action("auth:signIn", {**right, "password": "mistyped!"}))
        await t.action("auth:signIn", right)
    await failure(t.action("auth:signIn", {**right, "password": "mistyped!"}))
    assert (await t.action("auth:signIn", right))["token"]


async def test_one_client_guessing_many_emails_is_limited(cheap_app: ReactorTest) -> None:
    t = cheap_app
    with client_scope("203.0.113.7"):
        for i in range(5):
            data = await failure(t.action("auth:signIn", {"email": f"u{i}@example.com",
                                                          "password": PASSWORD}))
            assert data["code"] == "InvalidCredentials"
        data = await failure(t.action("auth:signIn", {"email": "u9@example.com",
                                                      "password": PASSWORD}))
        assert (data["code"], data["name"]) == ("RateLimited", "signIn:client")
        # Guessing sign-up codes from that address is limited too.
        await t.action("auth:signUp", {"email": "dee@example.com", "password": PASSWORD,
                                       "name": "Dee"})
        for _ in range(4):
            guess = await failure(t.action("auth:confirmSignUp", {"email": "dee@example.com",
                                                                  "code": "00000000"}))
            assert guess["code"] == "InvalidCode"
        guess = await failure(t.action("auth:confirmSignUp", {"email": "dee@example.com",
                                                              "code": "00000000"}))
        assert (guess["code"], guess["name"]) == ("RateLimited", "confirmSignUp:client")
    with client_scope("198.51.100.2"):  # another client is not held back
        data = await failure(t.action("auth:signIn", {"email": "u9@example.com",
                                                      "password": PASSWORD}))
        assert data["code"] == "InvalidCredentials"


async def test_a_weaker_hash_is_replaced_at_sign_in(cheap_app: ReactorTest) -> None:
    t = cheap_app
    await t.action("auth:signUp", {"email": "ed@example.com", "password": PASSWORD,
                                   "name": "Ed"})
    await t.action("auth:confirmSignUp", {"email": "ed@example.com",
                                          "code": await code_for(t, "ed@example.com")})
    [row] = await rows(t, CREDENTIALS)
    assert row["hash"].startswith("scrypt$1024$8$1$")
    weak = hash_password(PASSWORD, ScryptParams(2**8, 8, 1))

    async def downgrade(txn: Transaction) -> None:
        await txn.patch(row["_id"], {"hash": weak})

    await transact(t.engine.database, downgrade)
    await t.action("auth:signIn", {"email": "ed@example.com", "password": PASSWORD})
    [upgraded] = await rows(t, CREDENTIALS)
    assert upgraded["hash"].startswith("scrypt$1024$8$1$") and upgraded["hash"] != weak


async def test_a_burst_of_hashes_leaves_the_shared_threads_free() -> None:
    # More hashes than the default executor has threads (6 on two cores), half OWASP's cost.
    params = ScryptParams(2**16, 8, 1)
    stored = await hash_password_async("pw", params)
    burst = [asyncio.create_task(verify_password_async("pw", stored, params))
             for _ in range(8)]
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    assert await asyncio.to_thread(sum, [1, 2]) == 3  # not queued behind the hashes
    assert time.perf_counter() - started < 0.2
    assert all(verdict.ok for verdict in await asyncio.gather(*burst))


def test_verdicts_of_the_hash_format() -> None:
    cheap = ScryptParams(2**10, 8, 1)
    stored = hash_password("pw", cheap)
    assert verify_password("pw", stored, cheap) == Verdict(True, needs_upgrade=False)
    assert verify_password("pw", stored, ScryptParams(2**11, 8, 1)) == Verdict(True, True)
    assert verify_password("wrong", stored, cheap) == Verdict(False)
    # Stored values that are not hashes, or would ask for absurd work, never match.
    prefix, n, r, p, salt, key = stored.split("$")
    for broken in ("", "plain text", stored.replace("scrypt", "bcrypt"),
                   "$".join([prefix, str(2**30), r, p, salt, key]),
                   "$".join([prefix, "1000", r, p, salt, key]),
                   "$".join([prefix, n, r, p, "not base64!", key])):
        started = time.perf_counter()
        assert verify_password("pw", broken, cheap) == Verdict(False)
        assert time.perf_counter() - started < 0.5


async def sign_in_over_a_socket(url: str, email: str) -> dict[str, Any]:
    async with ProtocolClient(url) as client:
        await client.send({"type": "Action", "requestId": 0, "udfPath": "auth:signIn",
                           "args": [{"email": email, "password": "pw"}]})
        return await client.receive_until(lambda f: f["type"] == "ActionResponse")


HTTP_SIGN_IN = """
from reactor import HttpResponse, http_router

http = http_router()


@http.route(path="/sign-in", method="POST")
async def sign_in(ctx, request):
    return HttpResponse.json(await ctx.run_action("auth:signIn", request.json()))
"""


async def test_a_live_server_limits_per_client_address(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", cheap=True)
    (app / "functions" / "http.py").write_text(HTTP_SIGN_IN)
    with ReactorServer(app, tmp_path / "data") as server:
        answers = [http_json(f"{server.url}/api/action", {
            "path": "auth:signIn", "args": {"email": f"x{i}@example.com", "password": "pw"},
            "format": "json"}) for i in range(6)]
        # A WebSocket from the same address shares its bucket (a fresh email: only the
        # per-client bucket can refuse it).
        over_socket = await sign_in_over_a_socket(server.url, "fresh@example.com")
        # So does an HTTP action's request.
        status, over_http_action = http_json(f"{server.url}/http/sign-in", {
            "email": "fresh2@example.com", "password": "pw"})
    codes = [body.get("errorData", {}).get("code") for _, body in answers]
    assert codes == ["InvalidCredentials"] * 5 + ["RateLimited"]
    assert answers[-1][1]["errorData"]["name"] == "signIn:client"
    assert over_socket["success"] is False
    assert over_socket["errorData"]["name"] == "signIn:client"
    assert status == 400 and over_http_action["data"]["name"] == "signIn:client"
