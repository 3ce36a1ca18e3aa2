"""A JWKS document fetched from a URL: cached with a TTL, refetched once on an unknown `kid`."""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.request

import anyio
import anyio.to_thread

from reactor.runtime.auth.errors import AuthConfigError, AuthenticationError
from reactor.runtime.auth.keys import Algorithm, VerifyKey, keys_from_jwks

MAX_JWKS_BYTES = 1 << 20

logger = logging.getLogger("reactor.auth")


def _fetch_json(url: str, timeout: float) -> object:
    """Blocking GET of a JSON document; runs in a worker thread."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read(MAX_JWKS_BYTES + 1)
    if len(body) > MAX_JWKS_BYTES:
        raise ValueError(f"document is larger than {MAX_JWKS_BYTES} bytes")
    return json.loads(body)


class RemoteJwks:
    """The keys published at one URL for one algorithm.

    Keys are refreshed after `ttl` seconds. A token whose `kid` is not among them
    triggers one refetch (key rotation), at most every `min_refetch_interval`
    seconds so that made-up `kid`s cannot turn into a flood of requests. When a
    refresh fails, the keys already known stay in use.
    """

    def __init__(
        self,
        url: str,
        algorithm: Algorithm,
        *,
        ttl: float = 600.0,
        min_refetch_interval: float = 5.0,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.algorithm = algorithm
        self.ttl = ttl
        self.min_refetch_interval = min_refetch_interval
        self.timeout = timeout
        self.fetch_count = 0
        self._keys: tuple[VerifyKey, ...] | None = None
        self._expires_at = 0.0
        self._last_attempt = float("-inf")
        self._lock = anyio.Lock()

    def _knows(self, kid: str | None) -> bool:
        assert self._keys is not None
        return kid is None or any(k.kid in (None, kid) for k in self._keys)

    async def keys(self, kid: str | None) -> tuple[VerifyKey, ...]:
        """The current keys, fetched first if missing, stale, or lacking `kid`."""
        async with self._lock:
            now = time.monotonic()
            wanted = self._keys is None or now >= self._expires_at or not self._knows(kid)
            allowed = self._keys is None or now - self._last_attempt >= self.min_refetch_interval
            if wanted and allowed:
                await self._refresh(now)
            assert self._keys is not None
            return self._keys

    async def _refresh(self, now: float) -> None:
        self._last_attempt = now
        self.fetch_count += 1
        try:
            document = await anyio.to_thread.run_sync(_fetch_json, self.url, self.timeout)
            keys = keys_from_jwks(document, self.algorithm, f"JWKS at {self.url}")
        except (OSError, ValueError, http.client.HTTPException, AuthConfigError) as e:
            reason = e.message if isinstance(e, AuthConfigError) else f"{type(e).__name__}: {e}"
            logger.error("the JWKS at %s could not be loaded%s: %s", self.url,
                         "" if self._keys is None else " (the keys known stay in use)", reason)
            if self._keys is not None:
                return
            raise AuthenticationError(f"could not load keys from {self.url}: {reason}",
                                      code="InvalidAuthHeader") from None
        self._keys = keys
        self._expires_at = now + self.ttl
