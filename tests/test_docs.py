"""The docs as code: every Python sample in docs/guide runs as written, the quickstart's
app, test and Node snippet work, links resolve, every error code is documented and every
protocol section the code cites exists.

How a sample runs:
- a sample whose first line is a file comment (`# myapp/schema.py`) is a file of the page's
  app, and the page's app must load;
- a sample that uses `ctx`, `task_id`, `uid`, `counter_id` or `cleanup` without binding them
  is the body of a function: it runs inside one mutation of tests/apps/guide, the app the
  guide's snippets assume, with those names bound to a fresh user, task and counter and to
  the app's `tasks:cleanup`;
- any other sample runs as a module (top-level `await` included); every `test_*` coroutine
  it defines is then awaited, and `ReactorTest("path/to/app")` means tests/apps/guide;
- a sample preceded by `<!-- fragment -->` is only compiled (kept for the rare sample that
  cannot run, such as one that calls an outside service).
"""

from __future__ import annotations

import ast
import builtins
import inspect
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_support import NODE_DIR, REPO_ROOT, ReactorServer

from reactor.runtime.loader import load_app, unload_app
from reactor.testing import ReactorTest

GUIDE = REPO_ROOT / "docs" / "guide"
GUIDE_APP = REPO_ROOT / "tests" / "apps" / "guide"
FRAGMENT = "<!-- fragment -->"
HANDLER_NAMES = ("ctx", "task_id", "uid", "counter_id", "cleanup")
_BLOCK = re.compile(r"(?P<marker><!-- fragment -->\s*\n)?```(?P<lang>[a-z]*)\n(?P<code>.*?)```",
                    re.S)
_FILE_COMMENT = re.compile(r"^# (?P<path>[\w./-]+\.(py|toml))\b")


@dataclass(frozen=True)
class Sample:
    page: str
    line: int
    lang: str
    code: str
    fragment: bool

    @property
    def file(self) -> str | None:
        """The file this sample is, when its first line names one."""
        found = _FILE_COMMENT.match(self.code)
        return found.group("path") if found else None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def samples(page: Path, lang: str | None = None) -> list[Sample]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        if lang is None or match.group("lang") == lang:
            line = text.count("\n", 0, match.start("code"))
            found.append(Sample(page.name, line, match.group("lang"),
                                textwrap.dedent(match.group("code")),
                                match.group("marker") is not None))
    return found


PYTHON = [s for page in sorted(GUIDE.glob("*.md")) for s in samples(page, "python")]


def _compile(sample: Sample) -> ast.Module:
    try:
        tree = compile(sample.code, str(sample), "exec",
                       flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as error:
        pytest.fail(f"{sample}: the sample does not compile: {error}")
    assert isinstance(tree, ast.Module)
    return tree


class _FreeNames(ast.NodeVisitor):
    """Names the code reads when it runs, before any function it defines is called:
    function bodies are skipped (they resolve names when called), everything else is
    walked. An approximation: good enough to tell what a sample expects to be given."""

    def __init__(self) -> None:
        self.bound: set[str] = set(dir(builtins))
        self.used: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        (self.bound if isinstance(node.ctx, ast.Store | ast.Del) else self.used).add(node.id)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.bound.add(node.name)
        for expression in [*node.decorator_list, *node.args.defaults,
                           *(d for d in node.args.kw_defaults if d is not None)]:
            self.visit(expression)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        inner = _FreeNames()
        inner.bound |= {a.arg for a in [*node.args.args, *node.args.kwonlyargs]}
        inner.visit(node.body)
        self.used |= inner.used - inner.bound

    def visit_alias(self, node: ast.alias) -> None:
        self.bound.add((node.asname or node.name).split(".")[0])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.bound.add(node.name)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.bound.add(node.name)
        self.generic_visit(node)


def _free_names(tree: ast.Module) -> set[str]:
    walker = _FreeNames()
    walker.visit(tree)
    return walker.used - walker.bound


def _needs_a_function(sample: Sample) -> bool:
    """Top-level `await`, `async for` or `return`: the sample is a function's body."""
    try:
        compile(sample.code, str(sample), "exec")
    except SyntaxError:
        return True
    return False


async def _run_in_a_mutation(function: Any, wants: list[str]) -> None:
    async with ReactorTest(GUIDE_APP) as t:
        cleanup = t.engine.resolve("tasks:cleanup")

        async def body(ctx: Any) -> None:
            uid = await ctx.db.insert("users", {"name": "Ada"})
            given = {"ctx": ctx, "uid": uid, "cleanup": cleanup,
                     "task_id": await ctx.db.insert("tasks", {"title": "draft",
                                                              "status": "RUNNING",
                                                              "userId": uid}),
                     "counter_id": await ctx.db.insert("counters", {"name": "c", "n": 3})}
            await function(**{name: given[name] for name in wants})

        await t.run(body)


@pytest.mark.parametrize("sample", PYTHON, ids=str)
async def test_python_sample(sample: Sample, tmp_path: Path) -> None:
    tree = _compile(sample)
    if sample.fragment or sample.file:
        return  # compiled; a file runs as part of its page's app
    code = sample.code.replace('"path/to/app"', repr(str(GUIDE_APP)))
    free = _free_names(tree)
    wants = [name for name in HANDLER_NAMES if name in free]
    missing = free - set(wants)
    assert not missing, (f"{sample} uses {sorted(missing)} without importing or defining"
                         f" them; add the import, or mark the sample {FRAGMENT}")
    namespace: dict[str, Any] = {"__name__": f"docs_sample_{sample.line}"}
    if wants or _needs_a_function(sample):
        source = f"async def _sample({', '.join(wants)}):\n{textwrap.indent(code, '    ')}"
        exec(compile(source, str(sample), "exec"), namespace)
        if wants:
            await _run_in_a_mutation(namespace["_sample"], wants)
        else:
            await namespace["_sample"]()
        return
    exec(compile(code, str(sample), "exec"), namespace)
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.iscoroutinefunction(value):
            fixtures = {"tmp_path": tmp_path}
            await value(**{p: fixtures[p] for p in inspect.signature(value).parameters})


def test_few_samples_are_fragments() -> None:
    fragments = [str(s) for s in PYTHON if s.fragment]
    assert len(PYTHON) >= 30 and len(fragments) <= 3, fragments


def _app_files(page: str) -> dict[str, str]:
    return {s.file: s.code for s in samples(GUIDE / page) if s.file and not s.fragment}


def test_every_page_app_loads(tmp_path: Path) -> None:
    """A page whose samples are files of an app (`# functions/x.py`) describes an app that
    loads: the files are written out and imported as `reactor dev` would."""
    for page in sorted(GUIDE.glob("*.md")):
        files = {path: code for path, code in _app_files(page.name).items()
                 if path.endswith(".py") and not path.startswith("tests/")}
        if not any("functions/" in path for path in files):
            continue
        root = tmp_path / page.stem
        for path, code in files.items():
            target = root / path.split("/", 1)[1] if path.startswith("myapp/") else root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(code)
        app = load_app(root)
        try:
            assert app.functions or app.http is not None, page.name
        finally:
            unload_app(app)


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart's files, where it puts them: myapp/, tests/ and pyproject.toml."""
    root = tmp_path_factory.mktemp("quickstart")
    for path, code in _app_files("quickstart.md").items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(code)
    assert {"myapp/schema.py", "myapp/functions/notes.py", "tests/test_notes.py",
            "pyproject.toml"} <= {str(p.relative_to(root)) for p in root.rglob("*.*")}
    return root


def test_the_quickstart_test_runs_as_written(quickstart: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=quickstart, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_the_quickstart_node_snippet_exits(quickstart: Path, node_modules: Path) -> None:
    script = next(s for s in samples(GUIDE / "quickstart.md", "js") if "ConvexClient" in s.code)
    with ReactorServer(quickstart / "myapp", quickstart / "data", port=None) as server:
        code = script.code.replace("http://127.0.0.1:3210", server.url)
        path = NODE_DIR / f"quickstart-{os.getpid()}.mjs"
        path.write_text(code)
        try:
            done = subprocess.run(["node", str(path)], cwd=NODE_DIR, capture_output=True,
                                  text=True, timeout=30)
        finally:
            path.unlink()
    assert done.returncode == 0, done.stderr
    assert "live!" in done.stdout.strip().splitlines()[-1]


# Links, error codes, protocol sections ----------------------------------------------

_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")
DOCS = [REPO_ROOT / "README.md", REPO_ROOT / "client_js" / "README.md",
        *sorted((REPO_ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    for target, _ in _LINK.findall(page.read_text(encoding="utf-8")):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name}: broken link to {target}"


def test_every_error_code_is_documented() -> None:
    errors = (GUIDE / "errors.md").read_text(encoding="utf-8")
    code = re.compile(r"""code\s*[=:]\s*["']([A-Z][A-Za-z]+)["']""")
    missing = sorted({found for path in (REPO_ROOT / "reactor").rglob("*.py")
                      for found in code.findall(path.read_text(encoding="utf-8"))
                      if f"`{found}`" not in errors})
    assert not missing, f"docs/guide/errors.md does not list {missing}"


def test_protocol_sections_cited_in_the_code_exist() -> None:
    protocol = (REPO_ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\d+)\. ", protocol, re.M))
    rules = set(re.findall(r"^(\d+)\. ", protocol.split("## 9. ", 1)[1], re.M))
    cited: list[tuple[str, str, str]] = []
    for folder in (REPO_ROOT / "reactor", REPO_ROOT / "client_js" / "src", REPO_ROOT / "tests"):
        for path in [*folder.rglob("*.py"), *folder.rglob("*.js")]:
            text = path.read_text(encoding="utf-8")
            cited += [(path.name, kind, n) for kind, n in
                      re.findall(r"protocol(?:\.md)? (section|rule) (\d+)", text)]
    assert cited
    for name, kind, number in cited:
        assert number in (sections if kind == "section" else rules), f"{name}: {kind} {number}"
