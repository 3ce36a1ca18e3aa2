"""Scheduled backups of a running server: write, verify by restoring, keep the newest N."""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reactor.errors import ReactorError
from reactor.runtime.backups.backup import sweep_partials, write_backup
from reactor.runtime.backups.restore import verify_backup

logger = logging.getLogger("reactor.backup")

_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PREFIX = "backup-"
SUFFIX = ".rbk"
FAILED = ".failed"


def parse_interval(text: str, flag: str = "--backup-every") -> float:
    """`90s`, `30m`, `6h`, `1d` in seconds."""
    match = _INTERVAL.match(text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise ReactorError(f"{flag}: expected a duration such as 30m, 6h or 1d, got {text!r}",
                           code="BadConfig")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass(slots=True)
class BackupStatus:
    """The last scheduled backup, for the server's health figures and the dashboard."""

    runs: int = 0
    failures: int = 0
    last: dict[str, object] | None = None

    def record(self, ok: bool, path: Path, detail: dict[str, object]) -> None:
        self.runs += 1
        self.failures += 0 if ok else 1
        self.last = {"ok": ok, "path": str(path), "at": datetime.now(UTC).isoformat(
            timespec="seconds"), **detail}

    def describe(self) -> dict[str, object]:
        return {"runs": self.runs, "failures": self.failures, "last": self.last}


@dataclass(frozen=True, slots=True)
class BackupSchedule:
    every_s: float
    keep: int
    folder: Path
    passphrase: str | None = None
    copy_blobs: bool = True
    status: BackupStatus = field(default_factory=BackupStatus)


async def backup_once(data_dir: Path, schedule: BackupSchedule) -> Path | None:
    """One scheduled backup, verified and pruned; the result is logged. The new file,
    or None if it failed (a backup that fails its check is renamed `*.failed`)."""
    sweep_partials(schedule.folder)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    out = schedule.folder / f"{PREFIX}{stamp}{SUFFIX}"
    try:
        result = await write_backup(data_dir, out, passphrase=schedule.passphrase,
                                    copy_blobs=schedule.copy_blobs)
    except Exception as error:
        logger.error("scheduled backup to %s failed: %s", out, error)
        schedule.status.record(False, out, {"error": str(error)})
        return None
    try:
        manifest = await verify_backup(out, passphrase=schedule.passphrase)
    except Exception as error:
        logger.error("scheduled backup %s failed its check (kept as %s%s): %s", out, out.name,
                     FAILED, error)
        out.rename(out.with_name(out.name + FAILED))
        schedule.status.record(False, out, {"error": f"failed its check: {error}"})
        return None
    documents = sum(manifest.tables.values())
    sys.stderr.write(f"backup {out} verified: ts {manifest.ts}, {documents} documents in"
                     f" {len(manifest.tables)} tables, {result.bytes} bytes,"
                     f" {result.seconds:.1f} s\n")
    prune(schedule.folder, schedule.keep)
    schedule.status.record(True, out, {"ts": manifest.ts, "documents": documents,
                                       "bytes": result.bytes,
                                       "seconds": round(result.seconds, 3)})
    return out


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` verified backups in `folder`; those deleted."""
    backups = sorted(path for path in folder.glob(f"{PREFIX}*{SUFFIX}") if path.is_file())
    doomed = backups[:-keep] if keep > 0 else backups
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


async def run_schedule(data_dir: Path, schedule: BackupSchedule) -> None:
    """Back up every `every_s` seconds until cancelled (the first one after one interval)."""
    while True:
        await asyncio.sleep(schedule.every_s)
        await backup_once(data_dir, schedule)
