"""Server limits and timings, with the defaults documented in docs/guide/operations.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import ReactorError

ENV_PREFIX = "REACTOR_"


class ConfigError(ReactorError):
    """A setting given in the environment or on the command line is not usable."""

    code = "BadConfig"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What one server process allows each connection and each request."""

    # Largest WebSocket frame or HTTP body accepted from a client.
    max_message_bytes: int = 8 * 1024 * 1024
    # Live queries one connection may hold; more are answered with QueryFailed.
    max_queries_per_connection: int = 4_096
    # Mutations and actions queued or running for one connection; past this the
    # server stops reading that socket until some finish (backpressure).
    max_inflight_requests: int = 1_024
    # Responses waiting to be written to one socket before it counts as stalled.
    max_outbox_messages: int = 2_048
    # A send that does not complete within this is a client that stopped reading.
    send_timeout_s: float = 30.0
    # Ping after this much silence (the client reconnects after 60 s of silence).
    ping_interval_s: float = 15.0
    # Transitions larger than this are split into TransitionChunk frames.
    transition_chunk_bytes: int = 4 * 1024 * 1024
    # Largest file accepted by an upload URL (larger ones get 413).
    max_upload_bytes: int = 4 * 1024 * 1024 * 1024
    # An upload must finish within this (else 408).
    upload_timeout_s: float = 600.0
    # Uploads one user (or, anonymous, one address) may start per minute (else 429).
    uploads_per_minute: float = 600.0
    # Origins allowed by CORS on the HTTP API ("*" allows any).
    cors_origins: tuple[str, ...] = field(default=("*",))
    # Longest an action (or HTTP action) may run, awaiting included; one that never
    # finishes (awaits something nobody resolves) fails at this time.
    action_timeout_s: float = 600.0
    # SIGTERM: the most the server takes to stop (running actions are stopped, requests
    # in flight answered, clients closed with 1001), however long actions would run.
    shutdown_timeout_s: float = 10.0
    # Mutations and actions per second per caller (identity; anonymous: connection or
    # address), with bursts of two seconds' worth; 0 turns the limit off.
    mutation_rate: float = 500.0
    action_rate: float = 50.0
    # How far back `/api/query_at_ts` may read; older revisions are pruned.
    history_retention_s: float = 60.0
    # Distinct live queries held by all connections together (each costs a few KiB);
    # past it a new one fails with TooManyQueries.
    max_live_queries: int = 100_000
    # Open sockets (HTTP and WebSocket) in all, and from one client address; past
    # either a new socket is answered 503 and closed (see connections.py).
    max_connections: int = 10_000
    max_connections_per_address: int = 256
    # A socket's request headers must be complete within this (slowloris), and
    # be at most this large.
    header_timeout_s: float = 10.0
    max_header_bytes: int = 65_536
    # An HTTP request body must arrive within this.
    body_timeout_s: float = 60.0
    # A WebSocket must send Connect within this of opening.
    connect_timeout_s: float = 10.0
    # The execution log (logs.sqlite3): records older than this, and the oldest past
    # this size, are deleted (checked every minute).
    log_retention_s: float = 7 * 24 * 3600.0
    log_max_bytes: int = 100 * 1024 * 1024
    # Accept permessage-deflate from WebSocket clients that ask for it (the official client
    # does): 12-bit windows, memLevel 5, context kept. Off by default: it costs server
    # and client CPU on every frame and ~43 KiB per connection, for frames that are
    # mostly small (docs/performance.md has the measurements).
    ws_compression: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> ServerConfig:
        """Defaults, then `REACTOR_<FIELD>` variables (`REACTOR_PING_INTERVAL_S=5`), then
        `overrides`; `REACTOR_CORS_ORIGINS` is a comma-separated list."""
        values: dict[str, Any] = {}
        for setting in dataclasses.fields(cls):
            name = env_name(setting.name)
            text = environ.get(name)
            if text is not None:
                values[setting.name] = _parse(name, setting.type, text)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def env_name(setting: str) -> str:
    """The environment variable that sets `setting`."""
    return ENV_PREFIX + setting.upper()


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse(name: str, kind: Any, text: str) -> Any:
    if kind in ("bool", bool):
        if text.strip().lower() not in _TRUE | _FALSE:
            raise ConfigError(f"{name}: expected 1 or 0 (on or off), got {text!r}")
        return text.strip().lower() in _TRUE
    if kind in ("tuple[str, ...]", tuple[str, ...]):
        origins = tuple(part.strip() for part in text.split(",") if part.strip())
        if not origins:
            raise ConfigError(f"{name}: expected a comma-separated list of origins, got {text!r}")
        return origins
    number_type = int if kind in ("int", int) else float
    try:
        value = number_type(text)
    except ValueError:
        raise ConfigError(f"{name}: expected {'an integer' if number_type is int else 'a number'},"
                          f" got {text!r}") from None
    if value < 0 or (value == 0 and not name.endswith("_RATE")):
        expected = "a positive value or 0 (no limit)" if name.endswith("_RATE") else \
            "a positive value"
        raise ConfigError(f"{name}: expected {expected}, got {text!r}")
    return value
