"""How the SQL stores encode what they keep: globals as JSON text, documents as wire bytes."""

from __future__ import annotations

from typing import Any

import orjson

from reactor.errors import StorageError
from reactor.values.wire import loads


def encode_global(name: str, value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:
        raise StorageError(f"globals[{name!r}]: expected a JSON value, got {exc}") from None


def decode_document(value: bytes, doc_id: str, where: object) -> dict[str, Any]:
    """A stored document; `where` names the store in the error if it is not an object."""
    doc = loads(value)
    if not isinstance(doc, dict):
        raise StorageError(f"{where}: document {doc_id!r} is not an object")
    return doc


def entry_document(value: bytes | None, doc_id: str, where: object, index_id: str,
                   ts: int) -> dict[str, Any]:
    """The document a live index entry points at; None there means the store is broken."""
    if value is None:
        raise StorageError(f"{where}: index {index_id!r} has a live entry for document"
                           f" {doc_id!r} at ts {ts}, but the document does not exist then")
    return decode_document(value, doc_id, where)
