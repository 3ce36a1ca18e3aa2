"""One-time dashboard login codes: `reactor dashboard` makes one, the dashboard trades it
for the admin key, so the key itself never has to be typed, pasted or kept in history.

A code is `EXPIRY.NONCE.MAC`, the MAC keyed with the admin key: whoever holds the key
(the CLI, from the data directory or `--admin-key`) can make one without calling the
server, and the server checks it without storing anything until it is used. Used
nonces are remembered until they expire, so each code works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from reactor.runtime.auth import AdminKey

# A code printed in a terminal is used within seconds; five minutes is plenty.
CODE_TTL_S = 300.0
_DOMAIN = b"reactor-dashboard-login:"


def _mac(admin_key: str, payload: str) -> str:
    return hmac.new(admin_key.encode(), _DOMAIN + payload.encode(), hashlib.sha256).hexdigest()


def make_code(admin_key: str, *, now: float | None = None, ttl_s: float = CODE_TTL_S) -> str:
    """A fresh code, valid for `ttl_s` seconds, for the deployment of `admin_key`."""
    expires = int((time.time() if now is None else now) + ttl_s)
    payload = f"{expires}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_mac(admin_key, payload)}"


class LoginCodes:
    """Checks codes against the server's admin key and lets each one in once."""

    def __init__(self, admin_key: Callable[[], AdminKey],
                 clock: Callable[[], float] = time.time) -> None:
        self._admin_key = admin_key
        self._clock = clock
        self._used: dict[str, float] = {}

    def redeem(self, code: object) -> bool:
        """Whether `code` is genuine, unexpired and not used before (it is used now)."""
        if not isinstance(code, str) or len(code) > 256:
            return False
        expires_text, _, rest = code.partition(".")
        nonce, _, mac = rest.partition(".")
        if not expires_text.isdigit() or not nonce or not mac:
            return False
        payload = f"{expires_text}.{nonce}"
        if not hmac.compare_digest(mac, _mac(self._admin_key().value, payload)):
            return False
        now = self._clock()
        self._used = {n: t for n, t in self._used.items() if t >= now}
        if int(expires_text) < now or nonce in self._used:
            return False
        self._used[nonce] = float(expires_text)
        return True
