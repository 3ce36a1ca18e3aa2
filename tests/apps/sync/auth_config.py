"""Trust HS256 tokens signed with $SYNC_TEST_HS256_SECRET, besides the built-in issuer."""

from reactor.runtime.auth import hs256_provider

providers = [
    hs256_provider("https://hs256.test", "sync-tests", secret_env="SYNC_TEST_HS256_SECRET"),
]
