"""A follower node's transport to the committing node: forwarded transactions over HTTP.

The committer names its address and the store's shared secret in the store
(`committer_lease`); a follower looks them up on first use and again after any
failure (the committer may have changed). The committer's answer is its commit ts, or
a conflict, which the follower's runner handles like a local one (it runs the
mutation again at a newer snapshot).
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from reactor.errors import ConflictError, StorageError
from reactor.storage import CommitLog, CommitterInfo

logger = logging.getLogger("reactor.forwarding")

COMMIT_ROUTE = "/_reactor/commit"
SECRET_HEADER = "X-Reactor-Node"
# A forwarded commit waits for the committer's group commit, never for handlers.
TIMEOUT_S = 30.0
# How long a follower keeps looking for a committer it can connect to (the failover
# bound of docs/guide/nodes.md), and how often.
FAILOVER_WAIT_S = 10.0
RETRY_S = 0.2


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
        """Send `body` to the committer. Until `FAILOVER_WAIT_S`, a committer that cannot
        be connected to (it died; a follower is taking over) is looked up again and
        the transaction sent to the new one: nothing was sent, so nothing can apply
        twice; so is a node that answers it does not commit (yet, or any more). A
        request sent whose answer is lost fails (`CommitterUnavailable`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FAILOVER_WAIT_S
        while True:
            committer = self._committer or await self.log.committer()
            if committer is None:
                detail = "no node has named itself the committer"
            else:
                try:
                    response = await self._client.post(
                        committer.address + COMMIT_ROUTE, content=body,
                        headers={SECRET_HEADER: committer.secret})
                    if not _not_committing(response):
                        break
                    detail = f"{committer.address} is not committing (yet)"
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    detail = f"{committer.address}: {type(exc).__name__}: {exc}"
                except httpx.HTTPError as exc:
                    self._committer = None
                    raise unavailable(f"{committer.address}: {type(exc).__name__}: {exc}"
                                      ) from None
            self._committer = None
            if loop.time() > deadline:
                raise unavailable(detail)
            await asyncio.sleep(RETRY_S)
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


def _not_committing(response: httpx.Response) -> bool:
    """Whether the node refused without committing anything: it has not finished taking
    over (NotCommitter), or it was deposed and stopped (DatabaseClosed)."""
    if response.status_code != 503:
        return False
    try:
        code = response.json().get("code")
    except ValueError:
        return False
    return code in ("NotCommitter", "DatabaseClosed")
