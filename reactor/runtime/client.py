"""Which network client a call came from, for per-client limits in app code.

The server records the peer address of each HTTP request and WebSocket before it
runs the client's functions; code running for that client (an action, the
functions it calls) reads it with `client_address()`. Scheduled jobs, `reactor
run` and in-process test calls have none. Behind a reverse proxy every client
has the proxy's address, so per-client limits apply to the proxy as a whole.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_address: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_address",
                                                                      default=None)


def client_address() -> str | None:
    """The calling client's network address (an IP address), or None when unknown."""
    return _address.get()


def set_client_address(address: str | None) -> None:
    """Record the address for the current task and the tasks it starts (a socket's)."""
    _address.set(address)


@contextmanager
def client_scope(address: str | None) -> Iterator[None]:
    """Calls made inside the block come from `address` (one HTTP request; tests)."""
    token = _address.set(address)
    try:
        yield
    finally:
        _address.reset(token)
