"""The Python samples of the functions and values guides compile, and those that declare
functions load: their decorators run the same checks an app's functions get."""

from __future__ import annotations

import re
import textwrap
import types
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def samples() -> list[tuple[str, int, str]]:
    found = []
    for name in ("functions.md", "values.md"):
        text = (GUIDE / name).read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((name, line, match.group(1)))
    return found


def runnable(source: str) -> str:
    """The sample as a module: statements that only make sense inside a handler
    (`await`, `return`) are wrapped in one."""
    try:
        compile(source, "<sample>", "exec")
        return source
    except SyntaxError:
        body = textwrap.indent(source, "    ")
        return f"async def _inside_a_handler(ctx, task_id, uid, counter_id, rows, cleanup):\n{body}"


@pytest.mark.parametrize(("page", "line", "source"), samples(),
                         ids=[f"{page}:{line}" for page, line, _ in samples()])
def test_guide_sample_runs(page: str, line: int, source: str) -> None:
    module = types.ModuleType(f"guide_sample_{line}")
    code = compile(runnable(source), f"{page}:{line}", "exec")
    if "@query" in source or "@mutation" in source or "@action" in source:
        exec(code, module.__dict__)  # decorators check the handlers as loading an app does
