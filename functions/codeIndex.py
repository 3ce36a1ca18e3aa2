"""The code index (the seed's Milestone 6): chunks of a repository's files, searched by text.

The seed embedded chunks and searched them in a vector store; here a chunk's
code is in a text search index (BM25 over its words), filtered by repository
namespace, so the agent's `semantic_search` needs no embedding model. The
agent's run fills the index (functions/_lib/agent_tools.py) and
`repositoryIndex.lastCommitSha` lets it skip a commit already indexed.
"""

from __future__ import annotations

from typing import Final

from reactor import MISSING, MutationCtx, QueryCtx, internal_mutation, internal_query, v

from ._lib.authz import Doc

CLEAR_BATCH: Final = 1_000
MAX_RESULTS: Final = 20

chunk = v.object({"path": v.string(), "name": v.string(), "lang": v.string(),
                  "kind": v.string(), "lineStart": v.number(), "lineEnd": v.number(),
                  "code": v.string()})


async def index_row(ctx: QueryCtx, namespace: str) -> Doc | None:
    return await (ctx.db.query("repositoryIndex")
                  .with_index("by_repo", lambda q: q.eq("repoFullName", namespace)).first())


@internal_query
async def state(ctx: QueryCtx, namespace: str) -> Doc | None:
    """The namespace's `repositoryIndex` row (lastCommitSha), or None if never indexed."""
    return await index_row(ctx, namespace)


@internal_mutation
async def clear(ctx: MutationCtx, namespace: str) -> int:
    """Delete up to CLEAR_BATCH of the namespace's chunks (and its index record); how many
    chunks went (call until 0)."""
    rows = await (ctx.db.query("codeChunks")
                  .with_index("by_repo", lambda q: q.eq("repoFullName", namespace))
                  .take(CLEAR_BATCH))
    for row in rows:
        await ctx.db.delete(row["_id"])
    record = await index_row(ctx, namespace)
    if record is not None:
        await ctx.db.patch(record["_id"], {"lastCommitSha": MISSING})
    return len(rows)


@internal_mutation(args={"namespace": v.string(), "chunks": v.array(chunk)})
async def add(ctx: MutationCtx, namespace: str, chunks: list[Doc]) -> None:
    for item in chunks:
        await ctx.db.insert("codeChunks", {**item, "repoFullName": namespace})


@internal_mutation
async def markIndexed(ctx: MutationCtx, namespace: str, commitSha: str) -> None:
    """Record that the namespace's chunks are of `commitSha`."""
    now = ctx.now()
    record = await index_row(ctx, namespace)
    if record is None:
        await ctx.db.insert("repositoryIndex", {"repoFullName": namespace, "lastIndexedAt": now,
                                                "lastCommitSha": commitSha, "createdAt": now,
                                                "updatedAt": now})
    else:
        await ctx.db.patch(record["_id"], {"lastIndexedAt": now, "lastCommitSha": commitSha,
                                           "updatedAt": now})


@internal_query
async def search(ctx: QueryCtx, namespace: str, text: str, limit: int = 8) -> list[Doc]:
    """The namespace's chunks best matching `text`, most relevant first."""
    rows: list[Doc] = await (ctx.db.query("codeChunks")
                             .with_search_index("search_code",
                                                lambda q: q.search("code", text)
                                                .eq("repoFullName", namespace))
                             .take(max(1, min(limit, MAX_RESULTS))))
    return rows
