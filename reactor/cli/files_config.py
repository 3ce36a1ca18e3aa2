"""File storage settings from `REACTOR_FILES_*` variables (docs/guide/files.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

from reactor.runtime.files import FileOptions
from reactor.server.config import ConfigError
from reactor.storage.blobs import BlobStore
from reactor.storage.s3_blobs import S3BlobStore

PREFIX = "REACTOR_FILES_"
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def file_options_from_env(environ: Mapping[str, str]) -> FileOptions:
    """Defaults, then `REACTOR_FILES_<FIELD>` (`REACTOR_FILES_REQUIRE_SIGNED_URLS=1`)."""
    values: dict[str, object] = {}
    for setting in dataclasses.fields(FileOptions):
        name = PREFIX + setting.name.upper()
        text = environ.get(name)
        if text is None:
            continue
        if setting.type in ("bool", bool):
            if text.lower() not in _TRUE + _FALSE:
                raise ConfigError(f"{name}: expected 1/0, true/false, yes/no or on/off,"
                                  f" got {text!r}")
            values[setting.name] = text.lower() in _TRUE
            continue
        if setting.type in ("int", int):
            if not text.isdigit():
                raise ConfigError(f"{name}: expected a whole number of bytes (0 or more),"
                                  f" got {text!r}")
            values[setting.name] = int(text)
            continue
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {text!r}") from None
        if not number > 0:
            raise ConfigError(f"{name}: expected a positive number, got {text!r}")
        values[setting.name] = number
    return FileOptions(**values)  # type: ignore[arg-type]


def public_url(environ: Mapping[str, str], host: str, port: int) -> str:
    """`REACTOR_PUBLIC_URL`, else the address the server listens on."""
    configured = environ.get("REACTOR_PUBLIC_URL")
    if configured:
        if not configured.startswith(("http://", "https://")):
            raise ConfigError(f"REACTOR_PUBLIC_URL: expected an http(s) URL, got {configured!r}")
        return configured.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def blob_store_from_env(environ: Mapping[str, str]) -> Callable[[Path], BlobStore] | None:
    """An S3 blob store when `REACTOR_S3_BUCKET` is set, else None (files in the data dir).

    `REACTOR_S3_PREFIX`, `REACTOR_S3_ENDPOINT_URL` and `REACTOR_S3_REGION` are
    optional; credentials come from the usual `AWS_ACCESS_KEY_ID` /
    `AWS_SECRET_ACCESS_KEY` (or any other source botocore reads).
    """
    bucket = environ.get("REACTOR_S3_BUCKET")
    if not bucket:
        return None
    endpoint = environ.get("REACTOR_S3_ENDPOINT_URL") or None
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"REACTOR_S3_ENDPOINT_URL: expected an http(s) URL, got {endpoint!r}")

    def make(data_dir: Path) -> BlobStore:
        return S3BlobStore(bucket, data_dir / "files", prefix=environ.get("REACTOR_S3_PREFIX", ""),
                           endpoint_url=endpoint, region=environ.get("REACTOR_S3_REGION") or None)

    return make
