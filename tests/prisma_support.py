"""PostgreSQL databases for the Prisma migration tests: made fresh, filled, dropped."""

from __future__ import annotations

import datetime
import json
import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from reactor.testing_postgres import (
    DEFAULT_URL,
    ENV,
    create_database,
    drop_database,
    reachable,
    run_sync,
)

FIXTURES = Path(__file__).parent / "fixtures"


def server_or_skip() -> str:
    """The maintenance URL of the PostgreSQL server the tests use, or skip saying why."""
    url = os.environ.get(ENV, DEFAULT_URL)
    problem = run_sync(reachable(url))
    if problem is not None:
        pytest.skip(f"no PostgreSQL reachable at {url} (set {ENV} to use another):"
                    f" {problem}")
    return url


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new empty database; its URL. Dropped afterwards, even if connections remain."""
    url = create_database(server_or_skip(), prefix)
    try:
        yield url
    finally:
        drop_database(url)


def run_sql(url: str, script: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(script)
        finally:
            await conn.close()
    run_sync(run())


def ts(ms: float) -> datetime.datetime:
    """A `timestamp(3)` value (naive, UTC) for a time in milliseconds."""
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)


def cuid(rng: random.Random) -> str:
    return "c" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24))


@dataclass
class SeedData:
    """What was written, for the tests to compare with what Reactor serves."""

    users: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


ROLES = ("USER", "ASSISTANT")
MODELS = ("gpt-4o", "claude-sonnet")
BASE_MS = 1_750_000_000_000.0


def fill_seed(url: str, *, users: int, tasks_per_user: int, messages_per_task: int,
              password_hash: str, seed: int = 7) -> SeedData:
    """The seed app's tables filled with related rows, as the Prisma app left them."""
    rng = random.Random(seed)
    data = SeedData()
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in (
        "user", "account", "session", "verification", "UserSettings", "CodebaseUnderstanding",
        "Task", "TaskSession", "ChatMessage", "PullRequestSnapshot", "Todo", "Memory",
        "RepositoryIndex")}
    clock = BASE_MS
    for u in range(users):
        clock += 1000
        user = {"id": cuid(rng), "name": f"User {u}", "email": f"user{u}@example.com",
                "emailVerified": True, "image": None if u % 2 else f"https://img/{u}.png",
                "externalId": None, "createdAt": ts(clock), "updatedAt": ts(clock)}
        rows["user"].append(user)
        data.users.append(user)
        rows["account"].append({
            "id": cuid(rng), "accountId": user["id"], "providerId": "credential",
            "userId": user["id"], "password": password_hash, "githubAppConnected": False,
            "createdAt": ts(clock), "updatedAt": ts(clock)})
        rows["session"].append({
            "id": cuid(rng), "token": uuid.UUID(int=rng.getrandbits(128)).hex,
            "expiresAt": ts(clock + 86_400_000), "ipAddress": "10.0.0.1", "userAgent": None,
            "userId": user["id"], "createdAt": ts(clock), "updatedAt": ts(clock)})
        rows["UserSettings"].append({
            "id": cuid(rng), "userId": user["id"], "memoriesEnabled": True,
            "autoPullRequest": u % 3 == 0, "enableShadowWiki": True, "enableIndexing": False,
            "selectedModels": list(MODELS[: u % 3]), "rules": None})
        repo = f"acme/repo{u}"
        understanding = {"id": cuid(rng), "repoFullName": repo,
                         "repoUrl": f"https://github.com/{repo}",
                         "content": json.dumps({"summary": f"repo {u}", "files": [1, 2, 3]}),
                         "userId": user["id"], "createdAt": ts(clock), "updatedAt": ts(clock)}
        rows["CodebaseUnderstanding"].append(understanding)
        rows["RepositoryIndex"].append({
            "id": cuid(rng), "repoFullName": repo, "lastIndexedAt": ts(clock),
            "lastCommitSha": "abc123", "createdAt": ts(clock), "updatedAt": ts(clock)})
        rows["verification"].append({
            "id": cuid(rng), "identifier": user["email"], "value": "123456",
            "expiresAt": ts(clock + 600_000), "createdAt": None, "updatedAt": None})
        for k in range(tasks_per_user):
            clock += 1000
            task = {"id": cuid(rng), "title": f"Task {k} of user {u}",
                    "status": rng.choice(("RUNNING", "COMPLETED", "STOPPED")),
                    "repoFullName": repo, "repoUrl": f"https://github.com/{repo}",
                    "isScratchpad": False, "initStatus": "ACTIVE",
                    "workspaceCleanedUp": False, "hasBeenInitialized": True,
                    "userId": user["id"], "baseBranch": "main", "baseCommitSha": "0" * 40,
                    "shadowBranch": f"shadow/{k}", "pullRequestNumber": k or None,
                    "codebaseUnderstandingId": understanding["id"] if k == 0 else None,
                    "createdAt": ts(clock), "updatedAt": ts(clock)}
            rows["Task"].append(task)
            data.tasks.append(task)
            rows["TaskSession"].append({"id": cuid(rng), "taskId": task["id"],
                                        "isActive": False, "createdAt": ts(clock),
                                        "endedAt": ts(clock + 5000)})
            for s in range(messages_per_task):
                clock += 10
                role = ROLES[s % 2]
                metadata = None if role == "USER" else json.dumps({
                    "isStreaming": False, "finishReason": "stop",
                    "usage": {"promptTokens": 10, "completionTokens": 5, "totalTokens": 15},
                    "parts": [{"type": "text", "text": f"answer {s}"}]})
                message = {"id": cuid(rng), "taskId": task["id"],
                           "content": f"message {s} of {task['title']}", "role": role,
                           "llmModel": MODELS[s % 2], "metadata": metadata, "sequence": s + 1,
                           "finishReason": None if role == "USER" else "stop",
                           "stackedTaskId": None, "createdAt": ts(clock)}
                rows["ChatMessage"].append(message)
                data.messages.append(message)
            if messages_per_task >= 2:
                rows["PullRequestSnapshot"].append({
                    "id": cuid(rng), "messageId": rows["ChatMessage"][-1]["id"],
                    "status": "CREATED", "title": "PR", "description": "changes",
                    "filesChanged": 2, "linesAdded": 10, "linesRemoved": 3,
                    "commitSha": "f" * 40, "createdAt": ts(clock)})
            for n in range(3):
                rows["Todo"].append({"id": f"todo-{n}", "taskId": task["id"],
                                     "content": f"step {n}", "status": "PENDING",
                                     "sequence": n, "createdAt": ts(clock),
                                     "updatedAt": ts(clock)})
            rows["Memory"].append({"id": cuid(rng), "content": f"memory of {k}",
                                   "category": "GENERAL", "repoFullName": repo,
                                   "repoUrl": f"https://github.com/{repo}",
                                   "userId": user["id"], "taskId": task["id"],
                                   "createdAt": ts(clock), "updatedAt": ts(clock)})
    # A stacked task: a message of the first task links to the second.
    if len(data.tasks) > 1 and rows["ChatMessage"]:
        rows["ChatMessage"][0]["stackedTaskId"] = data.tasks[1]["id"]
    async def write() -> None:
        conn = await asyncpg.connect(url)
        try:
            for table, table_rows in rows.items():
                if table_rows:
                    names = list(table_rows[0])
                    await conn.copy_records_to_table(
                        table, columns=names, records=[[row[n] for n in names]
                                                       for row in table_rows])
                data.counts[table] = len(table_rows)
        finally:
            await conn.close()
    run_sync(write())
    return data
