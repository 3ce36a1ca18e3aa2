"""`ctx.storage` in queries, mutations and actions.

Queries and mutations read `_storage` through their transaction, so a query
that calls `get_url` re-runs when the file is deleted. Actions have no
transaction: their methods are thin calls into the file service, each its own
commit, so they can be forwarded as they are.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from reactor.errors import InvalidValueError, ReactorError
from reactor.runtime.files.service import FileLinks, FileService, check_storage_id
from reactor.runtime.system.storage_files import StorageFiles
from reactor.transactions import Transaction

Identity = dict[str, Any] | None
ExpiresIn = datetime.timedelta | float | int | None


def expires_seconds(expires_in: ExpiresIn, where: str) -> float | None:
    """`expires_in` as seconds: a timedelta or a positive number of seconds, or None."""
    if expires_in is None:
        return None
    if isinstance(expires_in, datetime.timedelta):
        seconds = expires_in.total_seconds()
    elif isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        seconds = float(expires_in)
    else:
        raise InvalidValueError(f"{where}: expires_in must be a timedelta or seconds,"
                                f" got {type(expires_in).__name__}")
    if not seconds > 0:
        raise InvalidValueError(f"{where}: expires_in must be positive, got {seconds:g} s")
    return seconds


def _metadata(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if doc is None else dict(doc)


def _service(files: FileLinks | None) -> FileLinks:
    if files is None:
        raise ReactorError("file storage is not available here", code="NotAllowed")
    return files


class QueryStorage:
    """`ctx.storage` in a query: URLs and metadata of stored files."""

    def __init__(self, txn: Transaction, files: FileLinks | None, now_ms: float) -> None:
        self._txn = txn
        self._files = files
        self._now_ms = now_ms

    async def _doc(self, storage_id: object, where: str) -> dict[str, Any] | None:
        checked = check_storage_id(self._txn.catalog, storage_id, where)
        return await StorageFiles(self._txn).get(checked)

    async def get_url(self, storage_id: str, expires_in: ExpiresIn = None) -> str | None:
        """An absolute URL serving the file, or None if there is no such file.

        With `expires_in` (a timedelta or seconds) the URL is signed and stops
        working after that long.
        """
        seconds = expires_seconds(expires_in, "ctx.storage.get_url")
        doc = await self._doc(storage_id, "ctx.storage.get_url")
        if doc is None:
            return None
        return _service(self._files).file_url(doc["_id"], self._now_ms, seconds)

    async def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        """The `_storage` document: `{_id, _creationTime, sha256, size, contentType}`."""
        return _metadata(await self._doc(storage_id, "ctx.storage.get_metadata"))

    # Present so that these fail with a clear error in a query, not AttributeError.
    async def generate_upload_url(self) -> str:
        raise _not_here("generate_upload_url", "a mutation or an action")

    async def delete(self, storage_id: str) -> None:
        raise _not_here("delete", "a mutation or an action")

    async def store(self, data: Any, content_type: str | None = None) -> str:
        raise _not_here("store", "an action")

    async def get(self, storage_id: str) -> bytes | None:
        raise _not_here("get", "an action (in a query, use get_url)")


def _not_here(method: str, where: str) -> ReactorError:
    return ReactorError(f"ctx.storage.{method} is not available here: use it in {where}",
                        code="NotAllowed")


class MutationStorage(QueryStorage):
    """`ctx.storage` in a mutation: also upload URLs and deletion."""

    def __init__(self, txn: Transaction, files: FileLinks | None, now_ms: float,
                 identity: Identity) -> None:
        super().__init__(txn, files, now_ms)
        self._identity = identity

    async def generate_upload_url(self) -> str:
        """A URL to POST one file to (single use; valid for an hour unless configured)."""
        return _service(self._files).upload_url(self._now_ms, self._identity)

    async def delete(self, storage_id: str) -> None:
        """Delete the file with this mutation; its bytes go once the mutation commits."""
        checked = check_storage_id(self._txn.catalog, storage_id, "ctx.storage.delete")
        files = _service(self._files)
        sha = await StorageFiles(self._txn).delete(checked, "ctx.storage.delete")
        self._txn.on_commit(lambda: files.release_soon(sha))

    async def store(self, data: Any, content_type: str | None = None) -> str:
        raise _not_here("store", "an action (mutations upload through generate_upload_url)")


class ActionStorage:
    """`ctx.storage` in an action: each call stands alone (no transaction)."""

    def __init__(self, files: FileService, identity: Identity,
                 now: Callable[[], float]) -> None:
        self._files = files
        self._identity = identity
        self._now = now

    def _check(self, storage_id: object, where: str) -> str:
        return check_storage_id(self._files.database.catalog, storage_id, where)

    async def generate_upload_url(self) -> str:
        return self._files.upload_url(self._now(), self._identity)

    async def get_url(self, storage_id: str, expires_in: ExpiresIn = None) -> str | None:
        seconds = expires_seconds(expires_in, "ctx.storage.get_url")
        doc = await self._files.metadata(self._check(storage_id, "ctx.storage.get_url"))
        return None if doc is None else self._files.file_url(doc["_id"], self._now(), seconds)

    async def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        return _metadata(await self._files.metadata(
            self._check(storage_id, "ctx.storage.get_metadata")))

    async def store(self, data: bytes | AsyncIterable[bytes],
                    content_type: str | None = None) -> str:
        """Store bytes, or an async iterator of bytes (streamed to disk); the storage id."""
        if isinstance(data, bytes | bytearray | memoryview):
            chunks: AsyncIterable[bytes] = _one_chunk(bytes(data))
        elif isinstance(data, AsyncIterable):
            chunks = _checked_chunks(data)
        else:
            raise InvalidValueError("ctx.storage.store: data must be bytes or an async iterator"
                                    f" of bytes, got {type(data).__name__}")
        if content_type is not None and not isinstance(content_type, str):
            raise InvalidValueError("ctx.storage.store: content_type must be a string")
        return await self._files.store(chunks, content_type)

    async def get(self, storage_id: str) -> bytes | None:
        """The file's bytes, or None if there is no such file."""
        return await self._files.get_bytes(self._check(storage_id, "ctx.storage.get"))

    async def stream(self, storage_id: str) -> AsyncIterator[bytes] | None:
        """The file's bytes as an async iterator of chunks, or None if there is no such file."""
        doc = await self._files.metadata(self._check(storage_id, "ctx.storage.stream"))
        return None if doc is None else self._files.read(doc)

    async def delete(self, storage_id: str) -> None:
        await self._files.delete(self._check(storage_id, "ctx.storage.delete"),
                                 "ctx.storage.delete")


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _checked_chunks(chunks: AsyncIterable[Any]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise InvalidValueError("ctx.storage.store: the iterator yielded"
                                    f" {type(chunk).__name__}, expected bytes")
        yield bytes(chunk)
