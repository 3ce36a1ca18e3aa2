"""`reactor dev`: edits reach subscribed clients without a reconnect; bad edits change nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import NODE_DIR, ReactorServer
from sync_support import NodeProcess, http_json

SCHEMA = '''from reactor import define_schema, define_table, v

schema = define_schema({{
    "items": define_table({{"tag": v.string(), "n": {n_type}}}){index},
}})
'''
GREET = '''from reactor import query


@query(args={{}})
async def hello(ctx):
    return {value!r}
'''
ITEMS = '''from reactor import mutation, query, v


@mutation(args={"tag": v.string(), "n": v.any()})
async def add(ctx, tag, n):
    return await ctx.db.insert("items", {"tag": tag, "n": n})


@query(args={"tag": v.string()})
async def by_tag(ctx, tag):
    rows = await ctx.db.query("items").with_index("by_tag", lambda q: q.eq("tag", tag)).collect()
    return [row["n"] for row in rows]
'''


def write_schema(app: Path, *, n_type: str = "v.number()", index: bool = False) -> None:
    suffix = '.index("by_tag", ["tag"])' if index else ""
    (app / "schema.py").write_text(SCHEMA.format(n_type=n_type, index=suffix))


def write_greet(app: Path, value: str) -> None:
    (app / "functions" / "greet.py").write_text(GREET.format(value=value))


@pytest.fixture
def dev(tmp_path: Path, node_modules: Path) -> Iterator[ReactorServer]:
    app = tmp_path / "app"
    (app / "functions").mkdir(parents=True)
    write_schema(app)
    write_greet(app, "v1")
    (app / "functions" / "items.py").write_text(ITEMS)
    with ReactorServer(app, tmp_path / "data", command="dev") as running:
        yield running


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def call(server: ReactorServer, kind: str, path: str, args: dict) -> dict:
    status, body = http_json(f"{server.url}/api/{kind}", {"path": path, "args": [args]})
    assert status == 200, body
    return body


def test_edit_reaches_the_subscribed_client_without_reconnecting(dev: ReactorServer) -> None:
    app = dev.app_dir
    script = NodeProcess(NODE_DIR / "sync_reload.mjs", dev.url)
    try:
        script.wait_line('value "v1"')
        write_greet(app, "v2")
        script.wait_line('value "v2"')
        # A syntax error: the old code keeps serving and the log says where.
        (app / "functions" / "greet.py").write_text("from reactor import query\n\ndef broken(:\n")
        wait_until(lambda: "reload failed" in dev.log(), "the failed reload")
        assert "greet.py:3" in dev.log() and "SyntaxError" in dev.log()
        assert call(dev, "query", "greet:hello", {})["value"] == "v2"
        write_greet(app, "final")
        result = script.result(timeout=30)
    finally:
        script.kill()
    assert result["values"] == ["v1", "v2", "final"]
    assert result["connectionCount"] == 1


def test_new_index_is_backfilled_and_violating_schema_is_refused(dev: ReactorServer) -> None:
    app = dev.app_dir
    for n in (1, 2):
        call(dev, "mutation", "items:add", {"tag": "a", "n": n})
    call(dev, "mutation", "items:add", {"tag": "b", "n": 3})
    missing = call(dev, "query", "items:by_tag", {"tag": "a"})
    assert missing["status"] == "error" and "by_tag" in missing["errorMessage"]

    write_schema(app, index=True)
    wait_until(lambda: "backfilled items.by_tag" in dev.log(), "the backfill")
    assert call(dev, "query", "items:by_tag", {"tag": "a"})["value"] == [1, 2]

    # Existing documents have numbers: a schema wanting strings is refused, nothing changes.
    write_schema(app, n_type="v.string()", index=True)
    wait_until(lambda: "SchemaMismatch" in dev.log(), "the refused schema")
    log = dev.log()
    assert "does not match 3 existing document(s); nothing was changed" in log
    assert "reload failed, still serving the previous code" in log
    assert call(dev, "mutation", "items:add", {"tag": "a", "n": 4})["status"] == "success"
    refused = call(dev, "mutation", "items:add", {"tag": "a", "n": "text"})
    assert refused["status"] == "error" and "n" in refused["errorMessage"]
    assert call(dev, "query", "items:by_tag", {"tag": "a"})["value"] == [1, 2, 4]
