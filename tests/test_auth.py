"""Tests for reactor.runtime.auth: providers, token verification, built-in issuer, admin key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from reactor.errors import ReactorError
from reactor.runtime.auth import (
    AdminKey,
    Algorithm,
    AuthConfig,
    AuthConfigError,
    AuthenticationError,
    BuiltinIssuer,
    Provider,
    RemoteJwks,
    TokenVerifier,
    es256_provider,
    hs256_provider,
    identity_from_claims,
    load_auth_config,
    rs256_provider,
)

ISSUER = "https://auth.example.com"
AUDIENCE = "my-app"
SECRET = "s3cret-s3cret-s3cret-s3cret-s3cret-!"


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "iat": now, "exp": now + 600}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, alg: str, payload: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid} if kid else None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], hmac_key: bytes | None) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    if hmac_key is None:
        return signing_input + "."
    digest = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(digest)}"


def jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        return {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid}
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid}


@pytest.fixture
def rs256_verifier(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> TokenVerifier:
    provider = rs256_provider(ISSUER, AUDIENCE, public_key_pem=public_pem(rsa_key))
    return TokenVerifier(AuthConfig.build([provider], tmp_path))


async def refusal(verifier: TokenVerifier, token: str, code: str = "InvalidAuthHeader") -> str:
    """Why `token` is refused; `code` is Convex's: InvalidAuthHeader or NoAuthProvider."""
    with pytest.raises(AuthenticationError) as info:
        await verifier.verify(token)
    assert info.value.code == code
    assert isinstance(info.value, ReactorError)
    return info.value.message


# Accepted tokens, per key source.


async def test_hs256_secret_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("APP_JWT_SECRET", SECRET)
    config = AuthConfig.build(
        [hs256_provider(ISSUER, AUDIENCE, secret_env="APP_JWT_SECRET")], tmp_path
    )
    verifier = TokenVerifier(config)
    token = sign(SECRET, "HS256", claims(name="Ada", email="ada@example.com"))
    assert await verifier.verify(token) == {
        "subject": "user-1",
        "issuer": ISSUER,
        "tokenIdentifier": f"{ISSUER}|user-1",
        "name": "Ada",
        "email": "ada@example.com",
    }
    wrong = sign("another-secret-another-secret-another", "HS256", claims())
    assert "bad signature" in await refusal(verifier, wrong)


def test_hs256_secret_unset_or_short(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET_VAR", raising=False)
    provider = hs256_provider(ISSUER, AUDIENCE, secret_env="NO_SUCH_SECRET_VAR")
    with pytest.raises(AuthConfigError, match=r"NO_SUCH_SECRET_VAR.*not set") as info:
        AuthConfig.build([provider], tmp_path)
    assert "test_auth.py:" in info.value.message  # names where the provider was declared
    monkeypatch.setenv("NO_SUCH_SECRET_VAR", "short")
    with pytest.raises(AuthConfigError, match="5 bytes; at least 32"):
        AuthConfig.build([provider], tmp_path)


async def test_rs256_from_pem(rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    identity = await rs256_verifier.verify(sign(rsa_key, "RS256", claims(sub="u-42")))
    assert identity["subject"] == "u-42"
    assert identity["tokenIdentifier"] == f"{ISSUER}|u-42"


async def test_es256_from_jwks_file(
    ec_key: ec.EllipticCurvePrivateKey, rsa_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    other_ec = ec.generate_private_key(ec.SECP256R1())
    document = {"keys": [jwk(rsa_key, "rsa-1"), jwk(other_ec, "ec-0"), jwk(ec_key, "ec-1")]}
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "jwks.json").write_text(json.dumps(document))
    provider = es256_provider(ISSUER, [AUDIENCE, "other"], jwks_file="keys/jwks.json")
    config = AuthConfig.build([provider], tmp_path)
    assert [k.kid for k in config.static_keys[ISSUER]] == ["ec-0", "ec-1"]  # RSA key skipped
    verifier = TokenVerifier(config)
    identity = await verifier.verify(sign(ec_key, "ES256", claims(), kid="ec-1"))
    assert identity["subject"] == "user-1"
    # Without a kid, with several keys: refused (as Convex), saying why.
    assert "the token has no `kid` header" in await refusal(
        verifier, sign(ec_key, "ES256", claims()))
    assert "no key with kid 'ec-9'" in await refusal(
        verifier, sign(ec_key, "ES256", claims(), kid="ec-9")
    )


async def test_audience_none_skips_the_check(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    provider = rs256_provider(ISSUER, None, public_key_pem=public_pem(rsa_key))
    verifier = TokenVerifier(AuthConfig.build([provider], tmp_path))
    assert await verifier.verify(sign(rsa_key, "RS256", claims(aud="anything")))
    assert await verifier.verify(sign(rsa_key, "RS256", claims(aud=None)))


async def test_leeway_accepts_a_token_just_expired(
    rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = sign(rsa_key, "RS256", claims(exp=int(time.time()) - 2))
    assert (await rs256_verifier.verify(token))["subject"] == "user-1"


# Every refusal reason, with the reason in the message.


async def test_expired(rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = sign(rsa_key, "RS256", claims(exp=int(time.time()) - 7200))
    message = await refusal(rs256_verifier, token)
    assert message.startswith("token expired 2.0 h ago")


async def test_not_yet_valid(rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    token = sign(rsa_key, "RS256", claims(nbf=int(time.time()) + 600))
    message = await refusal(rs256_verifier, token)
    assert message.startswith("token is not valid yet: `nbf` is ") and message.endswith(" min away")
    issued_later = sign(rsa_key, "RS256", claims(iat=int(time.time()) + 7200))
    message = await refusal(rs256_verifier, issued_later)
    assert message.startswith("token is not valid yet: `iat` is ") and message.endswith(" h away")


async def test_wrong_signature(
    rs256_verifier: TokenVerifier, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    message = await refusal(rs256_verifier, sign(other_rsa_key, "RS256", claims()))
    assert message.startswith("bad signature") and ISSUER in message


async def test_tampered_payload(rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    header, _, signature = sign(rsa_key, "RS256", claims()).split(".")
    forged = f"{header}.{b64url(json.dumps(claims(sub='admin')).encode())}.{signature}"
    assert "bad signature" in await refusal(rs256_verifier, forged)


async def test_wrong_audience(rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    message = await refusal(rs256_verifier, sign(rsa_key, "RS256", claims(aud="someone-else")),
                            "NoAuthProvider")
    assert message == (f"no auth provider matches the token's issuer '{ISSUER}' with audience"
                       f" 'someone-else'; the configured providers: issuer '{ISSUER}'"
                       " (application ID 'my-app')")
    missing = await refusal(rs256_verifier, sign(rsa_key, "RS256", claims(aud=None)))
    assert "no `aud` claim" in missing and "my-app" in missing


async def test_unknown_issuer_lists_trusted(
    rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    message = await refusal(rs256_verifier, sign(rsa_key, "RS256", claims(iss="https://evil")),
                            "NoAuthProvider")
    assert message == ("no auth provider matches the token's issuer 'https://evil'; the"
                       f" configured providers: issuer '{ISSUER}' (application ID 'my-app')")


async def test_no_issuers_configured(rsa_key: rsa.RSAPrivateKey) -> None:
    message = await refusal(TokenVerifier(AuthConfig()), sign(rsa_key, "RS256", claims()),
                            "NoAuthProvider")
    assert message.endswith("the configured providers: none")


async def test_alg_none_refused(rs256_verifier: TokenVerifier) -> None:
    for alg in ("none", "None", "NONE"):
        token = hand_made({"alg": alg, "typ": "JWT"}, claims(), None)
        assert await refusal(rs256_verifier, token) == "unsigned tokens (alg: none) are refused"


async def test_hs256_signed_with_rsa_public_key_is_refused(
    rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    # The classic confusion attack: the public PEM used as an HMAC secret.
    token = hand_made({"alg": "HS256", "typ": "JWT"}, claims(), public_pem(rsa_key).encode())
    message = await refusal(rs256_verifier, token)
    assert message == (
        f"algorithm HS256 is not allowed for issuer '{ISSUER}', which signs with RS256 only"
    )


async def test_es256_token_for_rs256_provider_refused(
    rs256_verifier: TokenVerifier, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    assert "algorithm ES256 is not allowed" in await refusal(
        rs256_verifier, sign(ec_key, "ES256", claims())
    )


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("", "non-empty"),
        ("not-a-jwt", "malformed token"),
        ("a.b.c", "malformed token"),
        ("x" * 20000, "20000 bytes"),
        (hand_made({"typ": "JWT"}, claims(), b"k"), "no `alg`"),
        (hand_made({"alg": "RS256", "kid": 5}, claims(), b"k"), "Key ID header parameter"),
    ],
)
async def test_malformed(rs256_verifier: TokenVerifier, token: str, fragment: str) -> None:
    message = await refusal(rs256_verifier, token)
    assert message.startswith("malformed token") and fragment in message


async def test_missing_claims(rs256_verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey) -> None:
    assert "no `iss` claim" in await refusal(
        rs256_verifier, sign(rsa_key, "RS256", claims(iss=None))
    )
    assert await refusal(rs256_verifier, sign(rsa_key, "RS256", claims(exp=None))) == (
        "token has no `exp` claim"
    )
    assert await refusal(rs256_verifier, sign(rsa_key, "RS256", claims(sub=None))) == (
        "token has no `sub` claim"
    )


# Provider configuration errors.


def test_key_type_must_fit_the_algorithm(
    rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    def build(provider: Provider) -> None:
        AuthConfig.build([provider], tmp_path)

    with pytest.raises(AuthConfigError, match="ES256 needs a P-256 public key, got an RSA key"):
        build(es256_provider(ISSUER, AUDIENCE, public_key_pem=public_pem(rsa_key)))
    with pytest.raises(AuthConfigError, match="RS256 needs an RSA public key"):
        build(rs256_provider(ISSUER, AUDIENCE, public_key_pem=public_pem(ec_key)))
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(AuthConfigError, match="1024 bits"):
        build(rs256_provider(ISSUER, AUDIENCE, public_key_pem=public_pem(small)))
    with pytest.raises(AuthConfigError, match="not a PEM public key"):
        build(rs256_provider(ISSUER, AUDIENCE, public_key_pem="nope"))
    secret = hs256_provider(ISSUER, None, secret_env="X").key
    with pytest.raises(AuthConfigError, match="RS256 cannot be used with SecretEnv"):
        build(Provider(ISSUER, Algorithm.RS256, secret, None))


def test_provider_helpers_validate_arguments() -> None:
    with pytest.raises(AuthConfigError, match=r"exactly one of .* \(got 2\)"):
        rs256_provider(ISSUER, AUDIENCE, public_key_pem="x", jwks_url="https://x/jwks")
    with pytest.raises(AuthConfigError, match=r"\(got 0\)"):
        es256_provider(ISSUER, AUDIENCE)
    with pytest.raises(AuthConfigError, match="http"):
        es256_provider(ISSUER, AUDIENCE, jwks_url="file:///etc/passwd")
    with pytest.raises(AuthConfigError, match="issuer must be a non-empty string"):
        hs256_provider("", AUDIENCE, secret_env="X")
    with pytest.raises(AuthConfigError, match="audience must be"):
        hs256_provider(ISSUER, [], secret_env="X")


async def test_a_bad_jwks_file_fails_only_its_providers_tokens(
        tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey,
        caplog: pytest.LogCaptureFixture) -> None:
    """The server starts; the broken provider's tokens are refused with the reason (and a
    server log line says so at once); another provider's tokens still work."""
    good_issuer = "https://good.example"

    async def build(content: str | None) -> str:
        path = tmp_path / "jwks.json"
        path.unlink(missing_ok=True)
        if content is not None:
            path.write_text(content)
        good = rs256_provider(good_issuer, AUDIENCE, public_key_pem=public_pem(rsa_key))
        caplog.clear()
        config = AuthConfig.build([es256_provider(ISSUER, AUDIENCE, jwks_file=str(path)),
                                   good], tmp_path)
        assert f"the JWKS of issuer '{ISSUER}' cannot be used" in caplog.text
        verifier = TokenVerifier(config)
        refused = await refusal(verifier, sign(ec_key, "ES256", claims(), kid="k"))
        assert refused.startswith(f"the keys of issuer '{ISSUER}' could not be loaded: ")
        assert await verifier.verify(sign(rsa_key, "RS256", claims(iss=good_issuer)))
        return refused
    assert "cannot be read" in await build(None)
    assert "not JSON" in await build("{")
    assert 'expected a JWKS object {"keys": [...]}' in await build("[]")
    assert "holds no ES256 signing keys" in await build(
        json.dumps({"keys": [jwk(rsa_key, "r")]}))
    bad = {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}
    assert "keys[0] is not a valid JWK" in await build(json.dumps({"keys": [bad]}))


def test_duplicate_issuer_refused(rsa_key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    p = rs256_provider(ISSUER, AUDIENCE, public_key_pem=public_pem(rsa_key))
    with pytest.raises(AuthConfigError, match="listed twice"):
        AuthConfig.build([p, p], tmp_path)


# auth_config.py


def write_config(app: Path, text: str) -> None:
    app.mkdir(exist_ok=True)
    (app / "auth_config.py").write_text(text)


def test_no_config_file_is_empty(tmp_path: Path) -> None:
    config = load_auth_config(tmp_path)
    assert config.providers == () and config.source is None


async def test_config_with_helpers_and_dicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rsa_key: rsa.RSAPrivateKey
) -> None:
    monkeypatch.setenv("CFG_SECRET", SECRET)
    (tmp_path / "public.pem").write_text(public_pem(rsa_key))
    write_config(
        tmp_path,
        "from pathlib import Path\n"
        "from reactor.runtime.auth import hs256_provider, rs256_provider\n"
        "providers = [\n"
        "    hs256_provider('https://hs', 'app', secret_env='CFG_SECRET'),\n"
        "    rs256_provider('https://rs', 'app',\n"
        "                   public_key_pem=(Path(__file__).parent / 'public.pem').read_text()),\n"
        "    {'issuer': 'https://dict', 'audience': None, 'algorithm': 'RS256',\n"
        "     'public_key_pem': (Path(__file__).parent / 'public.pem').read_text()},\n"
        "]\n",
    )
    config = load_auth_config(tmp_path)
    assert [p.issuer for p in config.providers] == ["https://hs", "https://rs", "https://dict"]
    assert config.providers[0].defined_at.endswith("auth_config.py:4")
    verifier = TokenVerifier(config)
    assert verifier.trusted_issuers == ["https://dict", "https://hs", "https://rs"]
    hs = sign(SECRET, "HS256", claims(iss="https://hs", aud="app"))
    assert (await verifier.verify(hs))["issuer"] == "https://hs"
    rs = sign(rsa_key, "RS256", claims(iss="https://dict", aud="x"))
    assert (await verifier.verify(rs))["issuer"] == "https://dict"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "from reactor.runtime.auth import hs256_provider\n\n"
            "providers = [hs256_provider('i', 'a', secret_env='SURELY_UNSET_VAR_123')]\n",
            ["auth_config.py:3", "SURELY_UNSET_VAR_123", "not set"],
        ),
        ("providers = [\n  1 +\n]\n", ["auth_config.py:", "syntax error"]),
        ("x = 1\nproviders = [undefined_name]\n", ["auth_config.py:2", "NameError"]),
        (
            "from reactor.runtime.auth import rs256_provider\n"
            "providers = [rs256_provider('i', 'a')]\n",
            ["auth_config.py:2", "exactly one of"],
        ),
        ("providers = None\n", ["must define `providers = [...]`", "NoneType"]),
        ("", ["must define `providers = [...]`"]),
        ("providers = ['https://x']\n", ["providers[0]", "got str"]),
        (
            "providers = [{'issuer': 'i', 'audience': 'a', 'algorithm': 'HS256',"
            " 'secret_env': 'E', 'colour': 1}]\n",
            ["providers[0]", "unknown keys ['colour']"],
        ),
        (
            "providers = [{'issuer': 'i', 'audience': 'a', 'algorithm': 'PS256'}]\n",
            ["providers[0]", "'algorithm' must be one of"],
        ),
        (
            "providers = [{'issuer': 'i', 'algorithm': 'HS256'}]\n",
            ["needs 'issuer' and 'audience'"],
        ),
        (
            "providers = [{'issuer': 'i', 'audience': 'a', 'algorithm': 'RS256', "
            "'secret_env': 'E'}]\n",
            ["only for HS256"],
        ),
    ],
)
def test_config_errors_name_file_and_line(tmp_path: Path, text: str, fragments: list[str]) -> None:
    write_config(tmp_path, text)
    with pytest.raises(AuthConfigError) as info:
        load_auth_config(tmp_path)
    assert info.value.code == "AuthConfig"
    assert str(tmp_path / "auth_config.py") in info.value.message
    for fragment in fragments:
        assert fragment in info.value.message, info.value.message


# JWKS served over HTTP.


class JwksServer:
    """A local HTTP server publishing a JWKS that tests can rotate or break."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps(server.document).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    yield server
    server.close()


async def test_jwks_url_kid_rotation_refetches(
    jwks_server: JwksServer, ec_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    new_key = ec.generate_private_key(ec.SECP256R1())
    jwks_server.document = {"keys": [jwk(ec_key, "k1")]}
    provider = es256_provider(ISSUER, AUDIENCE, jwks_url=jwks_server.url)
    verifier = TokenVerifier(AuthConfig.build([provider], tmp_path), jwks_min_refetch_interval=0)
    assert (await verifier.verify(sign(ec_key, "ES256", claims(), kid="k1")))["subject"]
    assert (await verifier.verify(sign(ec_key, "ES256", claims(), kid="k1")))["subject"]
    assert jwks_server.hits == 1  # cached
    jwks_server.document = {"keys": [jwk(new_key, "k2")]}
    assert (await verifier.verify(sign(new_key, "ES256", claims(), kid="k2")))["subject"]
    assert jwks_server.hits == 2  # unknown kid: one refetch
    message = await refusal(verifier, sign(new_key, "ES256", claims(), kid="k3"))
    assert "no key with kid 'k3'" in message and "'k2'" in message
    assert jwks_server.hits == 3


async def test_jwks_refetch_is_rate_limited_and_ttl_refreshes(
    jwks_server: JwksServer, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    jwks_server.document = {"keys": [jwk(ec_key, "k1")]}
    limited = RemoteJwks(jwks_server.url, Algorithm.ES256, min_refetch_interval=60)
    assert [k.kid for k in await limited.keys("k1")] == ["k1"]
    await limited.keys("made-up")
    await limited.keys("made-up-too")
    assert jwks_server.hits == 1
    short_ttl = RemoteJwks(jwks_server.url, Algorithm.ES256, ttl=0, min_refetch_interval=0)
    await short_ttl.keys(None)
    await short_ttl.keys(None)
    assert jwks_server.hits == 3


async def test_jwks_fetch_failures(
    jwks_server: JwksServer, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    jwks_server.document = {"keys": [jwk(ec_key, "k1")]}
    remote = RemoteJwks(jwks_server.url, Algorithm.ES256, ttl=0, min_refetch_interval=0)
    await remote.keys(None)
    jwks_server.status = 500
    assert [k.kid for k in await remote.keys(None)] == ["k1"]  # stale keys stay in use
    assert remote.fetch_count == 2
    fresh = RemoteJwks(jwks_server.url, Algorithm.ES256)
    with pytest.raises(AuthenticationError, match=r"could not load keys from .*HTTP Error 500"):
        await fresh.keys(None)
    jwks_server.status = 200
    jwks_server.document = {"keys": []}
    with pytest.raises(AuthenticationError, match="holds no ES256 signing keys"):
        await RemoteJwks(jwks_server.url, Algorithm.ES256).keys(None)


async def test_jwks_url_serving_a_builtin_issuer(jwks_server: JwksServer, tmp_path: Path) -> None:
    # Another Reactor deployment's issuer, trusted through its public JWKS.
    issuer = BuiltinIssuer.load_or_create(tmp_path / "other", "https://other-reactor")
    jwks_server.document = issuer.jwks()
    provider = es256_provider("https://other-reactor", "reactor", jwks_url=jwks_server.url)
    verifier = TokenVerifier(AuthConfig.build([provider], tmp_path))
    identity = await verifier.verify(issuer.issue_token("u7"))
    assert identity["tokenIdentifier"] == "https://other-reactor|u7"


# Built-in issuer.


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_builtin_issuer_round_trip_and_persistence(tmp_path: Path) -> None:
    issuer = BuiltinIssuer.load_or_create(tmp_path)
    key_file = tmp_path / "auth" / "issuer_key.pem"
    assert mode(key_file) == 0o600
    assert mode(tmp_path / "auth") == 0o700
    token = issuer.issue_token("user-9", {"name": "Nine", "email_verified": True, "role": "x"})
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == issuer.kid
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["aud"] == "reactor" and payload["iss"] == "reactor"
    assert payload["exp"] - payload["iat"] == 30 * 24 * 3600

    pem = key_file.read_bytes()
    reloaded = BuiltinIssuer.load_or_create(tmp_path)
    assert reloaded.kid == issuer.kid and key_file.read_bytes() == pem
    verifier = TokenVerifier(AuthConfig(), reloaded)
    assert await verifier.verify(token) == {
        "subject": "user-9",
        "issuer": "reactor",
        "tokenIdentifier": "reactor|user-9",
        "name": "Nine",
        "emailVerified": True,
        "role": "x",
    }
    stranger = BuiltinIssuer.load_or_create(tmp_path / "elsewhere")
    assert stranger.kid != issuer.kid
    assert "no key with kid" in await refusal(verifier, stranger.issue_token("user-9"))
    expired = issuer.issue_token("user-9", expires_in=-3600)
    assert "expired 1.0 h ago" in await refusal(verifier, expired)


def test_builtin_issuer_jwks_is_public_only(tmp_path: Path) -> None:
    issuer = BuiltinIssuer.load_or_create(tmp_path, issuer_url="http://127.0.0.1:3210")
    [key] = issuer.jwks()["keys"]
    assert key["kid"] == issuer.kid and key["alg"] == "ES256" and key["use"] == "sig"
    assert key["kty"] == "EC" and key["crv"] == "P-256" and "d" not in key
    token = issuer.issue_token("s")
    assert jwt.decode(token, ECAlgorithm.from_jwk(key), algorithms=["ES256"], audience="reactor")


def test_builtin_issuer_refuses_reserved_claims_and_corrupt_key(tmp_path: Path) -> None:
    issuer = BuiltinIssuer.load_or_create(tmp_path)
    with pytest.raises(ValueError, match=r"\['aud', 'iss'\]"):
        issuer.issue_token("s", {"iss": "x", "aud": "y"})
    with pytest.raises(ValueError, match="subject"):
        issuer.issue_token("")
    (tmp_path / "auth" / "issuer_key.pem").write_text("garbage")
    with pytest.raises(AuthConfigError, match=r"issuer_key\.pem: not a usable private key"):
        BuiltinIssuer.load_or_create(tmp_path)


def test_builtin_issuer_cannot_also_be_configured(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    issuer = BuiltinIssuer.load_or_create(tmp_path)
    provider = rs256_provider("reactor", None, public_key_pem=public_pem(rsa_key))
    with pytest.raises(AuthConfigError, match="built-in issuer"):
        TokenVerifier(AuthConfig.build([provider], tmp_path), issuer)


# Admin key.


def test_admin_key_persistence_and_check(tmp_path: Path) -> None:
    key = AdminKey.load_or_create(tmp_path)
    path = tmp_path / "auth" / "admin_key"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert len(key.value) >= 40 and key.value in path.read_text()
    assert AdminKey.load_or_create(tmp_path).value == key.value
    assert AdminKey.load_or_create(tmp_path / "other").value != key.value
    assert key.check(key.value)
    assert not key.check(key.value[:-1])
    assert not key.check(key.value + "x")
    assert not key.check("")
    assert not key.check(None)
    assert key.value not in repr(key)
    assert not list(path.parent.glob(".*tmp"))


def test_admin_key_empty_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "admin_key").write_text("\n")
    with pytest.raises(AuthConfigError, match="admin_key: the admin key file is empty"):
        AdminKey.load_or_create(tmp_path)


# Identity.


def test_identity_from_claims_maps_standard_claims() -> None:
    identity = identity_from_claims(
        {
            "iss": "https://i",
            "sub": "s",
            "aud": "a",
            "exp": 1,
            "iat": 0,
            "nbf": 0,
            "jti": "j",
            "name": "N",
            "given_name": "G",
            "family_name": "F",
            "nickname": "nick",
            "preferred_username": "pu",
            "profile": "https://p",
            "picture": "https://pic",
            "email": "e@x",
            "email_verified": False,
            "phone_number": "+1",
            "phone_number_verified": True,
            "updated_at": 1700000000,
            "locale": "en",
            "zoneinfo": "UTC",
            "birthdate": "2000-01-01",
            "gender": "g",
            "address": "street",
            "https://example.com/roles": ["admin"],
            "org": "acme",
            "middle": None,
        }
    )
    assert identity == {
        "subject": "s",
        "issuer": "https://i",
        "tokenIdentifier": "https://i|s",
        "name": "N",
        "givenName": "G",
        "familyName": "F",
        "nickname": "nick",
        "preferredUsername": "pu",
        "profileUrl": "https://p",
        "pictureUrl": "https://pic",
        "email": "e@x",
        "emailVerified": False,
        "phoneNumber": "+1",
        "phoneNumberVerified": True,
        "updatedAt": "1700000000",
        "language": "en",
        "timezone": "UTC",
        "birthday": "2000-01-01",
        "gender": "g",
        "address": "street",
        "https://example.com/roles": ["admin"],
        "org": "acme",
    }


def test_identity_custom_claims_cannot_override_core_fields() -> None:
    identity = identity_from_claims(
        {"iss": "i", "sub": "s", "subject": "admin", "tokenIdentifier": "x|admin", "issuer": "x"}
    )
    assert identity == {"subject": "s", "issuer": "i", "tokenIdentifier": "i|s"}
