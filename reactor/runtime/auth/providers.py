"""The app's trusted token issuers: helpers for `auth_config.py` and loading that file."""

from __future__ import annotations

import importlib.util
import logging
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactor.runtime.auth.errors import AuthConfigError
from reactor.runtime.auth.keys import (
    Algorithm,
    JwksFile,
    JwksUrl,
    KeySpec,
    PublicKeyPem,
    SecretEnv,
    VerifyKey,
    resolve_static_keys,
)

CONFIG_FILE = "auth_config.py"

logger = logging.getLogger("reactor.auth")


@dataclass(frozen=True)
class Provider:
    """One trusted issuer: tokens whose `iss` equals `issuer` are checked with `key`.

    `audience=None` means the `aud` claim is not checked. `defined_at` is where the
    provider was declared, for error messages.
    """

    issuer: str
    algorithm: Algorithm
    key: KeySpec
    audience: tuple[str, ...] | None
    defined_at: str = field(default="", compare=False)


@dataclass(frozen=True)
class AuthConfig:
    """The validated providers, with key material that needs no network already loaded."""

    providers: tuple[Provider, ...] = ()
    static_keys: Mapping[str, tuple[VerifyKey, ...]] = field(default_factory=dict)
    source: Path | None = None
    # Issuers whose JWKS file could not be read, and why: their tokens are refused
    # (InvalidAuthHeader), the server and the other providers go on.
    broken: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls, providers: Iterable[Provider], base_dir: Path, source: Path | None = None
    ) -> AuthConfig:
        """Check the providers and load their keys; errors name where each was declared."""
        checked: list[Provider] = []
        keys: dict[str, tuple[VerifyKey, ...]] = {}
        broken: dict[str, str] = {}
        for index, provider in enumerate(providers):
            where = provider.defined_at or f"{source or 'providers'}[{index}]"
            if provider.issuer in keys:
                raise AuthConfigError(f"{where}: issuer {provider.issuer!r} is listed twice")
            try:
                keys[provider.issuer] = resolve_static_keys(
                    provider.key, provider.algorithm, base_dir
                )
            except AuthConfigError as e:
                if not isinstance(provider.key, JwksFile):
                    raise AuthConfigError(
                        f"{where}: provider for issuer {provider.issuer!r}: {e.message}"
                    ) from None
                logger.error("%s: the JWKS of issuer %r cannot be used, so its tokens will be"
                             " refused: %s", where, provider.issuer, e.message)
                keys[provider.issuer] = ()
                broken[provider.issuer] = e.message
            checked.append(provider)
        return cls(providers=tuple(checked), static_keys=keys, source=source, broken=broken)


def _call_site() -> str:
    """`file:line` of the code that called the public helper calling this."""
    frame = sys._getframe(2)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _audience(audience: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if audience is None:
        return None
    values = (audience,) if isinstance(audience, str) else tuple(audience)
    if not values or not all(isinstance(a, str) and a for a in values):
        raise AuthConfigError(
            f"audience must be a non-empty string, a list of them, or None; got {audience!r}"
        )
    return values


def _issuer(issuer: object) -> str:
    if not isinstance(issuer, str) or not issuer:
        raise AuthConfigError(f"issuer must be a non-empty string, got {issuer!r}")
    return issuer


def _public_key_spec(
    public_key_pem: str | None, jwks_file: str | Path | None, jwks_url: str | None
) -> KeySpec:
    given = [
        spec
        for spec in (
            PublicKeyPem(public_key_pem) if public_key_pem is not None else None,
            JwksFile(str(jwks_file)) if jwks_file is not None else None,
            JwksUrl(jwks_url) if jwks_url is not None else None,
        )
        if spec is not None
    ]
    if len(given) != 1:
        raise AuthConfigError(
            f"give exactly one of public_key_pem=, jwks_file=, jwks_url= (got {len(given)})"
        )
    spec = given[0]
    if isinstance(spec, JwksUrl) and not spec.url.startswith(("https://", "http://")):
        raise AuthConfigError(f"jwks_url must be an http(s) URL, got {spec.url!r}")
    return spec


def hs256_provider(
    issuer: str, audience: str | Sequence[str] | None, *, secret_env: str
) -> Provider:
    """Trust HS256 tokens from `issuer` signed with the secret in `$secret_env`."""
    if not isinstance(secret_env, str) or not secret_env:
        raise AuthConfigError(f"secret_env must name an environment variable, got {secret_env!r}")
    return Provider(
        _issuer(issuer), Algorithm.HS256, SecretEnv(secret_env), _audience(audience), _call_site()
    )


def rs256_provider(
    issuer: str,
    audience: str | Sequence[str] | None,
    *,
    public_key_pem: str | None = None,
    jwks_file: str | Path | None = None,
    jwks_url: str | None = None,
) -> Provider:
    """Trust RS256 tokens from `issuer`, checked with a PEM key or a JWKS (file or URL)."""
    key = _public_key_spec(public_key_pem, jwks_file, jwks_url)
    return Provider(_issuer(issuer), Algorithm.RS256, key, _audience(audience), _call_site())


def es256_provider(
    issuer: str,
    audience: str | Sequence[str] | None,
    *,
    public_key_pem: str | None = None,
    jwks_file: str | Path | None = None,
    jwks_url: str | None = None,
) -> Provider:
    """Trust ES256 (P-256) tokens from `issuer`, checked with a PEM key or a JWKS."""
    key = _public_key_spec(public_key_pem, jwks_file, jwks_url)
    return Provider(_issuer(issuer), Algorithm.ES256, key, _audience(audience), _call_site())


_DICT_KEYS = frozenset(
    {"issuer", "audience", "algorithm", "secret_env", "public_key_pem", "jwks_file", "jwks_url"}
)


def provider_from_dict(entry: Mapping[str, Any], where: str) -> Provider:
    """A provider written as a dict: the helpers' keyword names plus `algorithm`."""
    unknown = sorted(set(entry) - _DICT_KEYS)
    if unknown:
        raise AuthConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(_DICT_KEYS)}")
    if "issuer" not in entry or "audience" not in entry:
        raise AuthConfigError(f"{where}: needs 'issuer' and 'audience' (None to skip the check)")
    algorithm = entry.get("algorithm")
    try:
        match algorithm:
            case "HS256":
                if "secret_env" not in entry:
                    raise AuthConfigError("algorithm 'HS256' needs 'secret_env'")
                provider = hs256_provider(
                    entry["issuer"], entry["audience"], secret_env=entry["secret_env"]
                )
            case "RS256" | "ES256":
                if "secret_env" in entry:
                    raise AuthConfigError(f"'secret_env' is only for HS256, not {algorithm}")
                make = rs256_provider if algorithm == "RS256" else es256_provider
                provider = make(
                    entry["issuer"],
                    entry["audience"],
                    public_key_pem=entry.get("public_key_pem"),
                    jwks_file=entry.get("jwks_file"),
                    jwks_url=entry.get("jwks_url"),
                )
            case _:
                raise AuthConfigError(
                    f"'algorithm' must be one of HS256, RS256, ES256; got {algorithm!r}"
                )
    except AuthConfigError as e:
        raise AuthConfigError(f"{where}: {e.message}") from None
    return Provider(provider.issuer, provider.algorithm, provider.key, provider.audience, where)


def _import_config(path: Path) -> Any:
    """Import `auth_config.py`; any error names the file and the failing line in it."""
    spec = importlib.util.spec_from_file_location("_reactor_app_auth_config", path)
    if spec is None or spec.loader is None:
        raise AuthConfigError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise AuthConfigError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:
        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == str(path)]
        where = f"{path}:{lines[-1]}" if lines else str(path)
        detail = e.message if isinstance(e, AuthConfigError) else f"{type(e).__name__}: {e}"
        raise AuthConfigError(f"{where}: {detail}") from None
    return module


def load_auth_config(app_dir: str | Path) -> AuthConfig:
    """Load `<app_dir>/auth_config.py` (`providers = [...]`); empty config if there is none."""
    base = Path(app_dir).resolve()
    path = base / CONFIG_FILE
    if not path.is_file():
        return AuthConfig()
    module = _import_config(path)
    listed = getattr(module, "providers", None)
    if not isinstance(listed, list | tuple):
        raise AuthConfigError(
            f"{path}: must define `providers = [...]`, got {type(listed).__name__}"
        )
    providers: list[Provider] = []
    for index, entry in enumerate(listed):
        where = f"{path}: providers[{index}]"
        if isinstance(entry, Provider):
            providers.append(entry)
        elif isinstance(entry, Mapping):
            providers.append(provider_from_dict(entry, where))
        else:
            raise AuthConfigError(
                f"{where}: expected a provider (hs256_provider(...), rs256_provider(...), "
                f"es256_provider(...)) or a dict, got {type(entry).__name__}"
            )
    return AuthConfig.build(providers, base, path)
