"""Admin endpoints moving whole data sets: backup, export, import (`reactor ... --url`).

`POST /api/admin/backup` and `POST /api/admin/export` write the file in a scratch
folder beside the data directory and stream it back; `POST /api/admin/import`
takes the file as the request body (stored in that folder first, so a dropped
upload imports nothing) and answers the import's report. Admin key only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from reactor.errors import ReactorError
from reactor.runtime import Engine
from reactor.runtime.auth import AuthenticationError
from reactor.server.identity import Authenticator

logger = logging.getLogger("reactor.server")
CHUNK = 1024 * 1024
MAX_OPTIONS_BYTES = 64 * 1024


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class DataApi:
    def __init__(self, engine: Engine, authenticator: Callable[[], Authenticator]) -> None:
        self.engine = engine
        self.authenticator = authenticator

    async def refuse(self, request: Request) -> Response | None:
        try:
            caller = await self.authenticator().from_header(request.headers.get("authorization"))
        except AuthenticationError as error:
            return _error(401, error.code, error.message)
        if not caller.admin:
            return _error(403, "Forbidden", "backups, exports, imports and migrations need the"
                          " admin key: `Authorization: Convex <key>`")
        return None

    def _scratch(self) -> Path:
        parent = self.engine.data_dir.parent
        return Path(tempfile.mkdtemp(prefix=f".{self.engine.data_dir.name}.transfer-",
                                     dir=parent))

    async def backup(self, request: Request) -> Response:
        from reactor.runtime.backups import write_backup

        refused = await self.refuse(request)
        if refused is not None:
            return refused
        scratch = self._scratch()
        try:
            options = await _options(request)
            passphrase = options.get("passphrase")
            if passphrase is not None and not isinstance(passphrase, str):
                raise ReactorError('"passphrase": expected a string', code="BadRequest")
            copy_blobs = not os.environ.get("REACTOR_S3_BUCKET")
            result = await write_backup(self.engine.data_dir, scratch / "backup.rbk",
                                        passphrase=passphrase or None, copy_blobs=copy_blobs)
        except ReactorError as error:
            shutil.rmtree(scratch, ignore_errors=True)
            return _error(400, error.code, error.public_message)
        return _file_response(result.path, scratch, "application/octet-stream")

    async def export(self, request: Request) -> Response:
        from reactor.runtime.snapshots.export import ID_FORMATS, export_data_dir

        refused = await self.refuse(request)
        if refused is not None:
            return refused
        scratch = self._scratch()
        try:
            with_files = request.query_params.get("includeFileStorage") == "true"
            given = request.query_params.get("idFormat", "convex")
            id_format = next((f for f in ID_FORMATS if f == given), None)
            if id_format is None:
                raise ReactorError("idFormat: expected convex or reactor", code="BadRequest")
            result = await export_data_dir(self.engine.data_dir, scratch / "snapshot.zip",
                                           blobs=self.engine.files.blobs if with_files
                                           else None, id_format=id_format)
        except ReactorError as error:
            shutil.rmtree(scratch, ignore_errors=True)
            return _error(400, error.code, error.public_message)
        return _file_response(result.path, scratch, "application/zip")

    async def import_(self, request: Request) -> Response:
        from reactor.runtime.snapshots.importer import import_parsed
        from reactor.runtime.snapshots.sources import detect_format, parse_import

        refused = await self.refuse(request)
        if refused is not None:
            return refused
        params = request.query_params
        mode = params.get("mode", "require_empty")
        if mode not in ("require_empty", "append", "replace"):
            return _error(400, "BadRequest", "mode: expected require_empty, append or replace")
        scratch = self._scratch()
        try:
            fmt = detect_format(Path(f"upload.{params.get('format', '')}"), params.get("format")
                                or None)
            path = scratch / f"upload.{fmt}"
            with open(path, "wb") as sink:
                async for chunk in request.stream():
                    sink.write(chunk)
            parsed = parse_import(path, fmt, params.get("table") or None)
            report = await import_parsed(self.engine.database, self.engine.files.blobs,
                                         parsed, mode)  # type: ignore[arg-type]
            # The import changed tables under every live query: each runs again.
            self.engine.manager.rerun_all()
        except ReactorError as error:
            return _error(400, error.code, error.public_message)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return JSONResponse({"ts": report.ts, "tables": report.tables, "files": report.files,
                             "mappedIds": report.mapped_ids, "skipped": report.skipped,
                             "seconds": round(report.seconds, 3)})


async def _options(request: Request) -> dict[str, object]:
    body = await request.body()
    if len(body) > MAX_OPTIONS_BYTES:
        raise ReactorError(f"request body exceeds {MAX_OPTIONS_BYTES} bytes", code="BadRequest")
    if not body:
        return {}
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ReactorError(f"request body is not valid JSON: {error}",
                           code="BadRequest") from None
    if not isinstance(parsed, dict):
        raise ReactorError("request body must be a JSON object", code="BadRequest")
    return parsed


def _file_response(path: Path, scratch: Path, media_type: str) -> StreamingResponse:
    """Stream the file, then remove its scratch folder (also when the client goes away)."""

    async def body() -> AsyncIterator[bytes]:
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(scratch)

    return StreamingResponse(body(), media_type=media_type,
                             headers={"Content-Length": str(path.stat().st_size)})
