"""Indexing a repository folder into `codeChunks`, from an action (or an agent's tool).

One run: list the files, hash them, compare with the hashes `codeFiles` holds,
and redo only the files whose content changed (and drop the ones that are
gone). Each batch (BATCH_CHUNKS chunks, BATCH_FILES files or BATCH_CHARS of
code, whichever comes first; a file is never split) is embedded and written by
one mutation that also advances the progress document (`repositoryIndex`:
status, filesDone / filesTotal), so a subscribed client sees the run move and a
failure leaves every finished batch in place. A clean git checkout whose commit
is `lastCommitSha` of a finished run is skipped without reading a file; a row
from before runs had a status (chunks without embeddings) is not, so it is redone.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Final, Protocol

from .code_files import Chunk, chunk_source, head_commit, is_clean, list_files, read_source
from .embeddings import Embedder

BATCH_CHUNKS: Final = 100
BATCH_FILES: Final = 50
# Code characters per batch: a few minified files must not make one huge mutation.
BATCH_CHARS: Final = 2_000_000
MAX_ERROR_CHARS: Final = 500


class Caller(Protocol):
    """What indexing needs of an action's context (an agent's ToolContext has it too)."""

    async def run_query(self, name: Any, args: dict[str, Any] | None = None) -> Any: ...

    async def run_mutation(self, name: Any, args: dict[str, Any] | None = None) -> Any: ...


def embedding_text(chunk: Chunk) -> str:
    """What is embedded: the path and name say where the code is, then the code."""
    return f"{chunk['path']} {chunk['name']}\n{chunk['code']}"


def _scan(root: Path) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for relative in list_files(root):
        source = read_source(root, relative)
        if source is not None:
            found[relative] = source
    return found


def _version(commit: str | None, hashes: dict[str, str]) -> str:
    """The commit, or for a folder without git a digest of its files' hashes."""
    if commit is not None:
        return commit
    digest = hashlib.sha256()
    for path in sorted(hashes):
        digest.update(f"{path}\0{hashes[path]}\n".encode())
    return "files-" + digest.hexdigest()[:24]


async def index_folder(ctx: Caller, namespace: str, root: Path, embedder: Embedder,
                       commit: str | None = None) -> dict[str, Any]:
    """Bring the namespace's chunks up to date with the folder; a summary of the run.
    `commit` names the folder's version when it is not a git checkout (an archive)."""
    given = commit is not None
    if commit is None:
        commit = await asyncio.to_thread(head_commit, root)
    state = await ctx.run_query("codeIndex:state", {"namespace": namespace})
    if (commit is not None and state is not None and state.get("lastCommitSha") == commit
            and state.get("status") == "done"
            and (given or await asyncio.to_thread(is_clean, root))):
        return {"skipped": True, "commitSha": commit, "filesChanged": 0, "filesRemoved": 0}
    files = await asyncio.to_thread(_scan, root)
    pairs = await ctx.run_query("codeIndex:fileHashes", {"namespace": namespace})
    known: dict[str, str] = {path: digest for path, digest in pairs}
    changed = sorted(path for path, (digest, _) in files.items() if known.get(path) != digest)
    removed = sorted(path for path in known if path not in files)
    run_id = await ctx.run_mutation("codeIndex:begin", {
        "namespace": namespace, "filesTotal": len(changed) + len(removed)})
    try:
        done = 0
        for start in range(0, len(removed), BATCH_FILES):
            batch = removed[start:start + BATCH_FILES]
            done += len(batch)
            await ctx.run_mutation("codeIndex:applyBatch", {
                "namespace": namespace, "runId": run_id, "files": [], "removed": batch,
                "filesDone": done})
        pending: list[tuple[str, str, list[Chunk]]] = []
        for path in changed:
            digest, text = files[path]
            pending.append((path, digest, chunk_source(path, text)))
            chunks = [chunk for _, _, file_chunks in pending for chunk in file_chunks]
            if (len(chunks) >= BATCH_CHUNKS or len(pending) >= BATCH_FILES
                    or sum(len(chunk["code"]) for chunk in chunks) >= BATCH_CHARS):
                done += len(pending)
                await _write(ctx, namespace, run_id, embedder, pending, done)
                pending = []
        if pending:
            done += len(pending)
            await _write(ctx, namespace, run_id, embedder, pending, done)
        version = _version(commit, {path: digest for path, (digest, _) in files.items()})
        await ctx.run_mutation("codeIndex:finish", {"namespace": namespace, "runId": run_id,
                                                    "commitSha": version})
    except Exception as error:
        await ctx.run_mutation("codeIndex:fail", {
            "namespace": namespace, "runId": run_id, "error": f"{type(error).__name__}: {error}"[
                :MAX_ERROR_CHARS].replace(str(root), "<repository>")})
        raise
    return {"skipped": False, "commitSha": version, "filesChanged": len(changed),
            "filesRemoved": len(removed)}


async def _write(ctx: Caller, namespace: str, run_id: str, embedder: Embedder,
                 pending: list[tuple[str, str, list[Chunk]]], done: int) -> None:
    """Embed one batch's chunks and write it with one mutation. A file with more than
    BATCH_CHUNKS chunks is still one batch (bounded by MAX_CHUNKS_PER_FILE)."""
    chunks = [chunk for _, _, file_chunks in pending for chunk in file_chunks]
    vectors = await embedder.embed([embedding_text(chunk) for chunk in chunks])
    position = 0
    files = []
    for path, digest, file_chunks in pending:
        embedded = [{**chunk, "embedding": vectors[position + i]}
                    for i, chunk in enumerate(file_chunks)]
        position += len(file_chunks)
        files.append({"path": path, "hash": digest, "chunks": embedded})
    await ctx.run_mutation("codeIndex:applyBatch", {
        "namespace": namespace, "runId": run_id, "files": files, "removed": [],
        "filesDone": done})
