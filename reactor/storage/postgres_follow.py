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
