"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...), through aiobotocore.

An upload is staged on local disk while it is hashed (its name, the sha256,
is known only at the end), then sent to `<prefix>blobs/<sha256>` — in one PUT,
or in parts for large files — and published once S3 has acknowledged it.
Reads are ranged GETs streamed in chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

from reactor.errors import StorageError
from reactor.storage.blobs import (
    READ_CHUNK,
    SHA256_HEX,
    BlobEntry,
    BlobMissing,
    LocalBlobStore,
    StagedBlob,
    check_sha256,
)

# Files larger than this go up in parts of this size (S3 allows 5 MiB to 5 GiB per part).
PART_BYTES = 16 * 1024 * 1024


class S3BlobStore:
    """`bucket` + `prefix` hold the blobs; `staging_dir` is a local folder for uploads."""

    def __init__(self, bucket: str, staging_dir: Path | str, *, prefix: str = "",
                 endpoint_url: str | None = None, region: str | None = None,
                 part_bytes: int = PART_BYTES) -> None:
        if not bucket:
            raise StorageError("S3 blob store: a bucket name is required", code="BadConfig")
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.endpoint_url = endpoint_url
        self.region = region
        self.part_bytes = part_bytes
        self._staging = LocalBlobStore(staging_dir)
        self._client: Any = None
        self._exit: contextlib.AsyncExitStack | None = None
        self._opening = asyncio.Lock()

    async def _s3(self) -> Any:
        """The client, made on first use (credentials come from the usual AWS variables)."""
        async with self._opening:
            if self._client is None:
                try:
                    from aiobotocore.session import get_session
                except ImportError:
                    raise StorageError("the S3 blob store needs aiobotocore: pip install"
                                       " 'reactor[s3]'", code="BadConfig") from None
                stack = contextlib.AsyncExitStack()
                self._client = await stack.enter_async_context(get_session().create_client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region))
                self._exit = stack
            return self._client

    def key(self, sha256: str) -> str:
        return f"{self.prefix}blobs/{check_sha256(sha256)}"

    async def stage(self, chunks: AsyncIterable[bytes], max_bytes: int | None = None
                    ) -> StagedBlob:
        return await self._staging.stage(chunks, max_bytes)

    async def publish(self, staged: StagedBlob) -> None:
        if await self.exists(staged.sha256):
            await self._staging.discard(staged)
            return
        path = self._staging.staging / f"{staged.token}.part"
        s3 = await self._s3()
        key = self.key(staged.sha256)
        if staged.size <= self.part_bytes:
            body = await asyncio.to_thread(path.read_bytes)
            await s3.put_object(Bucket=self.bucket, Key=key, Body=body,
                                ChecksumAlgorithm="SHA256")
        else:
            await self._put_parts(s3, key, path)
        await self._staging.discard(staged)

    async def put(self, sha256: str, data: bytes) -> None:
        """One PUT straight from memory: nothing is staged on local disk."""
        if await self.exists(sha256):
            return
        s3 = await self._s3()
        await s3.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=data,
                            ChecksumAlgorithm="SHA256")

    async def _put_parts(self, s3: Any, key: str, path: Path) -> None:
        upload = await s3.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = upload["UploadId"]
        parts = []
        try:
            with path.open("rb") as handle:
                number = 1
                while chunk := await asyncio.to_thread(handle.read, self.part_bytes):
                    reply = await s3.upload_part(Bucket=self.bucket, Key=key, PartNumber=number,
                                                 UploadId=upload_id, Body=chunk)
                    parts.append({"PartNumber": number, "ETag": reply["ETag"]})
                    number += 1
            await s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                               MultipartUpload={"Parts": parts})
        except BaseException:
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    async def discard(self, staged: StagedBlob) -> None:
        await self._staging.discard(staged)

    async def exists(self, sha256: str) -> bool:
        s3 = await self._s3()
        try:
            await s3.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except s3.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def read(self, sha256: str, start: int = 0, end: int | None = None
                   ) -> AsyncIterator[bytes]:
        if end is not None and end <= start:
            return
        s3 = await self._s3()
        ranged = {} if start == 0 and end is None else \
            {"Range": f"bytes={start}-{'' if end is None else end - 1}"}
        try:
            reply = await s3.get_object(Bucket=self.bucket, Key=self.key(sha256), **ranged)
        except s3.exceptions.NoSuchKey:
            raise BlobMissing(f"blob {sha256} is missing from bucket {self.bucket}") from None
        body = reply["Body"]
        try:
            while chunk := await body.read(READ_CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, sha256: str) -> None:
        s3 = await self._s3()
        await s3.delete_object(Bucket=self.bucket, Key=self.key(sha256))

    async def entries(self) -> AsyncIterator[BlobEntry]:
        s3 = await self._s3()
        now = datetime.datetime.now(datetime.UTC)
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}blobs/"):
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if SHA256_HEX.match(name):
                    yield BlobEntry(name, (now - item["LastModified"]).total_seconds())

    async def sweep_staged(self, older_than_s: float) -> int:
        return await self._staging.sweep_staged(older_than_s)

    async def close(self) -> None:
        await self._staging.close()
        if self._exit is not None:
            await self._exit.aclose()
            self._exit = None
            self._client = None
