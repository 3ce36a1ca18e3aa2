"""A follower node's transport to the committing node: forwarded transactions over HTTP.

The committer names its address and the store's shared secret in the store
(`committer_lease`); a follower looks them up on first use and again after any
failure (the committer may have changed). The committer's answer is its commit ts, or
a conflict, which the follower's runner handles like a local one (it runs the
mutation again at a newer snapshot).
"""

from __future__ import annotations

import logging

import httpx

from reactor.errors import ConflictError, StorageError
from reactor.storage import CommitLog, CommitterInfo

logger = logging.getLogger("reactor.forwarding")

COMMIT_ROUTE = "/_reactor/commit"
SECRET_HEADER = "X-Reactor-Node"
# A forwarded commit waits for the committer's group commit, never for handlers.
TIMEOUT_S = 30.0


def unavailable(detail: str) -> StorageError:
    message = "CommitterUnavailable: the committing node could not be reached; try again"
    return StorageError(f"forwarding a commit: {detail}", code="CommitterUnavailable",
                        public=message)


class CommitForwarder:
    """`Database.forward` on a follower: send one encoded transaction, return its ts."""

    def __init__(self, log: CommitLog) -> None:
        self.log = log
        self._committer: CommitterInfo | None = None
        self._client = httpx.AsyncClient(timeout=TIMEOUT_S)

    async def close(self) -> None:
        await self._client.aclose()

    async def __call__(self, body: bytes) -> int:
        committer = self._committer or await self.log.committer()
        if committer is None:
            raise unavailable("no node has named itself the committer")
        try:
            response = await self._client.post(committer.address + COMMIT_ROUTE, content=body,
                                               headers={SECRET_HEADER: committer.secret})
        except httpx.HTTPError as exc:
            self._committer = None
            raise unavailable(f"{committer.address}: {type(exc).__name__}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and isinstance(answer.get("ts"), str):
            self._committer = committer
            return int(answer["ts"])
        if response.status_code == 409:
            self._committer = committer
            raise ConflictError(str(answer.get("message", "conflict")),
                                ts=int(answer.get("ts", "0")))
        self._committer = None
        raise unavailable(f"{committer.address} answered {response.status_code}: {answer}")
