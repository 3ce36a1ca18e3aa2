"""A worker process: runs queries and mutations sent by the server (`main()`, started
by `workers.py`).

It loads the same app, reads the same SQLite file through its own read-only
connection, and runs each `RemoteCall` at the snapshot the server pinned for it
(see `remote.py`). Frames on stdin and stdout are a 4-byte big-endian length
and a pickle; the server is the only peer, and it is trusted. Anything printed
outside a function goes to stderr, the server's log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from reactor.runtime import client_errors, logs, preempt
from reactor.runtime.auth import BuiltinIssuer
from reactor.runtime.context import MutationCtx, QueryCtx
from reactor.runtime.files import FileLinks, FileOptions, FileSigner
from reactor.runtime.functions import FunctionDefinition
from reactor.runtime.loader import App, load_app
from reactor.runtime.paths import canonical_path
from reactor.runtime.remote import RemoteCall, RemoteResult
from reactor.runtime.runner import call_handler, to_function_error
from reactor.runtime.system import system_tables
from reactor.runtime.system.environment import provide_deployment_values
from reactor.runtime.worker_process import READY, read_frame, run_worker, write_frame
from reactor.storage import Storage
from reactor.storage.choose import make_storage
from reactor.transactions import Catalog, Transaction


@dataclass(frozen=True)
class WorkerSettings:
    """The first frame the server sends: what to load, and at which priority."""

    app_dir: Path
    data_dir: Path
    issuer_url: str
    nice: int
    # ctx.env's built-in values (CONVEX_CLOUD_URL, ...), as in the server process.
    deployment_env: tuple[tuple[str, str], ...] = ()
    # What ctx.storage needs to make upload and file URLs, as in the server process.
    public_url: str = ""
    file_options: FileOptions | None = None
    # The server's PostgreSQL URL, if it runs on PostgreSQL (else SQLite in data_dir).
    db_url: str | None = None


def _provisional_creation_time() -> float:
    """Creation times here only order this execution's inserts; the server assigns the
    stored ones (`Transaction.adopt`)."""
    return time.time_ns() / 1e6


def _resolver(app: App) -> Callable[[str], FunctionDefinition]:
    def resolve(path: str) -> FunctionDefinition:
        fn = app.functions.get(canonical_path(path))
        if fn is None:
            raise client_errors.function_not_found(path, public=False)
        return fn

    return resolve


async def execute(call: RemoteCall, app: App, storage: Storage,
                  issuer: BuiltinIssuer | None, files: FileLinks | None = None) -> RemoteResult:
    """Run `call` at its snapshot; the function's own failures travel in the result."""
    fn = app.functions[call.path]
    result = RemoteResult()
    read_only = call.kind == "query"
    catalog = Catalog(app.schema, list(call.tables), system_tables())
    txn = Transaction(storage=storage, catalog=catalog, begin_ts=call.begin_ts,
                      read_only=read_only, creation_time=_provisional_creation_time,
                      limits=call.limits, on_close=lambda _txn: None)
    with logs.capture() as sink, client_errors.request_scope(call.request_id):
        try:
            ctx = (QueryCtx(txn, call.identity, lambda: call.seed, call.now_ms, issuer, files,
                            scope=fn.scope, resolve=_resolver(app))
                   if read_only else
                   MutationCtx(txn, call.identity, lambda: call.seed, call.now_ms, issuer,
                               _resolver(app), files, scope=fn.scope))
            result.value, result.longest_step_s = await call_handler(
                fn, ctx, call.args, call.user_time_limit_s)
        except Exception as error:
            failure = to_function_error(fn.path, error)
            result.error = (failure.message, failure.code, failure.data, failure.is_app_error,
                            failure.request_id, failure.summary, failure.trace)
        finally:
            txn.close()
    result.log_lines = sink.lines
    result.reads = [(index_id, interval.start, interval.end)
                    for index_id, interval in txn.read_set.items()]
    result.writes = [(doc_id, write.table, write.old, write.new)
                     for doc_id, write in txn.writes.items()]
    return result


def load_worker_app(settings: WorkerSettings) -> tuple[App, BuiltinIssuer]:
    """The app and the token issuer, as the server process has them (either kind of
    worker starts with this)."""
    preempt.install()
    logs.install()
    app = load_app(settings.app_dir)
    logs.capture_app_loggers(app.package)
    provide_deployment_values(dict(settings.deployment_env))
    return app, BuiltinIssuer.load_or_create(settings.data_dir, settings.issuer_url)


async def serve(settings: WorkerSettings, source: IO[bytes], out: IO[bytes]) -> None:
    app, issuer = load_worker_app(settings)
    storage = make_storage(settings.data_dir, settings.db_url)
    await storage.open_reader()
    files = FileLinks(FileSigner.load_or_create(settings.data_dir), settings.public_url,
                      settings.file_options)
    write_frame(out, READY)
    while True:
        call = read_frame(source)
        if call is None:
            break
        await storage.refresh_search_tables()
        write_frame(out, await execute(call, app, storage, issuer, files))
    await storage.close()


def main() -> None:
    run_worker(WorkerSettings, serve)
