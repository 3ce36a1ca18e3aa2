"""`reactor serve` and `reactor dev`: run the server, and in dev mode reload on change."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import json
import logging
import os
import resource
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType

import uvicorn

from reactor.cli.files_config import blob_store_from_env, file_options_from_env, public_url
from reactor.cli.workers import WorkerConfig, announce_ready, watch_parent
from reactor.errors import ReactorError
from reactor.runtime import Engine, FunctionKind, Outcome
from reactor.runtime.backups.schedule import BackupSchedule, run_schedule
from reactor.runtime.execution_log import to_record
from reactor.server.app import ReactorServer
from reactor.server.config import ConfigError, ServerConfig
from reactor.storage import WorkerGroup
from reactor.transactions import DatabaseOptions

logger = logging.getLogger("reactor.cli")


def print_call(kind: FunctionKind, outcome: Outcome) -> None:
    """One terminal line per function call, then its log lines; a failure shows the
    request id its caller was given."""
    error = outcome.error
    status = "ok" if error is None else (
        f"failed [Request ID: {error.request_id}] " + error.summary.replace("\n", "\n    "))
    note = f" ({outcome.note})" if outcome.note else ""
    sys.stderr.write(f"[{kind.value}] {outcome.path}{note} {outcome.duration_s * 1000:.1f} ms"
                     f" {status}\n")
    for line in outcome.log_lines:
        sys.stderr.write(f"    {line}\n")


def print_json_call(kind: FunctionKind, outcome: Outcome) -> None:
    """`--log-format json`: one JSON object per call on stdout, the execution log's
    record (`requestId` is the one a failed call's client saw) with an ISO `time`."""
    record = to_record(kind, outcome, time.time() * 1000).to_json()
    del record["id"]
    record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record["startedMs"] / 1000)) \
        + f".{int(record['startedMs'] % 1000):03d}Z"
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# A server allocates in bursts of short-lived objects (messages, transactions,
# tasks): collecting the youngest generation every 700 allocations mostly scans
# requests still in flight, which survive into older generations and make full
# collections frequent. Larger thresholds let them die young (docs/performance.md).
GC_THRESHOLDS = (5_000, 10, 10)


def settle_heap() -> None:
    """Freeze what lives as long as the process (modules, the app, the engine), so that
    full collections no longer scan it, and set the collection thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# File descriptors kept beyond the connection cap: the database, logs, the app's own.
FD_RESERVE = 256


def raise_file_limit(max_connections: int) -> None:
    """Let the process hold `max_connections` sockets: raise the soft open-file limit
    towards the hard one, and warn when even that is too low (the cap could never be
    reached; accepting would fail for everyone first)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        logger.warning("the open-file limit (%d) is below REACTOR_MAX_CONNECTIONS (%d) plus"
                       " %d; lower the setting or raise `ulimit -n`", soft, max_connections,
                       FD_RESERVE)


def listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """The server's listening socket; a taken port is one clear `ReactorError`.
    `reuse_port`: one of the sockets of `reactor serve --workers N` (cli/workers.py)."""
    try:
        return socket.create_server((host, port), family=_family(host), backlog=2048,
                                    reuse_port=reuse_port)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ReactorError(f"port {port} on {host} is already in use (another server?):"
                               " stop it, or pass --port N", code="PortInUse") from None
        raise ReactorError(f"cannot listen on {host}:{port}: {error.strerror or error}",
                           code="CannotListen") from None


def metrics_address(text: str, host: str) -> tuple[str, int]:
    """`--metrics-port [HOST:]PORT`: where `/metrics` is served without the admin key
    (on the server's own `--host` unless a host is given)."""
    where, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise ConfigError(f"--metrics-port: expected PORT or HOST:PORT, got {text!r}")
    return (where.strip("[]") or host), number


def _family(host: str) -> socket.AddressFamily:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return socket.AF_INET
    return infos[0][0] if infos else socket.AF_INET


# Of the shutdown time, what is kept for closing the listener and the engine.
SHUTDOWN_MARGIN_S = 2.0


class _GracefulServer(uvicorn.Server):
    """uvicorn, whose SIGTERM / SIGINT first answers and closes the clients
    (`ReactorServer.shut_down`), then stops as usual; the whole takes at most
    `timeout_s` even while actions hang. A second SIGINT stops at once."""

    def __init__(self, config: uvicorn.Config, server: ReactorServer, timeout_s: float) -> None:
        super().__init__(config)
        self._reactor = server
        self._timeout_s = timeout_s
        self._draining: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining is not None:
            if sig == signal.SIGINT:
                super().handle_exit(sig, frame)
            return
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await self._reactor.shut_down(max(0.5, self._timeout_s - SHUTDOWN_MARGIN_S))
        finally:
            self.should_exit = True


class _SecondServer(uvicorn.Server):
    """A uvicorn server beside the main one: the main one handles the signals and this
    one stops when it does."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def node_url(environ: Mapping[str, str], host: str, port: int) -> str:
    """Where other nodes of a PostgreSQL store reach this one (`REACTOR_NODE_URL`, else
    this server's own host and port; a wildcard host is named by the machine's name)."""
    given = environ.get("REACTOR_NODE_URL")
    if given:
        return given.rstrip("/")
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


async def serve(app_dir: Path, data_dir: Path | None, host: str, port: int, *,
                dev: bool, durability: str, cors_origins: list[str] | None = None,
                mutation_rate: float | None = None, action_rate: float | None = None,
                backups: BackupSchedule | None = None,
                log_format: str | None = None, db_url: str | None = None,
                metrics_port: str | None = None, follow: bool = False,
                worker: WorkerConfig | None = None) -> None:
    """Serve until SIGINT/SIGTERM; settings come from `REACTOR_*` variables (ServerConfig),
    then from the command line.

    The port is taken first: if it is in use, nothing else happens (no data directory).
    A `worker` of `reactor serve --workers N` shares the port with its siblings and also
    listens on a private loopback port, where they forward mutations once it commits.
    """
    for flag, rate in (("--mutation-rate", mutation_rate), ("--action-rate", action_rate)):
        if rate is not None and rate < 0:
            raise ConfigError(f"{flag}: expected a number of calls per second, 0 for no"
                              f" limit, got {rate:g}")
    listener = listen(host, port, reuse_port=worker is not None)
    private = listen("127.0.0.1", 0) if worker is not None else None
    metrics_listener = None
    if metrics_port is not None:
        try:
            metrics_listener = listen(*metrics_address(metrics_port, host))
        except BaseException:
            listener.close()
            raise
    config = ServerConfig.from_env(os.environ,
                                   cors_origins=tuple(cors_origins) if cors_origins else None,
                                   mutation_rate=mutation_rate, action_rate=action_rate)
    retention = DatabaseOptions(retention_ns=int(config.history_retention_s * 1e9))
    db_url = db_url or os.environ.get("REACTOR_DB_URL") or None
    if db_url and backups is not None:
        raise ConfigError("scheduled backups copy the SQLite database; on PostgreSQL (--db)"
                          " back the database up with PostgreSQL's own tools (pg_dump)")
    if follow and not db_url:
        raise ConfigError("--follow: expected --db postgresql://... (the store the committing"
                          " node writes)")
    if private is not None:
        own_url = f"http://127.0.0.1:{private.getsockname()[1]}"
    else:
        own_url = node_url(os.environ, host, port)
    group = None if worker is None else WorkerGroup(worker.slot, worker.size, worker.secret)
    engine = Engine(app_dir, data_dir, durability=durability, options=retention, db_url=db_url,
                    follow=follow, node_url=own_url, group=group,
                    action_timeout_s=config.action_timeout_s,
                    public_url=public_url(os.environ, host, port),
                    file_options=file_options_from_env(os.environ),
                    blob_store=blob_store_from_env(os.environ))
    server = ReactorServer(engine, config)
    if log_format == "json":
        engine.add_call_listener(print_json_call)
    elif log_format == "text" or (dev and log_format is None):
        engine.add_call_listener(print_call)
    # Start before serving, so that a bad schema or auth config is reported as
    # a clean error (and a non-zero exit) instead of a lifespan traceback.
    try:
        await server.start()
    except BaseException:
        listener.close()
        for other in (metrics_listener, private):
            if other is not None:
                other.close()
        raise
    settle_heap()
    raise_file_limit(config.max_connections)
    http_protocol, ws_protocol = server.protocols()
    uvicorn_config = uvicorn.Config(server.build(), host=host, port=port, log_level="warning",
                                    ws_max_size=config.max_message_bytes, lifespan="on",
                                    timeout_graceful_shutdown=int(SHUTDOWN_MARGIN_S),
                                    ws_ping_interval=None, http=http_protocol, ws=ws_protocol,
                                    ws_per_message_deflate=config.ws_compression)
    runner = _GracefulServer(uvicorn_config, server, config.shutdown_timeout_s)
    watcher: asyncio.Task[None] | None = None
    if dev:
        from reactor.cli.reload import regenerate, watch_and_reload

        regenerate(engine.app_dir)
        watcher = asyncio.create_task(watch_and_reload(server))
    backing_up: asyncio.Task[None] | None = None
    if backups is not None:
        backups.folder.mkdir(parents=True, exist_ok=True)
        server.backups = backups.status
        backing_up = asyncio.create_task(run_schedule(engine.data_dir, backups))
    sockets = [listener] if private is None else [listener, private]
    started = asyncio.create_task(runner.serve(sockets=sockets))
    metrics_runner: uvicorn.Server | None = None
    metrics_serving: asyncio.Task[None] | None = None
    if metrics_listener is not None:
        metrics_runner = _SecondServer(uvicorn.Config(server.build_metrics(),
                                                      log_level="warning", lifespan="off"))
        metrics_serving = asyncio.create_task(metrics_runner.serve(sockets=[metrics_listener]))
    while not runner.started and not started.done():
        await asyncio.sleep(0.02)
    orphaned: asyncio.Task[None] | None = None
    if runner.started and worker is not None:
        role = "a follower" if engine.follow else "the committer"
        sys.stderr.write(f"Reactor worker {worker.slot} (pid {os.getpid()}) serving"
                         f" http://{host}:{port} as {role}; siblings reach it at {own_url}\n")
        announce_ready(worker, own_url)
        orphaned = asyncio.create_task(watch_parent(worker))
    elif runner.started:
        sys.stderr.write(f"Reactor {'dev server' if dev else 'server'} listening on"
                         f" http://{host}:{port}\n  app: {engine.app_dir}\n"
                         f"  data: {engine.data_dir}\n"
                         + (f"  database: {engine.database.storage}\n" if db_url else ""))
    try:
        await started
    finally:
        if orphaned is not None:
            orphaned.cancel()
        if metrics_runner is not None and metrics_serving is not None:
            metrics_runner.should_exit = True
            await asyncio.gather(metrics_serving, return_exceptions=True)
        if watcher is not None:
            watcher.cancel()
        if backing_up is not None:
            backing_up.cancel()
            await asyncio.gather(backing_up, return_exceptions=True)
        await server.stop()
