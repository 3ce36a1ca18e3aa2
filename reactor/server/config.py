"""Server limits and timings, with the defaults documented in docs/guide/operations.md."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What one server process allows each connection and each request."""

    # Largest WebSocket frame or HTTP body accepted from a client.
    max_message_bytes: int = 8 * 1024 * 1024
    # Live queries one connection may hold; more are answered with QueryFailed.
    max_queries_per_connection: int = 4_096
    # Mutations and actions queued or running for one connection before it is closed.
    max_inflight_requests: int = 1_024
    # Messages waiting to be written to one socket before it counts as stalled.
    max_outbox_messages: int = 2_048
    # A send that does not complete within this is a client that stopped reading.
    send_timeout_s: float = 30.0
    # Ping after this much silence (the client reconnects after 60 s of silence).
    ping_interval_s: float = 15.0
    # Transitions larger than this are split into TransitionChunk frames.
    transition_chunk_bytes: int = 4 * 1024 * 1024
    # Origins allowed by CORS on the HTTP API ("*" allows any).
    cors_origins: tuple[str, ...] = field(default=("*",))
