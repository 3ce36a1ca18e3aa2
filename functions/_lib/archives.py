"""Unpacking an uploaded repository archive (.zip, .tar, .tar.gz/.bz2/.xz) for indexing.

An archive comes from a user, so it is unpacked defensively: only regular
files and folders are written (links, devices and FIFOs are left out), a
member whose name is absolute or climbs out with `..` is refused, and the
bytes actually written are counted against a cap (a member's declared size
can lie), as are the members. A single top-level folder, as GitHub's and
`git archive --prefix`'s archives have, is where the repository starts.
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Final

COPY_CHUNK: Final = 1 << 20


class ArchiveRefused(Exception):
    """The archive is not one, or breaks a limit; the message says which."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    """Total size of the unpacked files."""
    max_members: int


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ArchiveRefused(f"member {name[:200]!r}: names must stay inside the archive")
    return path


class _Writer:
    """Writes members under `target`, counting bytes and members against the limits."""

    def __init__(self, target: Path, limits: Limits) -> None:
        self.target = target
        self.limits = limits
        self.written = 0
        self.members = 0

    def file(self, name: str, source: IO[bytes]) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveRefused(f"more than {self.limits.max_members} members")
        destination = self.target.joinpath(*_safe_name(name).parts)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with destination.open("wb") as out:
            while block := source.read(COPY_CHUNK):
                self.written += len(block)
                if self.written > self.limits.max_bytes:
                    raise ArchiveRefused(f"unpacks to more than {self.limits.max_bytes} bytes")
                out.write(block)


def _unpack_zip(archive: Path, writer: _Writer) -> None:
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when made without Unix modes
            if info.is_dir() or (kind and kind != stat.S_IFREG):
                continue
            with bundle.open(info) as source:
                writer.file(info.filename, source)


def _unpack_tar(archive: Path, writer: _Writer) -> None:
    with tarfile.open(archive, mode="r:*") as bundle:
        for member in bundle:
            if not member.isfile():
                continue
            source = bundle.extractfile(member)
            if source is not None:
                with source:
                    writer.file(member.name, source)


def unpack(archive: Path, target: Path, limits: Limits) -> Path:
    """Unpack `archive` into the empty folder `target`; the repository's root folder."""
    writer = _Writer(target, limits)
    try:
        if zipfile.is_zipfile(archive):
            _unpack_zip(archive, writer)
        else:
            _unpack_tar(archive, writer)
    except ArchiveRefused:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        shutil.rmtree(target, ignore_errors=True)
        raise ArchiveRefused("not a readable .zip or .tar(.gz, .bz2, .xz) archive"
                             f" ({type(error).__name__})") from None
    entries = list(target.iterdir()) if target.exists() else []
    if writer.members == 0:
        raise ArchiveRefused("the archive holds no files")
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return target
