"""File endpoints: `POST /api/storage/upload?token=…` and `GET`/`HEAD /api/storage/<id>`.

Uploads stream to the blob store while they are hashed (never held in
memory); downloads stream from it, with `ETag` (the sha256), `If-None-Match`,
and single `Range` requests.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from reactor.errors import InvalidValueError, ReactorError
from reactor.runtime import Engine
from reactor.runtime.files import FileUrlError, UploadTokenError, check_storage_id
from reactor.server.config import ServerConfig
from reactor.server.rate_limit import RateLimiter
from reactor.storage.blobs import BlobMissing, BlobTooLarge

logger = logging.getLogger("reactor.files")

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Uploads larger than this (or of unknown size) check that their token is unused first.
EARLY_TOKEN_CHECK_BYTES = 1024 * 1024


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None
           ) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


class FileEndpoints:
    """Upload and download handlers over the engine's file service."""

    def __init__(self, engine: Engine, config: ServerConfig) -> None:
        self.engine = engine
        self.config = config
        self.rates = RateLimiter(config.uploads_per_minute)

    async def upload(self, request: Request) -> Response:
        files = self.engine.files
        limit = self.config.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return _error(413, "FileTooLarge", f"file of {declared} bytes exceeds the upload"
                          f" limit of {limit} bytes")
        # A used token is refused by the commit anyway; reading it up front saves sending a
        # large body in vain, and costs a small upload more than it saves.
        large = not declared.isdigit() or int(declared) > EARLY_TOKEN_CHECK_BYTES
        try:
            token = await files.check_token(request.query_params.get("token"), check_used=large)
        except UploadTokenError as error:
            return _error(403 if error.code != "InvalidUploadToken" else 400, error.code,
                          error.message)
        key = f"id:{token.identity_tag}" if token.identity_tag else \
            f"ip:{request.client.host if request.client else '?'}"
        wait = self.rates.take(key)
        if wait > 0:
            return _error(429, "UploadRateExceeded",
                          f"too many uploads: at most {self.config.uploads_per_minute:g} per"
                          f" minute per user; retry in {math.ceil(wait)} s",
                          {"retry-after": str(math.ceil(wait))})
        content_type = request.headers.get("content-type") or None
        try:
            async with asyncio.timeout(self.config.upload_timeout_s):
                storage_id = await files.store(request.stream(), content_type, token=token,
                                               max_bytes=limit)
        except BlobTooLarge as error:
            return _error(413, error.code, error.message)
        except TimeoutError:
            return _error(408, "UploadTimeout", "upload did not finish within"
                          f" {self.config.upload_timeout_s:g} s")
        except UploadTokenError as error:
            return _error(403, error.code, error.message)
        except ReactorError as error:
            logger.warning("upload failed: %s", error.message)
            return _error(500, error.code, f"upload failed: {error.public_message}")
        return JSONResponse({"storageId": storage_id})

    async def download(self, request: Request) -> Response:
        files = self.engine.files
        storage_id = request.path_params["storage_id"]
        try:
            check_storage_id(files.database.catalog, storage_id, "file URL")
            files.check_file_url(storage_id, request.query_params.get("expires"),
                                 request.query_params.get("signature"))
        except InvalidValueError as error:
            return _error(400, error.code, error.message)
        except FileUrlError as error:
            return _error(403, error.code, error.message)
        doc = await files.metadata(storage_id)
        if doc is None:
            return _error(404, "FileNotFound", f"no file {storage_id} (deleted, or never"
                          " stored)")
        size = int(doc["size"])
        etag = f'"{doc["sha256"]}"'
        headers = {"etag": etag, "accept-ranges": "bytes", "cache-control": "no-cache",
                   "content-type": doc.get("contentType") or "application/octet-stream"}
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers={k: headers[k] for k in
                                                      ("etag", "cache-control")})
        span = _range(request.headers.get("range"), size)
        if span is None:
            return _error(416, "RangeNotSatisfiable", f"the file has {size} bytes",
                          {"content-range": f"bytes */{size}"})
        start, end, partial = span
        headers["content-length"] = str(end - start)
        status = 200
        if partial:
            status = 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        if request.method == "HEAD":
            return Response(status_code=status, headers=headers)
        return StreamingResponse(_body(files.read(doc, start, end), storage_id),
                                 status_code=status, headers=headers)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def _range(header: str | None, size: int) -> tuple[int, int, bool] | None:
    """(start, end, partial) for a `Range` header; None when it cannot be satisfied.

    Anything but one `bytes=` range (several ranges, other units, garbage) is
    answered with the whole file, as RFC 9110 allows.
    """
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return 0, size, False
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size
        return (start, end, True) if int(last) > 0 and size > 0 else None
    start = int(first)
    end = size if last == "" else min(size, int(last) + 1)
    if last != "" and int(last) < start:
        return 0, size, False
    if start >= size:
        return None
    return start, end, True


async def _body(chunks: AsyncIterator[bytes], storage_id: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except BlobMissing:
        logger.error("file %s: its blob is missing; the response is cut short", storage_id)
