"""App-level file settings: `functions/storage.py` declares `storage = storage_settings(...)`.

They override the deployment's `REACTOR_FILES_*` settings for this app, and a
reload applies a change at once (turning on `require_signed_urls` stops every
plain file URL from that moment).
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass

from reactor.errors import SchemaError
from reactor.runtime.files.service import FileOptions

Seconds = datetime.timedelta | float | int | None


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """What the app sets; None leaves the deployment's setting."""

    require_signed_urls: bool | None = None
    upload_url_ttl_s: float | None = None
    default_signed_url_ttl_s: float | None = None

    def apply(self, options: FileOptions) -> FileOptions:
        """`options` with the app's settings in place of the deployment's."""
        changes = {name: value for name, value in dataclasses.asdict(self).items()
                   if value is not None}
        return dataclasses.replace(options, **changes)


def _seconds(name: str, value: Seconds) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise SchemaError(f"storage_settings: {name} must be a timedelta or seconds,"
                          f" got {type(value).__name__}")
    if not seconds > 0:
        raise SchemaError(f"storage_settings: {name} must be positive, got {seconds:g} s")
    return seconds


def storage_settings(*, require_signed_urls: bool | None = None,
                     upload_url_ttl: Seconds = None,
                     signed_url_ttl: Seconds = None) -> StorageSettings:
    """The app's file settings, for `functions/storage.py`:

    `storage = storage_settings(require_signed_urls=True, signed_url_ttl=timedelta(minutes=10))`
    """
    if require_signed_urls is not None and not isinstance(require_signed_urls, bool):
        raise SchemaError("storage_settings: require_signed_urls must be True or False")
    return StorageSettings(require_signed_urls, _seconds("upload_url_ttl", upload_url_ttl),
                           _seconds("signed_url_ttl", signed_url_ttl))
