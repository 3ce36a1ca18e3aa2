"""codeIndex:indexArchive: a repository uploaded as an archive (git archive's tar.gz, a
zip) is indexed like a folder; hostile archives are refused and leave the index alone."""

from __future__ import annotations

import io
import random
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from example_app_support import APP_DIR, Member, error_code, expect_error, new_task, quick_user

from reactor.testing import ReactorTest

REPO = "acme/widgets"
FILES = {
    "src/config.py": "def parse_config(path):\n    \"\"\"Read the settings file.\"\"\"\n"
                     "    return load(path)\n",
    "src/server.py": "class HttpServer:\n    def listen(self, port):\n"
                     "        return bind_socket(port)\n",
    "README.md": "# widgets\n",
}


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP_DIR) as engine:
        yield engine


@pytest.fixture
async def owner(t: ReactorTest) -> Member:
    member = await quick_user(t, "alice@example.com", "Alice")
    await new_task(member, repoFullName=REPO)
    return member


async def stored(t: ReactorTest, data: bytes) -> str:
    async def body() -> AsyncIterator[bytes]:
        yield data

    return await t.engine.files.store(body(), "application/octet-stream")


def git_archive(tmp_path: Path, files: dict[str, str]) -> tuple[bytes, str]:
    """`git archive --format=tar.gz --prefix=widgets-SHA/` of a repository with `files`."""
    repo = tmp_path / "source"
    for old in repo.rglob("*.*") if repo.exists() else []:
        if ".git" not in old.parts and old.relative_to(repo).as_posix() not in files:
            old.unlink()
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)

    def git(*argv: str) -> bytes:
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                               "user.email=t@example.com", *argv],
                              check=True, capture_output=True).stdout

    if not (repo / ".git").exists():
        git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "snapshot")
    sha = git("rev-parse", "HEAD").decode().strip()
    return git("archive", "--format=tar.gz", f"--prefix=widgets-{sha[:7]}/", "HEAD"), sha


def zipped(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, target)
    return buffer.getvalue()


async def index_archive(member: Member, storage_id: str, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = await member.client.action(
        "codeIndex:indexArchive", {"repoFullName": REPO, "storageId": storage_id, **extra})
    return result


async def chunk_paths(t: ReactorTest) -> set[str]:
    async def read(ctx: Any) -> Any:
        return await ctx.db.query("codeChunks").collect()
    return {row["path"] for row in await t.run(read)}


async def test_a_git_archive_is_indexed_then_skipped_then_updated(
        t: ReactorTest, owner: Member, tmp_path: Path) -> None:
    data, sha = git_archive(tmp_path, FILES)
    first = await index_archive(owner, await stored(t, data), commitSha=sha)
    assert first == {"skipped": False, "commitSha": sha, "filesChanged": 3, "filesRemoved": 0}
    assert await chunk_paths(t) == {"src/config.py", "src/server.py", "README.md"}
    hits = await owner.client.action("search:code", {"repoFullName": REPO,
                                                     "query": "parse the config"})
    assert (hits[0]["path"], hits[0]["name"]) == ("src/config.py", "parse_config")
    progress = await owner.client.query("codeIndex:progress", {"repoFullName": REPO})
    assert (progress["status"], progress["lastCommitSha"]) == ("done", sha)

    # The same commit again is skipped without reading the file (even a deleted one).
    again = await stored(t, data)
    await t.engine.files.delete(again, "test")
    assert (await index_archive(owner, again, commitSha=sha))["skipped"] is True

    changed = {**FILES, "src/server.py": "def shutdown():\n    close_all()\n"}
    del changed["README.md"]
    data, sha2 = git_archive(tmp_path, changed)
    second = await index_archive(owner, await stored(t, data), commitSha=sha2)
    assert (second["filesChanged"], second["filesRemoved"]) == (1, 1)
    assert await chunk_paths(t) == {"src/config.py", "src/server.py"}


async def test_a_zip_without_a_top_folder_is_versioned_by_its_files(
        t: ReactorTest, owner: Member) -> None:
    data = zipped({name: text.encode() for name, text in FILES.items()},
                  links={"src/escape.py": "/etc/passwd"})
    result = await index_archive(owner, await stored(t, data))
    assert result["commitSha"].startswith("files-") and result["filesChanged"] == 3
    assert await chunk_paths(t) == {"src/config.py", "src/server.py", "README.md"}
    # Unchanged files, no commit: indexed again, nothing redone.
    assert (await index_archive(owner, await stored(t, data)))["filesChanged"] == 0


@pytest.mark.parametrize("archive, expected", [
    (zipped({"../outside.py": b"x = 1\n"}), "names must stay inside the archive"),
    (zipped({"/etc/cron.d/job": b"x\n"}), "names must stay inside the archive"),
    (zipped({"big.txt": b"a" * 50_000}), "unpacks to more than 10000 bytes"),
    (random.Random(1).randbytes(20_000), "the archive is 20000 bytes; the limit is 10000"),
    (b"this is not an archive at all", "not a readable .zip or .tar"),
    (zipped({}), "holds no files"),
])
async def test_hostile_or_broken_archives_are_refused(t: ReactorTest, owner: Member,
                                                      archive: bytes, expected: str) -> None:
    await t.environment.set("CODE_ARCHIVE_MAX_BYTES", "10000")
    storage_id = await stored(t, archive)
    try:
        await index_archive(owner, storage_id)
    except Exception as error:
        assert error_code(error) == "InvalidArchive", error
        assert expected in str(error)
    else:
        raise AssertionError("the archive was accepted")
    assert await chunk_paths(t) == set()
    assert await owner.client.query("codeIndex:progress", {"repoFullName": REPO}) is None


async def test_tar_links_and_devices_are_left_out(t: ReactorTest, owner: Member) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as bundle:
        code = b"def ok():\n    return 1\n"
        info = tarfile.TarInfo("repo/ok.py")
        info.size = len(code)
        bundle.addfile(info, io.BytesIO(code))
        link = tarfile.TarInfo("repo/passwd.py")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        bundle.addfile(link)
        hard = tarfile.TarInfo("repo/hard.py")
        hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/passwd"
        bundle.addfile(hard)
        fifo = tarfile.TarInfo("repo/pipe")
        fifo.type = tarfile.FIFOTYPE
        bundle.addfile(fifo)
    await index_archive(owner, await stored(t, buffer.getvalue()))
    assert await chunk_paths(t) == {"ok.py"}


async def test_only_the_repositorys_owner_may_index_and_the_file_must_exist(
        t: ReactorTest, owner: Member, tmp_path: Path) -> None:
    data, _ = git_archive(tmp_path, FILES)
    storage_id = await stored(t, data)
    stranger = await quick_user(t, "mallory@example.com", "Mallory")
    await expect_error(index_archive(stranger, storage_id), "Forbidden")
    await t.engine.files.delete(storage_id, "test")
    await expect_error(index_archive(owner, storage_id), "NotFound")
    assert await chunk_paths(t) == set()
