"""Search for the frontend and the agent: code by meaning, chat history by words.

`search:code` embeds the question (the deployment's embedder) and searches one
repository's chunks, `mode` "hybrid" (the default: the text and the vector
search fused by reciprocal rank fusion, so that identifiers and meaning both
count) or "semantic" (vectors only). `search:messages` is a text search over the
caller's own chat messages, optionally one task's. Both see only what the
caller may: the repositories of their tasks, their messages.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from reactor import (
    ActionCtx,
    MutationCtx,
    QueryCtx,
    action,
    internal_mutation,
    internal_query,
    query,
    v,
)

from ._lib.authz import Doc, require_repository, require_task, require_user
from ._lib.embeddings import embedder_for, hash_embedding
from ._lib.errors import app_error

MAX_RESULTS: Final = 50
DEFAULT_RESULTS: Final = 8
BACKFILL_BATCH: Final = 200
SearchMode = Literal["hybrid", "semantic"]
CHUNK_FIELDS: Final = ("path", "name", "lang", "kind", "lineStart", "lineEnd", "code")


def clamp(limit: int | None) -> int:
    return max(1, min(DEFAULT_RESULTS if limit is None else int(limit), MAX_RESULTS))


async def code_hits(ctx: QueryCtx, namespace: str, text: str, vector: list[float],
                    mode: SearchMode, limit: int) -> list[Doc]:
    """The namespace's best chunks, each with its `score`, best first."""
    if mode == "semantic":
        hits = await ctx.vector_search("codeChunks", "by_embedding", vector=vector,
                                       limit=limit,
                                       filter=lambda q: q.eq("repoFullName", namespace))
    else:
        hits = await ctx.hybrid_search("codeChunks", text_index="search_code", text=text,
                                       vector_index="by_embedding", vector=vector,
                                       limit=limit, eq={"repoFullName": namespace})
    rows: list[Doc] = []
    for hit in hits:
        doc = await ctx.db.get(hit["_id"])
        if doc is not None:
            rows.append({"_id": doc["_id"], **{key: doc[key] for key in CHUNK_FIELDS},
                         "score": hit["_score"]})
    return rows


search_args = {"namespace": v.string(), "text": v.string(), "vector": v.array(v.float64()),
               "mode": v.union(v.literal("hybrid"), v.literal("semantic")),
               "limit": v.number()}


@internal_query(args=search_args)
async def codeForCaller(ctx: QueryCtx, namespace: str, text: str, vector: list[float],
                        mode: SearchMode, limit: int) -> list[Doc]:
    await require_repository(ctx, namespace)
    return await code_hits(ctx, namespace, text, vector, mode, clamp(limit))


@internal_query(args=search_args)
async def codeInNamespace(ctx: QueryCtx, namespace: str, text: str, vector: list[float],
                          mode: SearchMode, limit: int) -> list[Doc]:
    """The same without a caller: for the agent, whose task already owns the namespace."""
    return await code_hits(ctx, namespace, text, vector, mode, clamp(limit))


@action(args={"repoFullName": v.string(), "query": v.string(),
              "mode": v.optional(v.union(v.literal("hybrid"), v.literal("semantic"))),
              "limit": v.optional(v.number())})
async def code(ctx: ActionCtx, repoFullName: str, query: str, mode: SearchMode = "hybrid",
               limit: int | None = None) -> list[Doc]:
    """The repository's chunks most relevant to `query`, best first, each
    `{_id, path, name, lang, kind, lineStart, lineEnd, code, score}`."""
    await ctx.run_query("codeIndex:progress", {"repoFullName": repoFullName})
    [vector] = await (await embedder_for(ctx.env)).embed([query])
    rows: list[Doc] = await ctx.run_query("search:codeForCaller", {
        "namespace": repoFullName, "text": query, "vector": vector, "mode": mode,
        "limit": clamp(limit)})
    return rows


@query(args={"repoFullName": v.string(), "query": v.string(),
             "mode": v.optional(v.union(v.literal("hybrid"), v.literal("semantic"))),
             "limit": v.optional(v.number())})
async def codeLive(ctx: QueryCtx, repoFullName: str, query: str, mode: SearchMode = "hybrid",
                   limit: int | None = None) -> list[Doc]:
    """`search:code` as a query, so a subscribed page's results follow the index as it
    fills. Only with the hashing embedder, which a query can run (deterministic, no
    network); with another, use the search:code action."""
    provider = (await ctx.env.get("EMBEDDINGS_PROVIDER") or "hashing").strip().lower()
    if provider != "hashing":
        raise app_error("EmbeddingFailed", f"search:codeLive embeds in the query, which only"
                        f" the hashing embedder can; EMBEDDINGS_PROVIDER is {provider!r}:"
                        " call the search:code action")
    await require_repository(ctx, repoFullName)
    return await code_hits(ctx, repoFullName, query, hash_embedding(query), mode, clamp(limit))


@query(args={"query": v.string(), "taskId": v.optional(v.id("tasks")),
             "limit": v.optional(v.number())})
async def messages(ctx: QueryCtx, query: str, taskId: str | None = None,
                   limit: int | None = None) -> list[dict[str, Any]]:
    """The caller's chat messages best matching `query` (BM25; the last word matches as
    a prefix), across their tasks or in one of them; reactive like any query."""
    if taskId is not None:
        user, _ = await require_task(ctx, taskId)
    else:
        user = await require_user(ctx)

    def matching(q: Any) -> Any:
        q = q.search("content", query).eq("userId", user["_id"])
        return q if taskId is None else q.eq("taskId", taskId)

    rows = await (ctx.db.query("chatMessages").with_search_index("search_content", matching)
                  .take(clamp(limit)))
    tasks: dict[str, Doc | None] = {}
    found = []
    for row in rows:
        if row["taskId"] not in tasks:
            tasks[row["taskId"]] = await ctx.db.get(row["taskId"])
        task = tasks[row["taskId"]]
        # A deleted task's messages (being purged) and those past an edit's truncation
        # mark (being deleted) are gone for every reader.
        if task is None or row["sequence"] > task.get("truncatedAfter", float("inf")):
            continue
        found.append({"_id": row["_id"], "taskId": row["taskId"], "role": row["role"],
                      "sequence": row["sequence"], "content": row["content"],
                      "createdAt": row["createdAt"]})
    return found


@internal_mutation(args={"cursor": v.optional(v.union(v.string(), v.null()))})
async def backfillMessageOwners(ctx: MutationCtx, cursor: str | None = None) -> int:
    """Give messages stored before `chatMessages.userId` existed their task's owner, so
    search:messages finds them: BACKFILL_BATCH messages per mutation, each scheduling
    the next (`reactor run search:backfillMessageOwners` once after upgrading). Returns
    how many this batch patched."""
    page = await ctx.db.query("chatMessages").paginate({"numItems": BACKFILL_BATCH,
                                                        "cursor": cursor})
    owners: dict[str, Any] = {}
    patched = 0
    for row in page["page"]:
        if "userId" in row:
            continue
        if row["taskId"] not in owners:
            task = await ctx.db.get(row["taskId"])
            owners[row["taskId"]] = None if task is None else task["userId"]
        if owners[row["taskId"]] is not None:
            await ctx.db.patch(row["_id"], {"userId": owners[row["taskId"]]})
            patched += 1
    if not page["isDone"]:
        await ctx.scheduler.run_after(0, "search:backfillMessageOwners",
                                      {"cursor": page["continueCursor"]})
    return patched
