"""File storage in the runtime: the file service, upload tokens and signed URLs, ctx.storage."""

from reactor.runtime.files.access import ActionStorage, MutationStorage, QueryStorage
from reactor.runtime.files.service import FileLinks, FileOptions, FileService, check_storage_id
from reactor.runtime.files.settings import StorageSettings, storage_settings
from reactor.runtime.files.tokens import FileSigner, FileUrlError, UploadTokenError

__all__ = [
    "ActionStorage",
    "FileLinks",
    "FileOptions",
    "FileService",
    "FileSigner",
    "FileUrlError",
    "MutationStorage",
    "QueryStorage",
    "StorageSettings",
    "UploadTokenError",
    "check_storage_id",
    "storage_settings",
]
