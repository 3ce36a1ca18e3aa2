"""Authentication: trusted token providers, token verification, the built-in issuer, admin key."""

from reactor.runtime.auth.admin_key import AdminKey
from reactor.runtime.auth.errors import AuthConfigError, AuthenticationError
from reactor.runtime.auth.identity import identity_from_claims
from reactor.runtime.auth.issuer import BuiltinIssuer
from reactor.runtime.auth.jwks import RemoteJwks
from reactor.runtime.auth.keys import (
    Algorithm,
    JwksFile,
    JwksUrl,
    KeySpec,
    PublicKeyPem,
    SecretEnv,
    VerifyKey,
)
from reactor.runtime.auth.providers import (
    AuthConfig,
    Provider,
    es256_provider,
    hs256_provider,
    load_auth_config,
    provider_from_dict,
    rs256_provider,
)
from reactor.runtime.auth.verifier import TokenVerifier

__all__ = [
    "AdminKey",
    "Algorithm",
    "AuthConfig",
    "AuthConfigError",
    "AuthenticationError",
    "BuiltinIssuer",
    "JwksFile",
    "JwksUrl",
    "KeySpec",
    "Provider",
    "PublicKeyPem",
    "RemoteJwks",
    "SecretEnv",
    "TokenVerifier",
    "VerifyKey",
    "es256_provider",
    "hs256_provider",
    "identity_from_claims",
    "load_auth_config",
    "provider_from_dict",
    "rs256_provider",
]
