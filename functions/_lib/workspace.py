"""A task's workspace folder and the agent's file tools, confined to it.

Plain Python with no database and no relative imports, so tests load it on its
own (tests/app/test_agent_workspace.py). Every path a tool receives is relative
to the workspace root and is resolved (symlinks followed, `..` applied) before
use; a path whose resolution leaves the root is refused with `Refused`. The tool
functions are synchronous: the agent's actions run them in a worker thread.

What this is not: a sandbox against a process that races the check (a symlink
swapped in between the check and the open). The agent's own commands could do
anything in the workspace anyway; see functions/_lib/sandbox.py for their limits.
"""

from __future__ import annotations

import difflib
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

# Bounds on what one tool call reads or returns.
MAX_READ_BYTES: Final = 512 * 1024
MAX_READ_LINES: Final = 2_000
MAX_LIST_ENTRIES: Final = 500
MAX_SEARCH_RESULTS: Final = 50
MAX_WALK_ENTRIES: Final = 50_000
MAX_DIFF_CHARS: Final = 20_000
MAX_WRITE_CHARS: Final = 1_000_000
# Folders the listing and search tools step over (version control, dependencies).
SKIPPED_DIRS: Final = frozenset({".git", "node_modules", "__pycache__", ".venv"})


class Refused(Exception):
    """A tool call the workspace will not carry out; its message goes back to the model."""


@dataclass(frozen=True)
class FileChange:
    """One edit of one file, as the `fileChanges` table records it."""

    path: str
    kind: str  # "created", "modified" or "deleted"
    beforeHash: str | None
    afterHash: str | None
    diff: str
    linesAdded: int
    linesRemoved: int

    def to_doc(self) -> dict[str, Any]:
        """The row's fields: absent hashes are left out (optional fields, never null)."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unified_diff(path: str, before: str, after: str) -> tuple[str, int, int]:
    """The unified diff (cut at MAX_DIFF_CHARS) and the counts of added and removed lines."""
    lines = list(difflib.unified_diff(before.splitlines(keepends=True),
                                      after.splitlines(keepends=True),
                                      fromfile=f"a/{path}", tofile=f"b/{path}"))
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + "\n[diff cut]\n"
    return text, added, removed


class Workspace:
    """The folder one task's agent works in; every tool path is checked against it."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(os.path.realpath(root))

    # -- confinement --------------------------------------------------------------------

    def resolve(self, path: str, field: str = "path") -> Path:
        """`path` (relative to the root) resolved; `Refused` unless it stays inside."""
        if not isinstance(path, str) or "\x00" in path:
            raise Refused(f"{field}: expected a relative path without NUL characters")
        cleaned = path.strip() or "."
        if os.path.isabs(cleaned) or cleaned.startswith("~"):
            raise Refused(f"{field}: {path!r} is absolute; give a path relative to the"
                          " workspace root")
        resolved = Path(os.path.realpath(self.root / cleaned))
        if not self.contains(resolved):
            raise Refused(f"{field}: {path!r} leads outside the workspace")
        if os.path.realpath(resolved) != str(resolved):
            # realpath stops at a symlink loop and leaves the rest unresolved.
            raise Refused(f"{field}: {path!r} runs into a symlink loop")
        return resolved

    def contains(self, resolved: Path) -> bool:
        return resolved == self.root or self.root in resolved.parents

    def relative(self, resolved: Path) -> str:
        return resolved.relative_to(self.root).as_posix() or "."

    def resolve_entry(self, path: str, field: str = "path") -> Path:
        """The directory entry `path` names itself (a symlink is not followed): its parent
        resolved and checked, then the last component. For deleting a link, not its target."""
        name = Path(path.strip()).name if isinstance(path, str) else ""
        if name in ("", ".", ".."):
            return self.resolve(path, field)
        parent = self.resolve(str(Path(path.strip()).parent), field)
        entry = parent / name
        if entry == self.root:
            raise Refused(f"{field}: the workspace root itself cannot be changed")
        return entry

    # -- reading -----------------------------------------------------------------------

    def read_file(self, target_file: str, should_read_entire_file: bool = True,
                  start_line_one_indexed: int | None = None,
                  end_line_one_indexed_inclusive: int | None = None) -> dict[str, Any]:
        """The file's text (whole, or a line range), at most MAX_READ_LINES lines."""
        path = self.resolve(target_file, "target_file")
        if not path.is_file():
            raise Refused(f"target_file: {target_file!r} is not a file in the workspace")
        size = path.stat().st_size
        if size > MAX_READ_BYTES:
            should_read_entire_file = False
        with path.open("rb") as handle:
            data = handle.read(MAX_READ_BYTES)
        if b"\x00" in data[:8192]:
            raise Refused(f"target_file: {target_file!r} is a binary file")
        lines = data.decode("utf-8", errors="replace").splitlines()
        first = 1 if should_read_entire_file else max(1, start_line_one_indexed or 1)
        last = len(lines) if should_read_entire_file else (
            end_line_one_indexed_inclusive or first + MAX_READ_LINES - 1)
        last = min(last, len(lines), first + MAX_READ_LINES - 1)
        chosen = lines[first - 1:last]
        return {"success": True, "path": self.relative(path), "content": "\n".join(chosen),
                "startLine": first, "endLine": first + len(chosen) - 1,
                "totalLines": len(lines), "truncated": last < len(lines) or size > len(data)}

    def list_dir(self, relative_workspace_path: str = ".") -> dict[str, Any]:
        """The folder's entries, folders first; links that lead outside are marked, not
        followed."""
        path = self.resolve(relative_workspace_path, "relative_workspace_path")
        if not path.is_dir():
            raise Refused(f"relative_workspace_path: {relative_workspace_path!r} is not a"
                          " folder in the workspace")
        entries: list[dict[str, Any]] = []
        with os.scandir(path) as listing:
            for entry in sorted(listing, key=lambda e: (not e.is_dir(), e.name)):
                if len(entries) == MAX_LIST_ENTRIES:
                    break
                entries.append(self.describe(Path(entry.path)))
        return {"success": True, "path": self.relative(path), "entries": entries,
                "truncated": len(entries) == MAX_LIST_ENTRIES}

    def describe(self, entry: Path) -> dict[str, Any]:
        if entry.is_symlink() and not self.contains(Path(os.path.realpath(entry))):
            return {"name": entry.name, "type": "link-outside"}
        if entry.is_dir():
            return {"name": entry.name, "type": "directory"}
        return {"name": entry.name, "type": "file", "size": entry.stat().st_size
                if entry.exists() else 0}

    def walk(self) -> list[str]:
        """Every file's relative path (skipped folders and outward links left out)."""
        found: list[str] = []
        seen = 0
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            for name in sorted(files):
                seen += 1
                if seen > MAX_WALK_ENTRIES:
                    return found
                full = Path(folder) / name
                if self.contains(Path(os.path.realpath(full))):
                    found.append(full.relative_to(self.root).as_posix())
        return found

    def file_search(self, query: str) -> dict[str, Any]:
        """Files whose path contains the query's characters in order (fuzzy, any case);
        closest first: a match in the file name beats one spread over folders."""
        needle = query.strip().lower()
        if not needle:
            raise Refused("query: must not be empty")
        scored = []
        for relative in self.walk():
            score = fuzzy_score(needle, relative.lower())
            if score is not None:
                scored.append((score, relative))
        scored.sort()
        files = [relative for _, relative in scored[:MAX_SEARCH_RESULTS]]
        return {"success": True, "query": query, "files": files,
                "truncated": len(scored) > MAX_SEARCH_RESULTS}

    # -- writing -----------------------------------------------------------------------

    def write_file(self, target_file: str, content: str) -> FileChange:
        """Create or replace the file with `content` (parent folders made as needed)."""
        if len(content) > MAX_WRITE_CHARS:
            raise Refused(f"code_edit: at most {MAX_WRITE_CHARS} characters")
        path = self.resolve(target_file, "target_file")
        if path.is_dir():
            raise Refused(f"target_file: {target_file!r} is a folder")
        before = path.read_bytes() if path.exists() else None
        path.parent.mkdir(parents=True, exist_ok=True)
        after = content.encode("utf-8")
        path.write_bytes(after)
        return self.change(path, before, after)

    def search_replace(self, file_path: str, old_string: str, new_string: str) -> FileChange:
        """Replace the one occurrence of `old_string`; refused when it occurs 0 or 2+ times."""
        path = self.resolve(file_path, "file_path")
        if not path.is_file():
            raise Refused(f"file_path: {file_path!r} is not a file in the workspace")
        if not old_string:
            raise Refused("old_string: must not be empty")
        before = path.read_bytes()
        text = before.decode("utf-8", errors="replace")
        count = text.count(old_string)
        if count != 1:
            raise Refused(f"old_string: found {count} times in {file_path!r}; it must occur"
                          " exactly once (add surrounding lines to make it unique)")
        after = text.replace(old_string, new_string, 1).encode("utf-8")
        path.write_bytes(after)
        return self.change(path, before, after)

    def delete_file(self, target_file: str) -> FileChange:
        """Delete a file (or a link itself, never what it points to)."""
        entry = self.resolve_entry(target_file, "target_file")
        if entry.is_symlink():
            entry.unlink()
            link = (entry.parent.relative_to(self.root) / entry.name).as_posix()
            return FileChange(link, "deleted", None, None, "", 0, 0)
        if not entry.is_file():
            raise Refused(f"target_file: {target_file!r} is not a file in the workspace")
        before = entry.read_bytes()
        entry.unlink()
        return self.change(entry, before, None)

    def change(self, path: Path, before: bytes | None, after: bytes | None) -> FileChange:
        relative = self.relative(path)
        kind = "created" if before is None else "deleted" if after is None else "modified"
        old = "" if before is None else before.decode("utf-8", errors="replace")
        new = "" if after is None else after.decode("utf-8", errors="replace")
        diff, added, removed = unified_diff(relative, old, new)
        return FileChange(relative, kind, None if before is None else content_hash(before),
                          None if after is None else content_hash(after), diff, added, removed)


def fuzzy_score(needle: str, haystack: str) -> tuple[int, int, int] | None:
    """None unless `needle`'s characters occur in `haystack` in order; lower is closer:
    (not in the file name, span of the match, path length)."""
    position = -1
    start = -1
    for char in needle:
        position = haystack.find(char, position + 1)
        if position < 0:
            return None
        start = position if start < 0 else start
    name_start = haystack.rfind("/") + 1
    return (0 if start >= name_start else 1, position - start, len(haystack))


def grep_argv(query: str, include_pattern: str | None, exclude_pattern: str | None,
              case_sensitive: bool) -> list[str]:
    """The `grep` command for grep_search, run in the workspace root.

    GNU grep (extended regular expressions) rather than Python's `re`: its matcher
    does not backtrack, so no pattern a model writes can spin, and `-r` never
    follows a symlink it meets while recursing, so the search stays in the workspace.
    """
    if not query:
        raise Refused("query: must not be empty")
    argv = ["grep", "-rnIEZ", "--color=never", "--max-count=20"]
    argv += [f"--exclude-dir={name}" for name in sorted(SKIPPED_DIRS)]
    if not case_sensitive:
        argv.append("-i")
    for flag, pattern in (("--include", include_pattern), ("--exclude", exclude_pattern)):
        if pattern:
            argv.append(f"{flag}={pattern}")
    return [*argv, "-e", query, "--", "."]


def parse_grep_output(output: str) -> list[dict[str, Any]]:
    """`path NUL line:text` lines (grep -Z) into matches (at most MAX_SEARCH_RESULTS)."""
    matches: list[dict[str, Any]] = []
    for line in output.splitlines():
        path, _, rest = line.partition("\x00")
        number, _, text = rest.partition(":")
        if not number.isdigit():
            continue
        relative = path.removeprefix("./")
        matches.append({"file": relative, "lineNumber": int(number), "content": text[:500]})
        if len(matches) == MAX_SEARCH_RESULTS:
            break
    return matches
