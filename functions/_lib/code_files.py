"""A repository folder as the code index sees it: which files, their hashes, their chunks.

Files: `git ls-files` (tracked and untracked, minus what .gitignore excludes) in a
git checkout; elsewhere a walk filtered by the root `.gitignore` through
`pathspec`. Binary files (a NUL byte in the first 8 KiB) and files over
MAX_FILE_BYTES are left out.

Chunks: with the optional `tree-sitter` and `tree-sitter-python` packages a
Python file is cut at its top-level definitions (a function or class is one
chunk, its name and kind recorded; one longer than MAX_CHUNK_LINES is cut into
windows); the code between definitions, and every file of a language without a
grammar, is cut into windows of CHUNK_LINES lines, named after the first
definition-looking line in them. All of this is blocking I/O: run it in a thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Final

import pathspec

CHUNK_LINES: Final = 60
MAX_CHUNK_LINES: Final = 150
MAX_FILES: Final = 5_000
MAX_FILE_BYTES: Final = 200_000
MAX_CHUNKS_PER_FILE: Final = 200
GIT_TIMEOUT_S: Final = 30
SKIPPED_DIRS: Final = frozenset({".git", "node_modules", "__pycache__", ".venv"})
LANGUAGES: Final = {".py": "python", ".js": "javascript", ".mjs": "javascript",
                    ".ts": "typescript", ".tsx": "typescript", ".jsx": "javascript",
                    ".go": "go", ".rs": "rust", ".java": "java", ".rb": "ruby", ".c": "c",
                    ".h": "c", ".cpp": "cpp", ".cs": "csharp", ".php": "php", ".sh": "shell",
                    ".md": "markdown", ".json": "json", ".toml": "toml", ".yaml": "yaml",
                    ".yml": "yaml", ".sql": "sql", ".html": "html", ".css": "css"}
_DEFINITION: Final = re.compile(r"^\s*(?:export\s+)?(?:async\s+)?(?:def|class|function|func|fn|"
                                r"interface|type|struct|impl)\s+([A-Za-z_][\w]*)")
# Top-level Python nodes that become chunks of their own, and the kind they are given.
_PYTHON_KINDS: Final = {"function_definition": "function", "class_definition": "class"}

Chunk = dict[str, Any]


def _git(root: Path, *argv: str) -> subprocess.CompletedProcess[bytes]:
    # No fsmonitor hook: a workspace's own .git/config must not run commands here.
    return subprocess.run(["git", "-C", str(root), "-c", "core.fsmonitor=false", *argv],
                          capture_output=True,
                          timeout=GIT_TIMEOUT_S, check=False)


def head_commit(root: Path) -> str | None:
    """The checked-out commit, or None when the folder is not a git checkout."""
    if not (root / ".git").exists():
        return None
    result = _git(root, "rev-parse", "HEAD")
    return result.stdout.decode().strip() if result.returncode == 0 else None


def is_clean(root: Path) -> bool:
    """Whether a git checkout has no uncommitted change (so its commit names its files)."""
    result = _git(root, "status", "--porcelain")
    return result.returncode == 0 and not result.stdout.strip()


def list_files(root: Path) -> list[str]:
    """Relative paths of the files to index, sorted, at most MAX_FILES."""
    if head_commit(root) is not None:
        result = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        if result.returncode == 0:
            names = [name for name in result.stdout.decode(errors="replace").split("\0") if name]
            return sorted(name for name in set(names) if (root / name).is_file())[:MAX_FILES]
    ignore_file = root / ".gitignore"
    lines = ignore_file.read_text(errors="replace").splitlines() if ignore_file.is_file() else []
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    found: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in files:
            relative = (Path(folder) / name).relative_to(root).as_posix()
            if not spec.match_file(relative):
                found.append(relative)
    return sorted(found)[:MAX_FILES]


def read_source(root: Path, relative: str) -> tuple[str, str] | None:
    """`(sha256, text)` of a file worth indexing; None for a binary, huge or vanished one,
    or a link leading out of the folder."""
    path = root / relative
    try:
        if not path.resolve().is_relative_to(root.resolve()):
            return None
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in data[:8192]:
        return None
    return hashlib.sha256(data).hexdigest(), data.decode("utf-8", errors="replace")


def language_of(relative: str) -> str:
    return LANGUAGES.get(Path(relative).suffix.lower(), "text")


def _windows(path: str, lang: str, lines: list[str], first: int, last: int) -> list[Chunk]:
    """Lines first..last (0-based, exclusive end) in windows of CHUNK_LINES."""
    chunks: list[Chunk] = []
    for start in range(first, last, CHUNK_LINES):
        window = lines[start:min(start + CHUNK_LINES, last)]
        while window and not window[-1].strip():
            window.pop()  # blank lines before the next definition are not part of it
        code = "\n".join(window)
        if not code.strip():
            continue
        names = [m.group(1) for m in map(_DEFINITION.match, window) if m]
        chunks.append({"path": path, "name": names[0] if names else path, "lang": lang,
                       "kind": "definition" if names else "lines", "lineStart": start + 1,
                       "lineEnd": start + len(window), "code": code})
    return chunks


def _python_parser() -> Any:
    """A tree-sitter parser for Python, or None when the optional packages are absent."""
    try:
        import tree_sitter  # optional extra
        import tree_sitter_python
    except ImportError:
        return None
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))


_PARSERS: dict[str, Any] = {}


def _parser(lang: str) -> Any:
    if lang != "python":
        return None
    if lang not in _PARSERS:
        _PARSERS[lang] = _python_parser()
    return _PARSERS[lang]


def _definition(node: Any) -> tuple[str, str] | None:
    """`(kind, name)` of a top-level function or class (decorated ones included)."""
    inner = node.child_by_field_name("definition") if node.type == "decorated_definition" \
        else node
    if inner is None or inner.type not in _PYTHON_KINDS:
        return None
    name = inner.child_by_field_name("name")
    text = name.text.decode(errors="replace") if name is not None and name.text else "?"
    return _PYTHON_KINDS[inner.type], text


def chunk_source(path: str, text: str) -> list[Chunk]:
    """The file's chunks, by structure where a grammar is installed, else by lines."""
    lang = language_of(path)
    lines = text.splitlines()
    parser = _parser(lang)
    if parser is None:
        return _windows(path, lang, lines, 0, len(lines))[:MAX_CHUNKS_PER_FILE]
    chunks: list[Chunk] = []
    cursor = 0
    for node in parser.parse(text.encode()).root_node.children:
        found = _definition(node)
        if found is None:
            continue
        start, end = node.start_point.row, node.end_point.row + 1
        chunks += _windows(path, lang, lines, cursor, start)
        kind, name = found
        if end - start > MAX_CHUNK_LINES:
            pieces = _windows(path, lang, lines, start, end)
            chunks += [{**piece, "name": name, "kind": kind} for piece in pieces]
        else:
            chunks.append({"path": path, "name": name, "lang": lang, "kind": kind,
                           "lineStart": start + 1, "lineEnd": end,
                           "code": "\n".join(lines[start:end])})
        cursor = end
    chunks += _windows(path, lang, lines, cursor, len(lines))
    return chunks[:MAX_CHUNKS_PER_FILE]
