"""Backups of a whole deployment (database, files, keys): write, verify, restore, schedule."""

from reactor.runtime.backups.backup import BackupResult, write_backup
from reactor.runtime.backups.manifest import Manifest
from reactor.runtime.backups.restore import restore_backup, verify_backup

__all__ = ["BackupResult", "Manifest", "restore_backup", "verify_backup", "write_backup"]
