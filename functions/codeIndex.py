"""The code index (the seed's Milestone 6): a repository's chunks with embeddings.

`codeIndex:indexRepository` (an action) indexes a folder on the server into a
repository namespace (functions/_lib/code_index.py does the work, batch by
batch through the internal mutations here); `codeIndex:progress` is the live
progress document a client subscribes to. `search:code` searches the chunks.
The agent's `semantic_search` tool indexes its workspace the same way.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, Final

from reactor import (
    MISSING,
    ActionCtx,
    MutationCtx,
    QueryCtx,
    action,
    internal_action,
    internal_mutation,
    internal_query,
    query,
    v,
)

from ._lib.archives import ArchiveRefused, Limits, unpack
from ._lib.authz import Doc, require_repository
from ._lib.code_index import index_folder
from ._lib.embeddings import embedder_for
from ._lib.errors import app_error

DELETE_BATCH: Final = 1_000
MAX_KNOWN_FILES: Final = 10_000
ARCHIVE_MAX_BYTES: Final = 512 << 20
"""Default cap on an archive's unpacked size (CODE_ARCHIVE_MAX_BYTES overrides it)."""
ARCHIVE_MAX_MEMBERS: Final = 100_000

chunk = v.object({"path": v.string(), "name": v.string(), "lang": v.string(),
                  "kind": v.string(), "lineStart": v.number(), "lineEnd": v.number(),
                  "code": v.string(), "embedding": v.array(v.float64())})
indexed_file = v.object({"path": v.string(), "hash": v.string(), "chunks": v.array(chunk)})


async def index_row(ctx: QueryCtx, namespace: str) -> Doc | None:
    return await (ctx.db.query("repositoryIndex")
                  .with_index("by_repo", lambda q: q.eq("repoFullName", namespace)).first())


def progress_of(row: Doc | None) -> Doc | None:
    if row is None:
        return None
    keys = ("repoFullName", "status", "filesDone", "filesTotal", "chunkCount",
            "lastCommitSha", "lastIndexedAt", "error")
    return {key: row[key] for key in keys if key in row}


@internal_query
async def state(ctx: QueryCtx, namespace: str) -> Doc | None:
    """The namespace's `repositoryIndex` row, or None if never indexed."""
    return await index_row(ctx, namespace)


@query(args={"repoFullName": v.string()})
async def progress(ctx: QueryCtx, repoFullName: str) -> Doc | None:
    """The repository's index as a client follows it: status (indexing, done, failed),
    filesDone / filesTotal of the current or last run, chunkCount, lastCommitSha."""
    await require_repository(ctx, repoFullName)
    return progress_of(await index_row(ctx, repoFullName))


@internal_query
async def fileHashes(ctx: QueryCtx, namespace: str) -> list[list[str]]:
    """`[path, sha256]` of every file the namespace's chunks were made from."""
    rows = await (ctx.db.query("codeFiles")
                  .with_index("by_repo_path", lambda q: q.eq("repoFullName", namespace))
                  .take(MAX_KNOWN_FILES))
    return [[row["path"], row["hash"]] for row in rows]


@internal_mutation
async def begin(ctx: MutationCtx, namespace: str, filesTotal: int) -> str:
    """Start a run; its id, which its batches must carry (an older run still going is
    refused from then on: `IndexRunSuperseded`)."""
    now = ctx.now()
    run_id = f"index-{int(now)}-{int(ctx.random() * 1e12):012d}"
    record = await index_row(ctx, namespace)
    fields: Doc = {"status": "indexing", "filesDone": 0, "filesTotal": filesTotal,
                   "error": MISSING, "runId": run_id, "updatedAt": now}
    if record is None:
        await ctx.db.insert("repositoryIndex", {
            "repoFullName": namespace, "lastIndexedAt": now, "createdAt": now,
            "chunkCount": 0, **{k: value for k, value in fields.items() if k != "error"}})
    else:
        await ctx.db.patch(record["_id"], fields)
    return run_id


async def current_run(ctx: QueryCtx, namespace: str, run_id: str, where: str) -> Doc:
    """The namespace's index row, if `run_id` is still the run that may write to it."""
    record = await index_row(ctx, namespace)
    if record is None:
        raise app_error("NotFound", f"{where}: {namespace!r} has no index run"
                        " (call codeIndex:begin first)")
    if record.get("runId") != run_id:
        raise app_error("IndexRunSuperseded", f"{where}: a newer indexing run of"
                        f" {namespace!r} has started; this one stops", repoFullName=namespace)
    return record


async def drop_file(ctx: MutationCtx, namespace: str, path: str) -> int:
    """Delete the file's chunks and its hash row; how many chunks went."""
    gone = 0
    while rows := await (ctx.db.query("codeChunks")
                         .with_index("by_repo_path", lambda q: q.eq("repoFullName", namespace)
                                     .eq("path", path)).take(DELETE_BATCH)):
        for row in rows:
            await ctx.db.delete(row["_id"])
        gone += len(rows)
    known = await (ctx.db.query("codeFiles")
                   .with_index("by_repo_path", lambda q: q.eq("repoFullName", namespace)
                               .eq("path", path)).first())
    if known is not None:
        await ctx.db.delete(known["_id"])
    return gone


@internal_mutation(args={"namespace": v.string(), "runId": v.string(),
                         "files": v.array(indexed_file), "removed": v.array(v.string()),
                         "filesDone": v.number()})
async def applyBatch(ctx: MutationCtx, namespace: str, runId: str, files: list[Doc],
                     removed: list[str], filesDone: int) -> None:
    """One batch of a run: replace the chunks of `files`, drop those of `removed`."""
    record = await current_run(ctx, namespace, runId, "codeIndex:applyBatch")
    delta = 0
    for path in removed:
        delta -= await drop_file(ctx, namespace, path)
    for item in files:
        delta -= await drop_file(ctx, namespace, item["path"])
        for piece in item["chunks"]:
            await ctx.db.insert("codeChunks", {**piece, "repoFullName": namespace})
        await ctx.db.insert("codeFiles", {"repoFullName": namespace, "path": item["path"],
                                          "hash": item["hash"], "chunks": len(item["chunks"])})
        delta += len(item["chunks"])
    await ctx.db.patch(record["_id"], {
        "filesDone": filesDone, "chunkCount": max(0, record.get("chunkCount", 0) + delta),
        "updatedAt": ctx.now()})


@internal_mutation
async def finish(ctx: MutationCtx, namespace: str, runId: str, commitSha: str) -> None:
    """Record that the namespace's chunks are of `commitSha`, and the run done."""
    record = await current_run(ctx, namespace, runId, "codeIndex:finish")
    now = ctx.now()
    await ctx.db.patch(record["_id"], {"status": "done", "lastCommitSha": commitSha,
                                       "lastIndexedAt": now, "runId": MISSING,
                                       "updatedAt": now})


@internal_mutation
async def fail(ctx: MutationCtx, namespace: str, runId: str, error: str) -> None:
    """Mark the run failed (unless a newer run has taken over)."""
    record = await index_row(ctx, namespace)
    if record is not None and record.get("runId") == runId:
        await ctx.db.patch(record["_id"], {"status": "failed", "error": error,
                                           "runId": MISSING, "updatedAt": ctx.now()})


async def allowed_folder(ctx: ActionCtx, folder: str) -> Path:
    """A folder on the server, only under LOCAL_REPO_ROOT (else any user could have the
    server read any folder it can)."""
    root = await ctx.env.get("LOCAL_REPO_ROOT")
    path = Path(folder).resolve()
    if not root or not path.is_relative_to(Path(root).resolve()):
        raise app_error("Forbidden", "folder: local repositories can be indexed only under"
                        " LOCAL_REPO_ROOT")
    if not path.is_dir():
        raise app_error("NotFound", "folder: there is no such folder under LOCAL_REPO_ROOT")
    return path


@action(args={"repoFullName": v.string(), "folder": v.string()})
async def indexRepository(ctx: ActionCtx, repoFullName: str, folder: str) -> dict[str, Any]:
    """Index a folder on the server (under LOCAL_REPO_ROOT) as the caller's repository:
    `{skipped, commitSha, filesChanged, filesRemoved}`. Follow it with codeIndex:progress."""
    await ctx.run_query("codeIndex:progress", {"repoFullName": repoFullName})
    root = await allowed_folder(ctx, folder)
    return await index_folder(ctx, repoFullName, root, await embedder_for(ctx.env))


async def archive_limits(ctx: ActionCtx) -> Limits:
    configured = await ctx.env.get("CODE_ARCHIVE_MAX_BYTES")
    try:
        max_bytes = int(configured) if configured else ARCHIVE_MAX_BYTES
    except ValueError:
        raise app_error("InvalidArchive", "CODE_ARCHIVE_MAX_BYTES must be a number of"
                        f" bytes, got {configured!r}") from None
    return Limits(max_bytes=max_bytes, max_members=ARCHIVE_MAX_MEMBERS)


async def download(ctx: ActionCtx, storage_id: str, archive: Path, limits: Limits) -> None:
    """The stored file into `archive`, refused early when it is already past the cap."""
    metadata = await ctx.storage.get_metadata(storage_id)
    chunks = await ctx.storage.stream(storage_id)
    if metadata is None or chunks is None:
        raise app_error("NotFound", "storageId: there is no such file (was it deleted?)")
    if metadata["size"] > limits.max_bytes:
        raise app_error("InvalidArchive", f"storageId: the archive is {int(metadata['size'])}"
                        f" bytes; the limit is {limits.max_bytes} (CODE_ARCHIVE_MAX_BYTES)")
    with archive.open("wb") as out:
        async for chunk in chunks:
            await asyncio.to_thread(out.write, chunk)


@action(args={"repoFullName": v.string(), "storageId": v.id("_storage"),
              "commitSha": v.optional(v.string())})
async def indexArchive(ctx: ActionCtx, repoFullName: str, storageId: str,
                       commitSha: str | None = None) -> dict[str, Any]:
    """Index an uploaded archive of the caller's repository (.zip or .tar, plain or
    gzip/bzip2/xz, as `git archive` or GitHub's download makes it): upload it with
    an upload URL, then call this with its storage id. With `commitSha` (the commit
    the archive was made from) an archive of the commit indexed last is skipped
    without being read, and the index records that commit; without it, the
    version is a digest of the files. Changed files only are redone, as for
    folders. Follow it with codeIndex:progress."""
    progress_now = await ctx.run_query("codeIndex:progress", {"repoFullName": repoFullName})
    if (commitSha is not None and progress_now is not None
            and progress_now.get("lastCommitSha") == commitSha
            and progress_now.get("status") == "done"):
        return {"skipped": True, "commitSha": commitSha, "filesChanged": 0, "filesRemoved": 0}
    embedder = await embedder_for(ctx.env)
    limits = await archive_limits(ctx)
    with tempfile.TemporaryDirectory(prefix="reactor-archive-") as scratch:
        archive = Path(scratch) / "archive"
        await download(ctx, storageId, archive, limits)
        try:
            root = await asyncio.to_thread(unpack, archive, Path(scratch) / "tree", limits)
        except ArchiveRefused as error:
            raise app_error("InvalidArchive", f"storageId: {error}") from None
        return await index_folder(ctx, repoFullName, root, embedder, commit=commitSha)


@internal_action
async def indexFolder(ctx: ActionCtx, namespace: str, folder: str) -> dict[str, Any]:
    """The same for an operator (`reactor run codeIndex:indexFolder`): any folder."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise app_error("NotFound", f"folder: {folder!r} is not a folder")
    return await index_folder(ctx, namespace, root, await embedder_for(ctx.env))
