"""Editors and type checkers see the function API: decorated functions keep their
signatures, `Id` and the ctx types check, and the package ships `py.typed`."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = '''
from typing import Literal

from reactor import AppError, Doc, Id, MutationCtx, QueryCtx, mutation, query, v


@mutation
async def create(ctx: MutationCtx, title: str, limit: int = 3) -> Id[Literal["tasks"]]:
    return await ctx.db.insert("tasks", {"title": title})


@query(args={"n": v.number()}, name="byN")
async def by_n(ctx: QueryCtx, n: float) -> list[Doc]:
    return await ctx.db.query("tasks").take(int(n))


async def use(ctx: MutationCtx) -> None:
    created = await create(ctx, title="a")
    reveal_type(created)
    await create(ctx, title=1)
    rows = await by_n(ctx, n=2)
    reveal_type(rows)
    raise AppError("m", data={"a": 1})
'''


def test_mypy_sees_handler_signatures_through_the_decorators(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         "--config-file", str(ROOT / "pyproject.toml"), str(sample)],
        capture_output=True, text=True, cwd=ROOT, env={"MYPYPATH": str(ROOT), "PATH": ""},
        timeout=300)
    lines = [line.split(": ", 1)[1] for line in checked.stdout.splitlines() if ": " in line]
    assert 'note: Revealed type is "reactor.values.typed.Id[Literal[\'tasks\']]"' in lines
    assert 'note: Revealed type is "builtins.list[builtins.dict[builtins.str, Any]]"' in lines \
        or 'note: Revealed type is "list[dict[str, Any]]"' in lines
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == ['error: Argument "title" to "__call__" of "Function" has incompatible'
                      ' type "int"; expected "str"  [arg-type]'], checked.stdout


def test_the_package_is_marked_typed() -> None:
    assert (ROOT / "reactor" / "py.typed").exists()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["reactor"]
