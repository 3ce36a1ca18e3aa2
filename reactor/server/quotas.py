"""Per-caller rate limits on mutations and actions: a token bucket per identity, in memory.

A caller is its verified identity (`tokenIdentifier`, across all its sockets);
an anonymous caller is its WebSocket connection, or its address over HTTP (the
connection caps bound how many of those one host can have). Admins are not
limited. Each bucket holds two seconds' worth of calls, so a burst after a quiet
spell goes through; past it a call is refused with `RateLimited` and the time
to wait, without running anything.

Buckets live only in memory (the limit protects this process, not the data):
a full bucket is the same as none, so full ones are dropped when the table grows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any

from reactor.runtime.token_bucket import BucketPolicy, take

BURST_SECONDS = 2.0
# Past this many buckets, the full ones are swept out.
SWEEP_AT = 10_000


class RateLimited(Exception):
    """A call over its caller's rate; `message` is what the client reads."""

    code = "RateLimited"

    def __init__(self, kind: str, rate: float, retry_after: float) -> None:
        self.retry_after = retry_after
        self.message = (f"more than {rate:g} {kind}s per second from this client;"
                        f" retry in {retry_after:.2g} s")
        super().__init__(self.message)


class CallQuotas:
    """Buckets for one kind of call (mutation or action); `rate` 0 means unlimited."""

    def __init__(self, kind: str, rate: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kind = kind
        self.rate = rate
        self.policy = BucketPolicy(rate, 1.0, rate * BURST_SECONDS) if rate > 0 else None
        self.clock = clock
        self.refused = 0
        self._buckets: dict[Hashable, tuple[float, float]] = {}

    def charge(self, caller: Hashable | None) -> None:
        """Take one call from `caller`'s bucket, or raise `RateLimited`; None: not limited."""
        policy = self.policy
        if policy is None or caller is None:
            return
        now = self.clock()
        tokens, counted = self._buckets.get(caller, (policy.capacity, now))
        taken = take(policy, tokens, counted, now)
        if not taken.ok:
            self.refused += 1
            raise RateLimited(self.kind, self.rate, taken.retry_after_s)
        if len(self._buckets) >= SWEEP_AT and caller not in self._buckets:
            self._sweep(now)
        self._buckets[caller] = (taken.tokens, now)

    def forget(self, caller: Hashable) -> None:
        """Drop a bucket whose caller is gone (an anonymous socket that closed)."""
        self._buckets.pop(caller, None)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        policy = self.policy
        assert policy is not None
        self._buckets = {caller: state for caller, state in self._buckets.items()
                         if policy.level(state[0], state[1], now) < policy.capacity}


def caller_key(identity: dict[str, Any] | None, admin: bool, anonymous: Hashable
               ) -> Hashable | None:
    """Whose bucket a call takes from: the identity's, `anonymous`'s, or none (admin)."""
    if admin:
        return None
    if identity is not None:
        return ("identity", identity.get("tokenIdentifier") or identity.get("subject"))
    return ("anonymous", anonymous)


class Quotas:
    """The server's call quotas: `mutations` and `actions`."""

    def __init__(self, mutation_rate: float, action_rate: float) -> None:
        self.mutations = CallQuotas("mutation", mutation_rate)
        self.actions = CallQuotas("action", action_rate)

    def forget(self, caller: Hashable) -> None:
        self.mutations.forget(caller)
        self.actions.forget(caller)
