"""`reactor backup` and `reactor restore`: whole-deployment backups (docs/guide/backups.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from reactor.cli.app_dir import data_dir
from reactor.cli.database_arg import add_db_argument, refuse_db
from reactor.errors import ReactorError

PASSPHRASE_ENV = "REACTOR_BACKUP_PASSPHRASE"


# What backs up a PostgreSQL deployment instead (backups copy a SQLite data directory).
POSTGRES_BACKUP = ("back the database up with PostgreSQL's own tools (pg_dump, pg_restore),"
                   " or write a snapshot with `reactor export --db URL --path FILE.zip` and"
                   " load it with `reactor import --db URL FILE.zip`")


def add_parsers(commands: Any, app_arguments: Any) -> None:
    """Register `reactor backup` and `reactor restore`."""
    backup = commands.add_parser("backup", help="write a consistent backup of a deployment,"
                                 " running or not")
    app_arguments(backup, positional=False)
    backup.add_argument("--out", required=True, type=Path,
                        help="the backup file to write (must not exist)")
    _passphrase_argument(backup, "encrypt the backup with the passphrase in FILE")
    remote_arguments(backup, "back up a running server over HTTP instead (the file is"
                     " written here)")
    add_db_argument(backup, "refused: a PostgreSQL deployment is backed up with PostgreSQL's"
                            " tools (see reactor export --db)")
    restore = commands.add_parser("restore", help="restore a backup into a data directory")
    restore.add_argument("path", type=Path, help="the backup file")
    restore.add_argument("--data", dest="data_dir", type=Path, required=True,
                         help="the data directory to restore into (new or empty)")
    restore.add_argument("--force", action="store_true",
                         help="replace a non-empty data directory (no server may be using it)")
    _passphrase_argument(restore, "the passphrase of an encrypted backup, in FILE")
    add_db_argument(restore, "refused: a PostgreSQL deployment is restored with PostgreSQL's"
                             " tools (see reactor import --db)")


def remote_arguments(parser: argparse.ArgumentParser, text: str) -> None:
    """`--url` and `--admin-key`, as `reactor env` has them."""
    parser.add_argument("--url", default=None, help=text)
    parser.add_argument("--admin-key", default=None,
                        help="admin key for --url (default: read from the data directory)")


def _passphrase_argument(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--passphrase-file", type=Path, default=None, metavar="FILE",
                        help=f"{text} (default: ${PASSPHRASE_ENV} when set)")


def passphrase(arguments: argparse.Namespace) -> str | None:
    """The passphrase from --passphrase-file, else $REACTOR_BACKUP_PASSPHRASE, else None."""
    path: Path | None = arguments.passphrase_file
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ReactorError(f"--passphrase-file {path}: cannot read it ({error.strerror})",
                               code="BackupPassphraseMissing") from None
        if not text:
            raise ReactorError(f"--passphrase-file {path}: the file is empty",
                               code="BackupPassphraseMissing")
        return text
    return os.environ.get(PASSPHRASE_ENV) or None


def run_backup(arguments: argparse.Namespace) -> int:
    if not arguments.url:
        refuse_db(arguments, "backup", POSTGRES_BACKUP)
    if arguments.url:
        return _remote_backup(arguments)
    from reactor.runtime.backups import write_backup

    folder = data_dir(arguments)
    if not (folder / "reactor.sqlite3").is_file():
        raise ReactorError(f"{folder} holds no Reactor database (pass --data DIR)",
                           code="BackupSourceMissing")
    copy_blobs = not os.environ.get("REACTOR_S3_BUCKET")
    result = asyncio.run(write_backup(folder, arguments.out, passphrase=passphrase(arguments),
                                      copy_blobs=copy_blobs))
    summary: dict[str, Any] = {"path": str(result.path), "bytes": result.bytes,
                               "seconds": round(result.seconds, 3),
                               **result.manifest.describe()}
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def _remote_backup(arguments: argparse.Namespace) -> int:
    import time

    from reactor.cli.remote import admin_key
    from reactor.cli.transfer import download

    started = time.monotonic()
    secret = passphrase(arguments)
    url = arguments.url.rstrip("/") + "/api/admin/backup"
    size = download(url, admin_key(arguments), {"passphrase": secret} if secret else {},
                    arguments.out)
    sys.stdout.write(json.dumps({"path": str(Path(arguments.out).absolute()), "bytes": size,
                                 "seconds": round(time.monotonic() - started, 3),
                                 "encrypted": secret is not None}) + "\n")
    return 0


def run_restore(arguments: argparse.Namespace) -> int:
    if arguments.db_url:  # --data names the target: REACTOR_DB_URL does not matter
        refuse_db(arguments, "restore", POSTGRES_BACKUP)
    from reactor.runtime.backups import restore_backup

    manifest = asyncio.run(restore_backup(arguments.path, arguments.data_dir,
                                          passphrase=passphrase(arguments),
                                          force=arguments.force))
    sys.stderr.write(f"restored {arguments.path} into {arguments.data_dir}: "
                     f"{sum(manifest.tables.values())} documents at ts {manifest.ts}\n")
    return 0
