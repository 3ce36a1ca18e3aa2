"""`reactor migrate data` throughput: rows per second from a Prisma PostgreSQL database.

    .venv/bin/python bench/prisma_migrate.py [--messages 20000] [--batch 500]

Fills a fresh database (on REACTOR_TEST_DB_URL's server, default the local one) with
the seed app's DDL (tests/fixtures/seed.sql): users, their tasks and the tasks' chat
messages. Then copies it into the example app on a fresh SQLite data directory, in
process, as the command does. The baseline, in the same run, inserts the same
documents (references already resolved, no PostgreSQL, no mapping entries) in
transactions of the same size: the cost of the ordinary write path alone.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from reactor.cli.migrate.data import json_value
from reactor.cli.migrate.prisma_copy import Copier
from reactor.cli.migrate.prisma_plan import build_plan
from reactor.cli.migrate.prisma_schema import read_prisma
from reactor.cli.migrate.prisma_targets import resolve_targets
from reactor.cli.migrate.sinks import LocalSink
from reactor.runtime import Engine
from reactor.testing_postgres import DEFAULT_URL, ENV, create_database, drop_database

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
USERS = 10
TASKS_PER_USER = 5


def _ts(ms: float) -> datetime.datetime:
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)


async def fill(url: str, messages: int) -> int:
    """Users, tasks and `messages` chat messages; how many rows in all."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute((FIXTURES / "seed.sql").read_text())
        now = 1_750_000_000_000.0
        users = [(f"u{u}", f"User {u}", f"user{u}@example.com", True, _ts(now), _ts(now))
                 for u in range(USERS)]
        await conn.copy_records_to_table("user", records=users, columns=[
            "id", "name", "email", "emailVerified", "createdAt", "updatedAt"])
        tasks = [(f"t{u}-{k}", f"Task {k}", "RUNNING", f"acme/r{u}", "https://x", f"u{u}",
                  "main", "0" * 40, "shadow", _ts(now + k), _ts(now + k))
                 for u in range(USERS) for k in range(TASKS_PER_USER)]
        await conn.copy_records_to_table("Task", records=tasks, columns=[
            "id", "title", "status", "repoFullName", "repoUrl", "userId", "baseBranch",
            "baseCommitSha", "shadowBranch", "createdAt", "updatedAt"])
        metadata = json.dumps({"isStreaming": False, "finishReason": "stop",
                               "parts": [{"type": "text", "text": "an answer"}]})
        rows = [(f"m{i}", tasks[i % len(tasks)][0], f"message {i} " + "x" * 200,
                 "ASSISTANT" if i % 2 else "USER", "gpt-4o", metadata if i % 2 else None,
                 i // len(tasks) + 1, _ts(now + 1000 + i)) for i in range(messages)]
        await conn.copy_records_to_table("ChatMessage", records=rows, columns=[
            "id", "taskId", "content", "role", "llmModel", "metadata", "sequence",
            "createdAt"])
        return len(users) + len(tasks) + len(rows)
    finally:
        await conn.close()


async def migrate(url: str, data_dir: Path, batch: int) -> tuple[float, float]:
    """Seconds to copy, and seconds to verify."""
    plan = build_plan(read_prisma(FIXTURES / "seed.prisma"))
    conn = await asyncpg.connect(url)
    reading = conn.transaction(isolation="repeatable_read", readonly=True)
    await reading.start()
    for json_type in ("json", "jsonb"):
        await conn.set_type_codec(json_type, encoder=json.dumps, decoder=json_value,
                                  schema="pg_catalog")
    engine = Engine(REPO, data_dir, workers=0, durability="normal")
    await engine.start()
    try:
        targets = resolve_targets(plan, engine.app.schema, {})
        copier = Copier(LocalSink(engine.database), conn, plan, targets, batch=batch)
        started = time.perf_counter()
        report = await copier.run()
        total = time.perf_counter() - started
        assert report.ok, "\n".join(report.lines())
        return report.seconds, total - report.seconds
    finally:
        await engine.stop()
        await conn.close()


async def baseline(data_dir: Path, messages: int, batch: int) -> float:
    """Seconds to insert the same documents through plain transactions."""
    engine = Engine(REPO, data_dir, workers=0, durability="normal")
    await engine.start()
    database = engine.database
    now = 1_750_000_000_000.0
    metadata = {"isStreaming": False, "finishReason": "stop",
                "parts": [{"type": "text", "text": "an answer"}]}
    try:
        started = time.perf_counter()
        txn = database.begin()
        users = [await txn.insert("users", {
            "name": f"User {u}", "email": f"user{u}@example.com", "emailVerified": True,
            "createdAt": now, "updatedAt": now}) for u in range(USERS)]
        tasks = [await txn.insert("tasks", {
            "title": f"Task {k}", "status": "RUNNING", "repoFullName": f"acme/r{u}",
            "repoUrl": "https://x", "isScratchpad": False, "initStatus": "INACTIVE",
            "workspaceCleanedUp": False, "hasBeenInitialized": False, "userId": users[u],
            "baseBranch": "main", "baseCommitSha": "0" * 40, "shadowBranch": "shadow",
            "createdAt": now + k, "updatedAt": now + k})
            for u in range(USERS) for k in range(TASKS_PER_USER)]
        await database.commit(txn)
        txn.close()
        for start in range(0, messages, batch):
            txn = database.begin()
            for i in range(start, min(messages, start + batch)):
                doc: dict[str, Any] = {
                    "taskId": tasks[i % len(tasks)], "content": f"message {i} " + "x" * 200,
                    "role": "ASSISTANT" if i % 2 else "USER", "llmModel": "gpt-4o",
                    "sequence": i // len(tasks) + 1, "createdAt": now + 1000 + i}
                if i % 2:
                    doc["metadata"] = metadata
                await txn.insert("chatMessages", doc)
            await database.commit(txn)
            txn.close()
        return time.perf_counter() - started
    finally:
        await engine.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    options = parser.parse_args()
    url = create_database(os.environ.get(ENV, DEFAULT_URL), "reactor_bench_prisma")
    try:
        rows = await fill(url, options.messages)
        with tempfile.TemporaryDirectory() as scratch:
            copy_s, verify_s = await migrate(url, Path(scratch) / "migrated", options.batch)
            plain_s = await baseline(Path(scratch) / "plain", options.messages, options.batch)
    finally:
        drop_database(url)
    migrated, plain = rows / copy_s, rows / plain_s
    print(f"| {rows:,} | {options.batch} | {migrated:,.0f} | {plain:,.0f} |"
          f" {migrated / plain:.2f}x | {verify_s:.1f} s |")


if __name__ == "__main__":
    asyncio.run(main())
