"""The sync protocol's messages as typed structs, and their JSON encoding (docs protocol.md)."""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Annotated, Any, Literal, get_args

import msgspec

from reactor.errors import ReactorError

__all__ = [
    "UNSET",
    "Action",
    "ActionResponse",
    "AddQuery",
    "AuthError",
    "Authenticate",
    "ClientMessage",
    "Connect",
    "Event",
    "FatalError",
    "ModifyQuerySet",
    "Mutation",
    "MutationResponse",
    "Ping",
    "ProtocolError",
    "QueryFailed",
    "QueryRemoved",
    "QueryUpdated",
    "RemoveQuery",
    "ServerMessage",
    "StateModification",
    "StateVersion",
    "Transition",
    "TransitionChunk",
    "decode_client_message",
    "decode_server_message",
    "decode_ts",
    "encode_server_message",
    "encode_ts",
    "unwrap_args",
]

UNSET = msgspec.UNSET
"""Default of a field that must be left out of the JSON (not sent as null)."""

NonNegative = Annotated[int, msgspec.Meta(ge=0)]
EncodedTs = str
"""A u64 timestamp as base64 of its 8 little-endian bytes (see `encode_ts`)."""

_U64_MAX = 2**64 - 1


class ProtocolError(ReactorError):
    """A client sent a frame that is not a valid protocol message."""

    code = "ProtocolError"


# Client -> server. Values inside (args, event, impersonating) stay convex JSON:
# the server turns them into Python values with reactor.values.from_wire.

# Unknown fields are ignored, not refused: newer clients may add optional ones.


class Connect(msgspec.Struct, tag_field="type", tag=True):
    """First message on every socket."""

    sessionId: str
    connectionCount: NonNegative
    lastCloseReason: str | None
    clientTs: float
    maxObservedTimestamp: EncodedTs | None = None


class AddQuery(msgspec.Struct, tag_field="type", tag="Add"):
    """Subscribe `queryId` to a query; `args` is normally `[ {...} ]`."""

    queryId: NonNegative
    udfPath: str
    args: list[Any] | dict[str, Any]
    journal: str | None = None
    componentPath: str | None = None


class RemoveQuery(msgspec.Struct, tag_field="type", tag="Remove"):
    """Unsubscribe `queryId`."""

    queryId: NonNegative


class ModifyQuerySet(msgspec.Struct, tag_field="type", tag=True):
    """Move the socket's query set from `baseVersion` to `newVersion`."""

    baseVersion: NonNegative
    newVersion: NonNegative
    modifications: list[AddQuery | RemoveQuery]


class Mutation(msgspec.Struct, tag_field="type", tag=True):
    """Run a mutation; re-sent with the same `requestId` after a reconnect."""

    requestId: NonNegative
    udfPath: str
    args: list[Any] | dict[str, Any]
    componentPath: str | None = None


class Action(msgspec.Struct, tag_field="type", tag=True):
    """Run an action; never re-sent after a reconnect."""

    requestId: NonNegative
    udfPath: str
    args: list[Any] | dict[str, Any]
    componentPath: str | None = None


class Authenticate(msgspec.Struct, tag_field="type", tag=True):
    """Set the socket's identity: a user JWT, an admin key, or none."""

    tokenType: Literal["User", "Admin", "None"]
    baseVersion: NonNegative
    value: str | None = None
    impersonating: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.tokenType != "None" and self.value is None:
            raise ValueError(f"tokenType {self.tokenType!r} requires a string `value`")


class Event(msgspec.Struct, tag_field="type", tag=True):
    """Client telemetry; the server ignores it."""

    eventType: str
    event: Any = None


ClientMessage = Connect | ModifyQuerySet | Mutation | Action | Authenticate | Event


# Server -> client. Value fields (value, result, errorData) take convex JSON as
# produced by reactor.values.to_wire, or a msgspec.Raw of already-encoded JSON.


class StateVersion(msgspec.Struct):
    """Where a socket's state stands; `ts` is an encoded timestamp."""

    querySet: NonNegative
    identity: NonNegative
    ts: EncodedTs


class QueryUpdated(msgspec.Struct, tag_field="type", tag=True):
    """A query's new result; `journal` is always sent (null when empty)."""

    queryId: NonNegative
    value: Any
    logLines: list[str] = msgspec.field(default_factory=list)
    journal: str | None = None


class QueryFailed(msgspec.Struct, tag_field="type", tag=True):
    """A query threw; `errorData` only for application errors carrying data."""

    queryId: NonNegative
    errorMessage: str
    logLines: list[str] = msgspec.field(default_factory=list)
    journal: str | None = None
    errorData: Any | msgspec.UnsetType = UNSET


class QueryRemoved(msgspec.Struct, tag_field="type", tag=True):
    """Acknowledges a Remove."""

    queryId: NonNegative


StateModification = QueryUpdated | QueryFailed | QueryRemoved


class Transition(msgspec.Struct, tag_field="type", tag=True):
    """All of a client's changed queries at one snapshot."""

    startVersion: StateVersion
    endVersion: StateVersion
    modifications: list[StateModification] = msgspec.field(default_factory=list)
    serverTs: int | msgspec.UnsetType = UNSET
    clientClockSkew: float | msgspec.UnsetType = UNSET


class MutationResponse(msgspec.Struct, tag_field="type", tag=True):
    """A mutation's outcome: `result` is the value, or the error message on failure.

    `ts` is the commit timestamp, required on success; a failure sends it as null.
    """

    requestId: NonNegative
    success: bool
    result: Any
    ts: EncodedTs | None = None
    logLines: list[str] = msgspec.field(default_factory=list)
    errorData: Any | msgspec.UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.success and self.ts is None:
            raise ValueError("a successful MutationResponse needs `ts`")
        if not self.success and not isinstance(self.result, str):
            raise ValueError("a failed MutationResponse carries the error message in `result`")


class ActionResponse(msgspec.Struct, tag_field="type", tag=True):
    """An action's outcome: `result` is the value, or the error message on failure."""

    requestId: NonNegative
    success: bool
    result: Any
    logLines: list[str] = msgspec.field(default_factory=list)
    errorData: Any | msgspec.UnsetType = UNSET

    def __post_init__(self) -> None:
        if not self.success and not isinstance(self.result, str):
            raise ValueError("a failed ActionResponse carries the error message in `result`")


class AuthError(msgspec.Struct, tag_field="type", tag=True):
    """A token was refused; `baseVersion` is the identity version before the attempt."""

    error: str
    baseVersion: NonNegative
    authUpdateAttempted: bool


class FatalError(msgspec.Struct, tag_field="type", tag=True):
    """The client gives up on this socket for good."""

    error: str


class Ping(msgspec.Struct, tag_field="type", tag=True):
    """Keeps the client's 60 s inactivity timer from firing."""


class TransitionChunk(msgspec.Struct, tag_field="type", tag=True):
    """One part of a Transition's JSON text split across frames."""

    chunk: str
    partNumber: NonNegative
    totalParts: NonNegative
    transitionId: str


ServerMessage = (
    Transition | MutationResponse | ActionResponse | AuthError | FatalError | Ping | TransitionChunk
)

_CLIENT_TYPES = ", ".join(t.__name__ for t in get_args(ClientMessage))
_client_decoder = msgspec.json.Decoder(ClientMessage)
_server_decoder = msgspec.json.Decoder(ServerMessage)
_encoder = msgspec.json.Encoder()


def decode_client_message(data: bytes | str) -> ClientMessage:
    """Parse and validate one client frame, or raise `ProtocolError` saying what is wrong."""
    try:
        return _client_decoder.decode(data)
    except msgspec.ValidationError as e:
        hint = f" (expected one of {_CLIENT_TYPES})" if str(e).endswith("`$.type`") else ""
        raise ProtocolError(f"invalid client message: {e}{hint}") from None
    except msgspec.DecodeError as e:
        raise ProtocolError(f"client message is not valid JSON: {e}") from None
    except RecursionError:
        # msgspec gives up near 1,000 levels; values may not nest past 16 anyway.
        raise ProtocolError("client message is nested too deeply to decode (values may"
                            " nest at most 16 levels)") from None


def decode_server_message(data: bytes | str) -> ServerMessage:
    """Parse a server frame: for Python test clients speaking the protocol."""
    try:
        return _server_decoder.decode(data)
    except msgspec.ValidationError as e:
        raise ProtocolError(f"invalid server message: {e}") from None
    except msgspec.DecodeError as e:
        raise ProtocolError(f"server message is not valid JSON: {e}") from None


def encode_server_message(message: ServerMessage) -> bytes:
    """The JSON text of one server frame."""
    return _encoder.encode(message)


@functools.lru_cache(maxsize=64)
def encode_ts(ts: int) -> EncodedTs:
    """Encode a u64 timestamp as the client expects: base64 of 8 little-endian bytes.

    Cached: a push to many sessions encodes the same few timestamps for each."""
    if not 0 <= ts <= _U64_MAX:
        raise ValueError(f"timestamp must be a u64, got {ts}")
    return base64.b64encode(ts.to_bytes(8, "little")).decode("ascii")


def decode_ts(encoded: str) -> int:
    """Inverse of `encode_ts`; accepts the URL-safe alphabet too, like the client."""
    try:
        raw = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"timestamp {encoded!r} is not base64") from None
    if len(raw) != 8:
        raise ProtocolError(f"timestamp {encoded!r} must encode 8 bytes, got {len(raw)}")
    return int.from_bytes(raw, "little")


def unwrap_args(args: list[Any] | dict[str, Any], where: str = "args") -> dict[str, Any]:
    """The single arguments object of a call, sent as `[ {...} ]` or as a bare object."""
    if isinstance(args, dict):
        return args
    if len(args) != 1 or not isinstance(args[0], dict):
        got = f"{len(args)} elements" if len(args) != 1 else type(args[0]).__name__
        raise ProtocolError(f"{where}: expected one arguments object `[{{...}}]`, got {got}")
    return args[0]
