"""The engine's role among the nodes that share one PostgreSQL store (docs/architecture.md,
"Many nodes"), or the workers of `reactor serve --workers N` that share one SQLite data
directory: the committer, holding the store's lease, or a follower, serving from the
shared commit log and forwarding its mutations; a follower takes the lease over when
its holder's term runs out (on SQLite: when its holder exits). A lone engine on SQLite
is its own committer and holds no lease.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, cast

from reactor.errors import ReactorError
from reactor.runtime.files import FileService
from reactor.runtime.forwarding import CommitForwarder
from reactor.runtime.loader import App
from reactor.runtime.scheduler import Scheduler
from reactor.runtime.system import system_tables
from reactor.schema import SchemaDefinition
from reactor.storage import FollowableStorage, WorkerGroup
from reactor.storage.sqlite import SqliteStorage
from reactor.transactions import Database, DatabaseOptions

if TYPE_CHECKING:
    from reactor.storage.postgres import PostgresStorage

logger = logging.getLogger("reactor.engine")

# The committer's term in the store's lease (docs/architecture.md, "Many nodes").
LEASE_TERM_S = 5.0
# How often the committer renews it, and a follower checks whether it ran out.
LEASE_CHECK_S = 1.0
# How often a SQLite worker tries the lease (a `flock` that fails at once while the
# holder lives): a committer that died is replaced within this, plus the catch-up.
WORKER_LEASE_CHECK_S = 0.1

# How long a follower node waits for the commit log to reach a ts a client read at
# elsewhere, before it answers "in the future".
FOLLOW_WAIT_S = 5.0



class NodeRole:
    """The node half of `Engine` (a mixin: it uses the engine's database, app and scheduler)."""

    app: App
    database: Database
    scheduler: Scheduler
    files: FileService

    def init_node(self, follow: bool, node_url: str, group: WorkerGroup | None = None) -> None:
        # A follower node of a PostgreSQL store another node commits to (`--follow`):
        # it serves queries and subscriptions from the shared commit log and commits
        # nothing; scheduled jobs, crons and startup functions run on the committer.
        self.follow = follow
        # Where other nodes reach this one (forwarded transactions); the secret the
        # nodes of one PostgreSQL store share, once this node commits to it.
        self.node_url = node_url
        self.node_secret: str | None = None
        self.forwarder: CommitForwarder | None = None
        self.node_id = uuid.uuid4().hex
        # A worker of `reactor serve --workers N`: the lease decides its role at start.
        self.group = group
        self._shared: FollowableStorage | None = None
        self._lease_check_s = LEASE_CHECK_S
        self._lease: asyncio.Task[None] | None = None
        # Whether the server asked for background jobs (run once this node commits).
        self._background = False

    def start_scheduler(self) -> None:
        raise NotImplementedError

    async def run_startup_functions(self) -> None:
        raise NotImplementedError

    async def open_database(self, storage: SqliteStorage | PostgresStorage,
                            schema: SchemaDefinition | None,
                            options: DatabaseOptions) -> Database:
        """The database over `storage`: following the commit log (a follower), or
        committing, with the lease claimed on PostgreSQL (or taken, by a SQLite worker
        that finds it free)."""
        if self.group is not None and isinstance(storage, SqliteStorage):
            self._shared = storage
            self._lease_check_s = WORKER_LEASE_CHECK_S
            taken = await storage.take_over(self.node_id, self.node_url, LEASE_TERM_S)
            self.follow = taken is None
            if taken is not None:
                self.node_secret = taken.secret
                return await Database.open(storage, schema, options, system_tables())
        if self.follow:
            if isinstance(storage, SqliteStorage) and self.group is None:
                raise ReactorError("--follow needs a PostgreSQL store another node commits"
                                   " to (--db postgresql://...)", code="BadConfig")
            followed = cast(FollowableStorage, storage)
            database = await Database.follow(followed, schema, options, system_tables())
            self.forwarder = CommitForwarder(followed)
            database.forward = self.forwarder
            self._shared = followed
            return database
        database = await Database.open(storage, schema, options, system_tables())
        if not isinstance(storage, SqliteStorage):
            committer = await storage.claim_commits(self.node_id, self.node_url, LEASE_TERM_S)
            self.node_secret = committer.secret
            self._shared = storage
        return database

    def start_lease(self) -> None:
        """On a shared store: renew the committer lease, or (a follower) take it over when
        its holder's term runs out (docs/architecture.md, "Many nodes")."""
        if self._shared is not None and self._lease is None:
            self._lease = asyncio.create_task(self._keep_lease(self._shared),
                                              name="reactor-lease")

    async def _keep_lease(self, storage: FollowableStorage) -> None:
        while True:
            await asyncio.sleep(self._lease_check_s)
            try:
                if self.follow:
                    taken = await storage.take_over(self.node_id, self.node_url, LEASE_TERM_S)
                    if taken is not None:
                        await self._promote(storage, taken.secret)
                elif not await storage.renew(self.node_id, LEASE_TERM_S):
                    await self._demote(storage)
            except Exception:
                logger.exception("keeping the committer lease failed; will retry")

    async def _promote(self, storage: FollowableStorage, secret: str) -> None:
        """This follower took the lease: commit from now on, and run what committers run."""
        logger.warning("the committer's lease is free (its term ran out, or its holder exited):"
                       " this node takes over committing")
        # Other followers send to this node from now on: it answers NotCommitter (they
        # retry) until it commits. Its own forwarder stays open for calls in flight.
        self.node_secret = secret
        await self.database.promote(storage)
        self.follow = False
        # As a committer does at start: the app this node runs governs the data.
        await self.database.apply_schema(self.app.schema)
        await self.scheduler.start(self.app.crons)
        if self._background:
            self.start_scheduler()
        # The previous committer may have left work half done, as at a restart.
        await self.run_startup_functions()
        logger.warning("this node commits from now on")

    async def _demote(self, storage: FollowableStorage) -> None:
        """Another node took the lease (this one could not renew its term in time, e.g.
        stopped or cut off from PostgreSQL): its writes are fenced from then on. Stop
        what committers run and follow the new committer, as a `--follow` node does;
        this node takes the lease again if that one's term runs out."""
        logger.error("another node took the committer lease: this node stops committing"
                     " and follows the new committer")
        self.follow = True
        self.scheduler.halt()  # no new jobs or crons here; running ones finish below
        if self.forwarder is None:
            self.forwarder = CommitForwarder(storage)
        await self.database.demote(storage, self.forwarder)
        await self.scheduler.stop()
        await self.files.stop_sweep()

    async def stop_lease(self) -> None:
        if self._lease is not None:
            self._lease.cancel()
            await asyncio.gather(self._lease, return_exceptions=True)
            self._lease = None

    async def close_forwarder(self) -> None:
        if self.forwarder is not None:
            await self.forwarder.close()
