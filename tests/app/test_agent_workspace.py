"""The agent's file tools and command runner on their own: confinement, limits, records.

`functions/_lib/workspace.py` and `sandbox.py` need no engine; they are loaded
from their files, as the app's loader never sees them as function modules.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from example_app_support import APP_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_app_{name}",
                                                  APP_DIR / "functions" / "_lib" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


workspace = load("workspace")
sandbox = load("sandbox")
Refused = workspace.Refused


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Any, Path]:
    """A workspace with files, a folder, links in and out, and a secret beside it."""
    (tmp_path / "secret.txt").write_text("top secret\n")
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "README.md").write_text("# Widgets\nBuild with make.\n")
    (root / "src" / "main.py").write_text("def main():\n    return 42\n")
    (root / "inside_link").symlink_to(root / "src" / "main.py")
    (root / "outside_link").symlink_to(tmp_path / "secret.txt")
    (root / "outside_dir").symlink_to(tmp_path)
    return workspace.Workspace(root), tmp_path


def test_reads_inside_and_refuses_every_way_out(tree: tuple[Any, Path]) -> None:
    ws, outside = tree
    assert ws.read_file("README.md")["content"] == "# Widgets\nBuild with make."
    assert ws.read_file("src/../src/main.py")["totalLines"] == 2
    assert ws.read_file("inside_link")["content"].startswith("def main")
    for path in ("../secret.txt", "src/../../secret.txt", str(outside / "secret.txt"),
                 "/etc/passwd", "outside_link", "outside_dir/secret.txt", "~/x", "a\x00b"):
        with pytest.raises(Refused):
            ws.read_file(path)


def test_a_line_range_and_binary_files(tree: tuple[Any, Path]) -> None:
    ws, _ = tree
    (ws.root / "long.txt").write_text("".join(f"line {n}\n" for n in range(1, 101)))
    part = ws.read_file("long.txt", False, 10, 12)
    assert (part["content"], part["startLine"], part["endLine"], part["totalLines"]) == (
        "line 10\nline 11\nline 12", 10, 12, 100)
    assert part["truncated"] is True
    (ws.root / "blob.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(Refused, match="binary"):
        ws.read_file("blob.bin")


def test_listing_marks_outward_links_and_search_skips_them(tree: tuple[Any, Path]) -> None:
    ws, _ = tree
    listing = {e["name"]: e["type"] for e in ws.list_dir(".")["entries"]}
    assert listing == {"src": "directory", "outside_dir": "link-outside", "README.md": "file",
                       "inside_link": "file", "outside_link": "link-outside"}
    with pytest.raises(Refused):
        ws.list_dir("outside_dir")
    with pytest.raises(Refused):
        ws.list_dir("..")
    assert "secret.txt" not in " ".join(ws.walk())
    assert ws.file_search("main")["files"][0] == "src/main.py"
    assert ws.file_search("secret")["files"] == []


def test_edits_are_recorded_with_hashes_and_diffs(tree: tuple[Any, Path]) -> None:
    ws, _ = tree
    created = ws.write_file("docs/new.md", "hello\n")
    assert (created.kind, created.beforeHash, created.linesAdded) == ("created", None, 1)
    assert created.afterHash == hashlib.sha256(b"hello\n").hexdigest()
    assert "+hello" in created.diff and "beforeHash" not in created.to_doc()

    before = (ws.root / "src/main.py").read_bytes()
    changed = ws.search_replace("src/main.py", "return 42", "return 43")
    assert changed.kind == "modified" and changed.beforeHash == hashlib.sha256(before).hexdigest()
    assert "-    return 42\n+    return 43\n" in changed.diff
    assert (changed.linesAdded, changed.linesRemoved) == (1, 1)
    with pytest.raises(Refused, match="found 0 times"):
        ws.search_replace("src/main.py", "return 42", "x")
    (ws.root / "twice.txt").write_text("a a")
    with pytest.raises(Refused, match="found 2 times"):
        ws.search_replace("twice.txt", "a", "b")

    deleted = ws.delete_file("docs/new.md")
    assert (deleted.kind, deleted.afterHash, deleted.linesRemoved) == ("deleted", None, 1)
    assert not (ws.root / "docs/new.md").exists()


def test_writes_and_deletes_never_leave_the_workspace(tree: tuple[Any, Path]) -> None:
    ws, outside = tree
    for path in ("../evil.txt", "outside_dir/evil.txt", "outside_link", "/tmp/evil.txt"):
        with pytest.raises(Refused):
            ws.write_file(path, "x")
    assert not (outside / "evil.txt").exists()
    assert (outside / "secret.txt").read_text() == "top secret\n"
    with pytest.raises(Refused):
        ws.search_replace("outside_link", "top", "no")
    with pytest.raises(Refused):
        ws.delete_file("outside_dir/secret.txt")
    with pytest.raises(Refused):
        ws.delete_file("..")
    # Deleting a link that points out removes the link, never its target.
    assert ws.delete_file("outside_link").kind == "deleted"
    assert not (ws.root / "outside_link").is_symlink()
    assert (outside / "secret.txt").read_text() == "top secret\n"


segment = st.sampled_from(["..", ".", "src", "a", "up", "down", "x.txt", "outside_dir", ""])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(segment, min_size=1, max_size=8),
       links=st.lists(st.tuples(st.sampled_from(["a", "src", "up", "down"]),
                                st.sampled_from(["..", "../..", "src", "/", "a/b", "."])),
                      max_size=4))
def test_no_path_resolves_outside(tmp_path_factory: pytest.TempPathFactory, parts: list[str],
                                  links: list[tuple[str, str]]) -> None:
    """Random relative paths of `..`, `.`, names and links (some pointing out, some in
    loops): resolve() either refuses or answers a path inside the root."""
    base = tmp_path_factory.mktemp("fuzz")
    root = base / "ws"
    (root / "src").mkdir(parents=True)
    (root / "outside_dir").symlink_to(base)
    for name, target in links:
        link = root / name
        if not link.exists() and not link.is_symlink():
            link.symlink_to(target)
    ws = workspace.Workspace(root)
    path = "/".join(parts)
    try:
        resolved = ws.resolve(path)
    except Refused:
        return
    real_root = Path(os.path.realpath(root))
    assert resolved == real_root or real_root in resolved.parents
    assert Path(os.path.realpath(resolved)) == resolved  # nothing left to follow


def test_grep_is_confined_and_cannot_backtrack(tree: tuple[Any, Path]) -> None:
    ws, _ = tree
    (ws.root / "src" / "slow.txt").write_text("a" * 5000 + "!\n")

    async def grep(query: str, include: str | None = None) -> list[dict[str, Any]]:
        argv = workspace.grep_argv(query, include, None, False)
        result = await sandbox.run_command(argv, ws.root, sandbox.Limits(timeout_s=10))
        return workspace.parse_grep_output(result.stdout)

    matches = asyncio.run(grep("RETURN [0-9]+"))
    assert matches == [{"file": "src/main.py", "lineNumber": 2, "content": "    return 42"}]
    assert asyncio.run(grep("secret")) == []  # the outward links are not followed
    assert asyncio.run(grep("widgets", "*.py")) == []
    started = time.monotonic()
    assert asyncio.run(grep("(a|aa)+$")) == []  # exponential for a backtracking matcher
    assert time.monotonic() - started < 5


def run(command: str, cwd: Path, **limits: Any) -> Any:
    return asyncio.run(sandbox.run_shell(command, cwd, sandbox.Limits(**limits)))


def test_commands_get_no_inherited_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-server-secret")
    result = run("env; pwd", tmp_path)
    assert result.exitCode == 0
    assert "sk-server-secret" not in result.stdout and "OPENAI" not in result.stdout
    assert f"HOME={tmp_path}" in result.stdout
    assert result.stdout.strip().endswith(str(tmp_path))


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    started = time.monotonic()
    result = run(f"sleep 300 & echo $! > {marker}; sleep 300", tmp_path, timeout_s=1)
    assert result.timedOut and result.exitCode is None
    assert time.monotonic() - started < 10
    background = int(marker.read_text())
    time.sleep(0.2)
    assert not pid_alive(background)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True,
                           text=True).stdout.strip()
    return bool(state) and not state.startswith("Z")


def test_resource_limits_hold(tmp_path: Path) -> None:
    cpu = run("while :; do :; done", tmp_path, cpu_s=1, timeout_s=20)
    assert not cpu.timedOut and cpu.exitCode != 0  # SIGXCPU, well before the timeout
    memory = run(f"{sys.executable} -c 'x = bytearray(600 * 1024 * 1024)'", tmp_path,
                 memory_bytes=300 * 1024**2)
    assert memory.exitCode != 0 and "MemoryError" in memory.stderr
    big = run("head -c 2000000 /dev/zero > big.bin", tmp_path, file_bytes=1024**2)
    assert big.exitCode != 0 and (tmp_path / "big.bin").stat().st_size <= 1024**2


def test_output_is_capped_and_streamed(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    async def on_output(stream: str, text: str) -> None:
        seen.append((stream, text))

    result = asyncio.run(sandbox.run_shell("yes line | head -c 200000; echo oops >&2",
                                           tmp_path, sandbox.Limits(output_bytes=10_000),
                                           on_output))
    assert result.exitCode == 0 and result.truncated
    assert len(result.stdout) + len(result.stderr) == 10_000
    assert "".join(text for stream, text in seen if stream == "stdout") == result.stdout
