"""What a follower node reads of a PostgreSQL store that another node commits to.

The commit log is the tables themselves: every revision carries its commit `ts` and
`documents_by_ts` orders them, so "everything after `ts`" is one range scan. The
committer raises a notification in each batch's own statement (delivered when it
commits, so never ahead of the data); followers `LISTEN` for it as a wake-up only.
"""

from __future__ import annotations

import hashlib

from reactor.storage.postgres_schema import Target

READ_LAST_TS = "SELECT value FROM globals WHERE name = 'last_ts'"

# Each revision in (after, upto] with the revision of the same document just before
# it (a primary-key probe), so a follower knows the old index keys it removed.
READ_LOG = """
    SELECT d.ts, d.doc_id, d.table_name, d.value, (
        SELECT p.value FROM documents AS p
        WHERE p.doc_id = d.doc_id AND p.ts < d.ts ORDER BY p.ts DESC LIMIT 1)
    FROM documents AS d WHERE d.ts > $1 AND d.ts <= $2 ORDER BY d.ts, d.doc_id
"""


def channel(target: Target) -> str:
    """The notification channel of one schema (an identifier: short, no quoting)."""
    digest = hashlib.sha256(target.schema.encode()).hexdigest()[:16]
    return f"reactor_commits_{digest}"


# The committing node names itself (its address for forwarded transactions) and
# renews its term; `secret` is made once, so nodes that share the database (and
# only they) can authenticate to each other. Times are PostgreSQL's clock.
CLAIM_COMMITTER = """
    INSERT INTO committer_lease AS l (id, holder, address, epoch, expires_at, secret)
    VALUES (1, $1, $2, 1, clock_timestamp() + make_interval(secs => $3), $4)
    ON CONFLICT (id) DO UPDATE SET holder = $1, address = $2, epoch = l.epoch + 1,
        expires_at = clock_timestamp() + make_interval(secs => $3)
    RETURNING epoch, secret
"""
READ_COMMITTER = "SELECT address, secret, epoch FROM committer_lease WHERE id = 1"

# A follower takes the lease only once the holder's term has run out, or if no node has
# ever held it (every node of a new store may start with --follow).
TAKE_OVER = """
    INSERT INTO committer_lease AS l (id, holder, address, epoch, expires_at, secret)
    VALUES (1, $1, $2, 1, clock_timestamp() + make_interval(secs => $3), $4)
    ON CONFLICT (id) DO UPDATE SET holder = $1, address = $2, epoch = l.epoch + 1,
        expires_at = clock_timestamp() + make_interval(secs => $3)
    WHERE l.expires_at < clock_timestamp()
    RETURNING epoch, secret
"""
RENEW = """
    UPDATE committer_lease SET expires_at = clock_timestamp() + make_interval(secs => $3)
    WHERE id = 1 AND holder = $1 AND epoch = $2
    RETURNING epoch
"""

# Whether the holder's term has run out (read without waiting for the row's lock).
LEASE_EXPIRED = "SELECT expires_at < clock_timestamp() FROM committer_lease WHERE id = 1"

# End the session holding the writer's advisory lock (`owner_lock_key`, $1), unless it is
# this one: a deposed committer's, whose writes the lease's epoch fences anyway, but
# whose session (a stopped process keeps it open) would keep the new committer from
# writing; it waits (up to 5 s) until the session has ended. `pg_try_advisory_lock(int8)`
# names the key as classid (high half), objid (low half).
CUT_WRITER = """
    WITH k AS (SELECT hashtext($1)::int8 AS key)
    SELECT pg_terminate_backend(l.pid, 5000) FROM pg_locks AS l, k
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = ((k.key >> 32) & 4294967295)::oid
        AND l.objid = (k.key & 4294967295)::oid AND l.pid <> pg_backend_pid()
"""
