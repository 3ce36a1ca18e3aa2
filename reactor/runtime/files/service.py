"""The file service: blobs in a blob store, their `_storage` documents in the database.

The two stores are kept consistent by ordering, not by a shared transaction:

- A `_storage` document is committed only after its blob is durable under its
  final name, so no document ever points at a missing blob.
- A blob is removed only after the deletion of its last document has
  committed (`release`), re-checked at the latest snapshot. Every commit that
  touches `_storage` outside an upload is looked at (a commit listener), so a
  delete made anywhere — a mutation, an action, a worker process — is seen.
- Publishing a blob and committing its document happen under the blob's lock,
  and so do the release check and the removal: a concurrent upload of the same
  contents cannot lose its blob between the two.
- What a crash leaves behind (a staged file, a published blob whose document
  never committed, a blob whose document was deleted) is an orphan: `sweep`
  removes it once it is older than the grace period.

Small files (up to `inline_max_bytes`, with the local blob store) skip the blob
store: their contents go into `_inline_blobs` in the same commit as their
document, so there is nothing to order and nothing for a crash to separate.
Reads look there first and fall back to the blob store (where blobs stored
before, or imported, remain).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from reactor.runtime.files.options import SMALL_BLOB_BYTES, FileOptions, check_storage_id
from reactor.runtime.files.tokens import FileSigner, UploadToken, UploadTokenError
from reactor.runtime.system.inline_blobs import InlineBlobs
from reactor.runtime.system.storage_files import STORAGE, FileNotFound, StorageFiles
from reactor.runtime.system.transact import read, transact
from reactor.runtime.system.upload_tokens import UsedUploadTokens
from reactor.schema import index_id
from reactor.storage.blobs import BlobStore, BlobTooLarge, LocalBlobStore, StagedBlob
from reactor.transactions import Database, LogEntry, Transaction, first_of_each
from reactor.values import decode_key

logger = logging.getLogger("reactor.files")

class FileLinks:
    """Upload URLs and file URLs: what queries and mutations need, with no blob store.

    Worker processes (runtime/workers.py) run queries and mutations with these
    alone; the server's `FileService` is one with the blob store behind it.
    """

    def __init__(self, signer: FileSigner, public_url: str,
                 options: FileOptions | None = None) -> None:
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.options = options or FileOptions()

    # URLs --------------------------------------------------------------------

    def upload_url(self, now_ms: float, identity: dict[str, Any] | None) -> str:
        expires = now_ms + self.options.upload_url_ttl_s * 1000
        token = self.signer.upload_token(expires, identity)
        return f"{self.public_url}/api/storage/upload?token={token}"

    def file_url(self, storage_id: str, now_ms: float, expires_in_s: float | None) -> str:
        """A plain URL, or a signed one valid for `expires_in_s` (always when required)."""
        if expires_in_s is None and self.options.require_signed_urls:
            expires_in_s = self.options.default_signed_url_ttl_s
        url = f"{self.public_url}/api/storage/{storage_id}"
        if expires_in_s is None:
            return url
        expires = int(now_ms + expires_in_s * 1000)
        return f"{url}?expires={expires}&signature={self.signer.url_signature(storage_id, expires)}"

    def release_soon(self, sha256: str) -> None:
        """A deleted file's blob: nothing to do here; the server's file service sees the
        commit (its commit listener) and releases the blob."""


class FileService(FileLinks):
    """Stores, serves and deletes files; shared by ctx.storage and the HTTP endpoints."""

    def __init__(self, database: Database, blobs: BlobStore, signer: FileSigner,
                 public_url: str, options: FileOptions | None = None) -> None:
        super().__init__(signer, public_url, options)
        self.database = database
        self.blobs = blobs
        self._locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._releasing: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._by_sha256 = index_id(STORAGE, "by_sha256")
        database.add_commit_listener(self._on_commit)

    # Locks -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self, sha256: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(sha256, asyncio.Lock())
        self._lock_users[sha256] = self._lock_users.get(sha256, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._lock_users[sha256] -= 1
            if not self._lock_users[sha256]:
                del self._lock_users[sha256]
                del self._locks[sha256]

    def check_file_url(self, storage_id: str, expires: str | None, signature: str | None) -> None:
        """Raises `FileUrlError` for a URL that must not be served."""
        if expires is None and signature is None and not self.options.require_signed_urls:
            return
        self.signer.check_url(storage_id, expires, signature, time.time() * 1000)

    # Writing -----------------------------------------------------------------

    async def check_token(self, token: str | None, *, check_used: bool = True) -> UploadToken:
        """Check an upload token before its body is read: bad, expired or (with
        `check_used`, a database read) used raise. The commit checks use again anyway."""
        checked = self.signer.check_upload_token(token, time.time() * 1000)
        if check_used and await read(self.database,
                                     lambda txn: UsedUploadTokens(txn).used(checked.nonce)):
            raise _token_used()
        return checked

    async def store(self, chunks: AsyncIterable[bytes], content_type: str | None = None, *,
                    token: UploadToken | None = None, max_bytes: int | None = None) -> str:
        """Write the blob, then commit its document (using up `token`); the storage id.

        A file of up to SMALL_BLOB_BYTES is gathered in memory and hashed first, so
        its blob is written, fsynced and named in one trip to the blob store.
        """
        stream = aiter(chunks)
        head: list[bytes] = []
        size = 0
        async for chunk in stream:
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise BlobTooLarge(f"file exceeds the upload limit of {max_bytes} bytes")
            head.append(chunk)
            if size > SMALL_BLOB_BYTES:
                break
        else:
            # Shielded (here and below): once the body is in, a cancelled caller must not
            # cut the write-and-commit short (the commit may land while its caller is gone).
            data = b"".join(head)
            if size <= self._inline_limit():
                return await asyncio.shield(self._commit_inline(data, content_type, token))
            return await asyncio.shield(self._commit_small(data, content_type, token))
        staged = await self.blobs.stage(_chained(head, stream), max_bytes)
        return await asyncio.shield(self._commit(staged, content_type, token))

    def _inline_limit(self) -> int:
        """The largest file kept in the database: none when blobs live elsewhere (S3)."""
        if not isinstance(self.blobs, LocalBlobStore):
            return 0
        return min(self.options.inline_max_bytes, SMALL_BLOB_BYTES)

    async def _commit_inline(self, data: bytes, content_type: str | None,
                             token: UploadToken | None) -> str:
        """Commit the document with the contents beside it, unless a blob file with the
        same contents exists (stored before, or imported): then it shares that one."""
        sha256 = hashlib.sha256(data).hexdigest()
        async with self._locked(sha256):
            on_disk = await self.blobs.exists(sha256)
            return await self._insert(sha256, len(data), content_type, token,
                                      None if on_disk else data)

    async def _commit_small(self, data: bytes, content_type: str | None,
                            token: UploadToken | None) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        async with self._locked(sha256):
            try:
                await self.blobs.put(sha256, data)
            except BaseException:
                # It may have been named without its folder's fsync: not to be trusted.
                await self._remove_if_unreferenced(sha256)
                raise
            return await self._insert(sha256, len(data), content_type, token)

    async def _commit(self, staged: StagedBlob, content_type: str | None,
                      token: UploadToken | None) -> str:
        async with self._locked(staged.sha256):
            try:
                await self.blobs.publish(staged)
            except BaseException:
                await self.blobs.discard(staged)
                raise
            return await self._insert(staged.sha256, staged.size, content_type, token)

    async def _insert(self, sha256: str, size: int, content_type: str | None,
                      token: UploadToken | None, inline: bytes | None = None) -> str:
        """Under the blob's lock, once it is durable (or with its `inline` contents, which
        the same commit stores): commit its document."""
        async def insert(txn: Any) -> str:
            used, blobs = UsedUploadTokens(txn), InlineBlobs(txn)
            # Both reads in one storage trip. Reading the token's record makes uploads
            # racing with one token conflict (one commits); reading the contents' row
            # makes uploads of the same new contents conflict (one row is written).
            reads = [] if token is None else [used.query(token.nonce)]
            if inline is not None:
                reads.append(blobs.query(sha256))
            found = await first_of_each(reads)
            if token is not None:
                if found.pop(0) is not None:
                    raise _token_used()
                await used.mark_used(token.nonce, token.expires_ms)
            if inline is not None and found.pop(0) is None:
                await blobs.insert(sha256, inline)
            return await StorageFiles(txn).insert(sha256, size, content_type)

        try:
            return await transact(self.database, insert)
        except BaseException:
            await self._remove_if_unreferenced(sha256)
            raise

    # Reading -----------------------------------------------------------------

    async def metadata(self, storage_id: str) -> dict[str, Any] | None:
        """The `_storage` document at the latest commit, or None."""
        return await read(self.database, lambda txn: StorageFiles(txn).get(storage_id))

    def read(self, doc: dict[str, Any], start: int = 0, end: int | None = None
             ) -> AsyncIterator[bytes]:
        """The bytes `start <= i < end` of the file of `doc`, in chunks."""
        if int(doc["size"]) > SMALL_BLOB_BYTES:  # never kept inline
            return self.blobs.read(doc["sha256"], start, end)
        return self._read_small(str(doc["sha256"]), start, end)

    async def _read_small(self, sha256: str, start: int, end: int | None
                          ) -> AsyncIterator[bytes]:
        data = await read(self.database, lambda txn: InlineBlobs(txn).get(sha256))
        if data is None:
            async for chunk in self.blobs.read(sha256, start, end):
                yield chunk
        else:
            yield data[start:end]

    async def get_bytes(self, storage_id: str) -> bytes | None:
        doc = await self.metadata(storage_id)
        if doc is None:
            return None
        return b"".join([chunk async for chunk in self.read(doc)])

    # Deleting ----------------------------------------------------------------

    async def delete(self, storage_id: str, where: str) -> None:
        """Delete the document in its own commit, then the blob if nothing else uses it."""
        await transact(self.database, lambda txn: StorageFiles(txn).delete(storage_id, where))
        await self.released()  # the commit listener started the blob's release

    def _on_commit(self, ts: int, entries: list[LogEntry]) -> None:
        """Release the blobs of `_storage` keys a commit wrote, unless an upload holding the
        blob's lock made it (that commit adds a reference; it removes none)."""
        for entry in entries:
            for index, key in entry.writes:
                if index == self._by_sha256:
                    sha256 = decode_key(key)[0]
                    if isinstance(sha256, str) and sha256 not in self._locks:
                        self.release_soon(sha256)

    def release_soon(self, sha256: str) -> None:
        """`release` in the background, once per blob at a time: called once a delete
        has committed."""
        if sha256 in self._releasing:
            return
        self._releasing.add(sha256)
        task = asyncio.get_running_loop().create_task(self.release(sha256))
        self._pending.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._pending.discard(finished)
            self._releasing.discard(sha256)

        task.add_done_callback(done)

    async def released(self) -> None:
        """Until the releases started by committed deletes so far have finished."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def release(self, sha256: str) -> None:
        """Remove the blob unless a document still references it."""
        try:
            async with self._locked(sha256):
                await self._remove_if_unreferenced(sha256)
        except Exception:  # the sweep removes it later
            logger.exception("could not release blob %s", sha256)

    async def _remove_if_unreferenced(self, sha256: str) -> bool:
        """Under the blob's lock: delete it (its file, its inline row) if no document at the
        latest commit refers to it."""
        if await read(self.database, lambda txn: StorageFiles(txn).referenced(sha256)):
            return False
        await self.blobs.delete(sha256)

        async def remove(txn: Transaction) -> None:
            # Checked again in the same transaction: a document committed since conflicts.
            if not await StorageFiles(txn).referenced(sha256):
                await InlineBlobs(txn).remove(sha256)

        await transact(self.database, remove)
        return True

    # Sweeping ----------------------------------------------------------------

    async def sweep(self) -> dict[str, int]:
        """Remove orphans older than the grace period and records of expired tokens."""
        grace = self.options.orphan_grace_s
        staged = await self.blobs.sweep_staged(grace)
        orphans = 0
        async for entry in self.blobs.entries():
            if entry.age_s > grace:
                async with self._locked(entry.sha256):
                    orphans += await self._remove_if_unreferenced(entry.sha256)
        orphans += await self._sweep_inline(grace)
        tokens = 0
        while True:
            now_ms = time.time() * 1000
            async def prune(txn: Transaction, now: float = now_ms) -> int:
                return await UsedUploadTokens(txn).prune(now, 256)

            count = await transact(self.database, prune)
            tokens += count
            if count < 256:
                break
        return {"staged": staged, "orphans": orphans, "tokens": tokens}

    async def _sweep_inline(self, grace: float) -> int:
        """Remove inline rows no document references (left by a crash between a delete's
        commit and the release), older than the grace period; how many."""
        removed, after = 0, ""
        while True:
            async def scan(txn: Transaction, start: str = after
                           ) -> tuple[str | None, list[str]]:
                """The page's last sha256 (None at the end) and its unreferenced old rows:
                one read per page, so referenced rows cost no transaction of their own."""
                page = await InlineBlobs(txn).page(start, 256)
                cutoff_ms = (time.time() - grace) * 1000
                files = StorageFiles(txn)
                orphans = [sha256 for sha256, created_ms in page
                           if created_ms < cutoff_ms and not await files.referenced(sha256)]
                return (page[-1][0] if len(page) == 256 else None), orphans

            last, orphans = await read(self.database, scan)
            for sha256 in orphans:  # checked again under the lock: one may be shared since
                async with self._locked(sha256):
                    removed += await self._remove_if_unreferenced(sha256)
            if last is None:
                return removed
            after = last

    def start(self) -> None:
        """Sweep in the background every `sweep_interval_s`, starting now."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="reactor-files-sweep")

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                logger.exception("file sweep failed; will retry")
            await asyncio.sleep(self.options.sweep_interval_s)

    async def stop_sweep(self) -> None:
        """Stop sweeping (this node no longer commits); `start` sweeps again."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

    async def stop(self) -> None:
        self.database.remove_commit_listener(self._on_commit)
        await self.stop_sweep()
        await asyncio.gather(*self._pending, return_exceptions=True)
        await self.blobs.close()


async def _chained(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The chunks already read, then the rest of the stream."""
    for chunk in head:
        yield chunk
    async for chunk in rest:
        yield chunk


def _token_used() -> UploadTokenError:
    return UploadTokenError("upload token was used already: each upload URL works once,"
                            " ask for a new one", code="UploadTokenUsed")


__all__ = ["FileLinks", "FileNotFound", "FileOptions", "FileService", "check_storage_id"]
