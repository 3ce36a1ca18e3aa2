"""The manifest of a backup: what it holds, at which commit, and each file's checksum."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import ReactorError

FORMAT = "reactor-backup"
VERSION = 1
MANIFEST_NAME = "manifest.json"
DATABASE_NAME = "reactor.sqlite3"
AUTH_PREFIX = "auth/"
BLOB_PREFIX = "files/"
_AUTH_FILE = re.compile(r"^auth/[A-Za-z0-9_.-]+$")
_BLOB_FILE = re.compile(r"^files/[0-9a-f]{64}$")


class BackupInvalid(ReactorError):
    code = "BackupInvalid"


def check_member_name(name: str, where: str) -> None:
    """Only the names a backup writes may appear in one (no paths out of the target)."""
    if name in (DATABASE_NAME, MANIFEST_NAME) or _AUTH_FILE.match(name) or _BLOB_FILE.match(name):
        return
    raise BackupInvalid(f"{where}: unexpected entry {name[:200]!r} (not written by"
                        " `reactor backup`)")


@dataclass(frozen=True, slots=True)
class FileSum:
    sha256: str
    size: int


@dataclass(slots=True)
class Manifest:
    """`ts` is the commit the database copy holds; `tables` counts documents per table;
    `blobs` says where file contents are (`local`: in the backup; `s3`: left in the
    bucket, not copied)."""

    ts: int
    created: str
    tables: dict[str, int]
    files: dict[str, FileSum] = field(default_factory=dict)
    blobs: str = "local"
    encrypted: bool = False
    version: int = VERSION

    def to_json(self) -> bytes:
        return json.dumps({
            "format": FORMAT, "version": self.version, "ts": self.ts, "created": self.created,
            "encrypted": self.encrypted, "blobs": self.blobs, "tables": self.tables,
            "files": {name: {"sha256": s.sha256, "size": s.size}
                      for name, s in sorted(self.files.items())},
        }, indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != FORMAT:
                raise BackupInvalid(f"{where}: not a Reactor backup manifest")
            if raw.get("version") != VERSION:
                raise BackupInvalid(f"{where}: backup format version {raw.get('version')!r} is"
                                    f" not supported (this Reactor reads version {VERSION})")
            files = {str(name): FileSum(str(s["sha256"]), int(s["size"]))
                     for name, s in raw["files"].items()}
            return cls(int(raw["ts"]), str(raw["created"]),
                       {str(k): int(v) for k, v in raw["tables"].items()}, files,
                       str(raw.get("blobs", "local")), bool(raw.get("encrypted", False)))
        except BackupInvalid:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise BackupInvalid(f"{where}: the manifest is malformed ({error})") from None

    def describe(self) -> dict[str, Any]:
        """A summary for logs and the CLI."""
        return {"ts": self.ts, "created": self.created, "documents": sum(self.tables.values()),
                "tables": len(self.tables), "files": len(self.files), "blobs": self.blobs,
                "encrypted": self.encrypted}
