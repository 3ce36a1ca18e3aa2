"""File settings and storage-id checks, shared by the file service and the links workers use."""

from __future__ import annotations

from dataclasses import dataclass

from reactor.errors import InvalidValueError
from reactor.runtime.system.storage_files import STORAGE
from reactor.transactions import Catalog

# Files up to this size are hashed on the loop (tens of microseconds) and written in one
# trip to a worker thread; larger ones stream through the blob store's staging writer.
SMALL_BLOB_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class FileOptions:
    """Deployment settings for files (docs/guide/files.md lists their variables)."""

    # How long an upload URL works.
    upload_url_ttl_s: float = 3600.0
    # Refuse plain file URLs: every URL must be signed and unexpired.
    require_signed_urls: bool = False
    # How long `get_url` signs for when signing is required and no expiry was asked.
    default_signed_url_ttl_s: float = 3600.0
    # Blobs and staged files without a document are removed once this old.
    orphan_grace_s: float = 3600.0
    sweep_interval_s: float = 600.0
    # Files up to this size (at most SMALL_BLOB_BYTES) are kept in the database, committed
    # with their document, when blobs are local files; 0 keeps every file in the blob store.
    inline_max_bytes: int = SMALL_BLOB_BYTES


def check_storage_id(catalog: Catalog, storage_id: object, where: str) -> str:
    """`storage_id` if it is an id of `_storage`; else a clear error naming what it is."""
    table = catalog.table_of_id(storage_id)
    if table == STORAGE:
        return storage_id  # type: ignore[return-value]
    if table is None:
        raise InvalidValueError(f"{where}: expected an id of _storage (a storageId),"
                                f" got {str(storage_id)[:80]!r}", code="InvalidStorageId")
    raise InvalidValueError(f"{where}: {storage_id!r} is an id of table {table!r},"
                            " not of _storage", code="InvalidStorageId")
