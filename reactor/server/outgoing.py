"""Building outgoing message parts from results, reusing their shared encodings."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from reactor.runtime import Outcome
from reactor.server import protocol as p
from reactor.subscriptions import QueryResult
from reactor.values import canonicalize, dumps


def value_json(value: Any) -> bytes:
    """Convex JSON of a function result (already canonical: validated on return)."""
    return dumps(value)


def error_data_json(data: Any) -> bytes:
    """AppError data as convex JSON; data that is not a value degrades to its text."""
    try:
        return dumps(canonicalize(data, "errorData"))
    except Exception:
        return dumps(str(data))


def failure_fields(outcome: Outcome) -> dict[str, Any]:
    """`result`, `logLines` and (for application errors) `errorData` of a failed response."""
    error = outcome.error
    assert error is not None
    fields: dict[str, Any] = {"result": error.message, "logLines": outcome.log_lines}
    if error.is_app_error:
        fields["errorData"] = msgspec.Raw(error_data_json(error.data))
    return fields


# One modification a client is owed, as the values its bytes are made of: `(query_id,)`
# is a removal, `(query_id, result, journal)` a result (QueryUpdated or QueryFailed),
# `(query_id, message, journal)` a query that failed before it could run. Clients shown
# the same result object get equal changes (results hash by identity), so a fan-out can
# encode their Transition once.
Change = tuple[int] | tuple[int, QueryResult | str, str | None]


def modification(change: Change) -> p.StateModification:
    """The message part of one change; a result's value is its shared encoding."""
    if len(change) == 1:
        return p.QueryRemoved(queryId=change[0])
    query_id, shown, journal = change
    if isinstance(shown, str):
        return p.QueryFailed(queryId=query_id, errorMessage=shown, journal=journal)
    if shown.ok:
        return p.QueryUpdated(queryId=query_id, value=msgspec.Raw(shown.encoded),
                              logLines=shown.log_lines, journal=journal)
    failed = p.QueryFailed(queryId=query_id, errorMessage=shown.error_message or "",
                           logLines=shown.log_lines, journal=journal)
    if shown.error_data is not None:
        failed.errorData = msgspec.Raw(shown.error_data)
    return failed


def transition_frames(transition: p.Transition, chunk_chars: int) -> list[bytes]:
    """One frame, or TransitionChunk frames carrying the Transition's JSON text in order."""
    encoded = p.encode_server_message(transition)
    if len(encoded) <= chunk_chars:
        return [encoded]
    text = encoded.decode()
    parts = [text[i:i + chunk_chars] for i in range(0, len(text), chunk_chars)]
    transition_id = uuid.uuid4().hex
    return [p.encode_server_message(p.TransitionChunk(
        chunk=part, partNumber=n, totalParts=len(parts), transitionId=transition_id))
        for n, part in enumerate(parts)]
