"""`reactor migrate data` against a real PostgreSQL: the seed app's Prisma database copied
into the example app (which then serves it), every type and cycle into a generated schema,
reruns, and a SIGKILL in the middle of a copy."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from prisma_support import (
    FIXTURES,
    SeedData,
    fill_seed,
    fresh_database,
    run_sql,
    server_or_skip,
    ts,
)

from reactor.cli.main import main
from reactor.runtime.auth.password_hash import ScryptParams, hash_password
from reactor.runtime.system.transact import read
from reactor.testing import ReactorTest
from reactor.testing_postgres import run_sync
from reactor.transactions import QueryBuilder, Transaction
from reactor.values import Int64

APP_DIR = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
# The old app's hashes were cheaper than today's; the example app upgrades them at sign-in.
OLD_HASH = hash_password(PASSWORD, ScryptParams(2**14, 8, 1))


def migrate(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`reactor migrate ARGS` run in this process (in a thread: it runs its own event
    loop), its output captured as a subprocess's would be."""
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(["migrate", *args])
            except SystemExit as end:
                return int(end.code or 0)
        return 0

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        code = pool.submit(call).result(timeout=300)
    done = subprocess.CompletedProcess(["reactor", "migrate", *args], code, out.getvalue(),
                                       err.getvalue())
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def report_rows(stdout: str) -> dict[str, dict[str, int]]:
    """The verification table as {model: {rows, new, changed, gone, docs, refs, broken}}."""
    lines = stdout.strip().splitlines()
    names = lines[0].split()[2:]
    table: dict[str, dict[str, int]] = {}
    for line in lines[1:-1]:
        model, _, *values = line.split()
        table[model] = dict(zip(names, map(int, values), strict=True))
    return table


@pytest.fixture(scope="module")
def seed_db() -> Iterator[tuple[str, SeedData]]:
    server_or_skip()
    with fresh_database("reactor_prisma_seed") as url:
        run_sql(url, (FIXTURES / "seed.sql").read_text())
        data = fill_seed(url, users=5, tasks_per_user=3, messages_per_task=6,
                         password_hash=OLD_HASH)
        yield url, data


async def count(t: ReactorTest, table: str) -> int:
    total, last = 0, -1.0
    while True:
        def page(txn: Transaction, after: float = last) -> Any:
            return (QueryBuilder(txn, table)
                    .with_index("by_creation_time", lambda q: q.gt("_creationTime", after))
                    .take(5000))
        docs = await read(t.engine.database, page)
        if not docs:
            return total
        total += len(docs)
        last = docs[-1]["_creationTime"]


async def test_the_seed_database_serves_the_example_app(
        seed_db: tuple[str, SeedData], tmp_path: Path) -> None:
    url, data = seed_db
    data_dir = tmp_path / "data"
    common = ["--from", url, "--prisma", str(FIXTURES / "seed.prisma"), "--app", str(APP_DIR),
              "--data", str(data_dir)]
    first = migrate("data", *common)
    assert first.stdout.strip().splitlines()[-1].endswith(": verified"), first.stdout
    report = report_rows(first.stdout)
    assert report["ChatMessage"]["rows"] == len(data.messages)
    for model, row in report.items():
        assert row["new"] == row["rows"] == row["docs"], (model, row)
        assert row["broken"] == 0
    assert report["ChatMessage"]["refs"] == len(data.messages) + 1  # + the stacked task
    assert "ChatMessage -> chatMessages:" in first.stderr

    # A rerun copies nothing twice; a row changed at the source is brought over.
    again = report_rows(migrate("data", *common).stdout)
    assert all(row["new"] == 0 and row["changed"] == 0 for row in again.values()), again
    renamed = data.tasks[0]
    run_sql(url, f"""UPDATE "Task" SET title = 'Renamed' WHERE id = '{renamed["id"]}'""")
    third = report_rows(migrate("data", *common).stdout)
    assert third["Task"]["changed"] == 1 and third["Task"]["new"] == 0

    async with ReactorTest(APP_DIR, data_dir) as t:
        assert await count(t, "chatMessages") == len(data.messages)
        assert await count(t, "todos") == data.counts["Todo"]
        moved = 0
        while (batch := await t.mutation("auth:migrateLegacyPasswords")) > 0:
            moved += batch
        assert moved == len(data.users)
        user = data.users[1]
        signed_in = await t.action("auth:signIn", {"email": user["email"],
                                                   "password": PASSWORD})
        member = t.with_identity(subject=signed_in["userId"])
        me = await member.query("auth:currentUser")
        assert me["email"] == user["email"] and me["name"] == user["name"]
        assert me["createdAt"] == user["createdAt"].replace(
            tzinfo=datetime.UTC).timestamp() * 1000
        tasks = await member.query("tasks:listByUser", {})
        mine = [task for task in data.tasks if task["userId"] == user["id"]]
        newest_first = sorted(mine, key=lambda task: task["createdAt"], reverse=True)
        assert [task["title"] for task in tasks] == [task["title"] for task in newest_first]
        assert {task["status"] for task in tasks} <= {"RUNNING", "COMPLETED", "STOPPED"}
        task = next(task for task in tasks if task["title"] == newest_first[0]["title"])
        messages = await member.query("messages:byTask", {"taskId": task["_id"]})
        source_id = newest_first[0]["id"]
        expected = sorted((m for m in data.messages if m["taskId"] == source_id),
                          key=lambda m: m["sequence"])
        assert [m["content"] for m in messages] == [m["content"] for m in expected]
        assert [m["sequence"] for m in messages] == [float(m["sequence"]) for m in expected]
        assistant = next(m for m in messages if m["role"] == "ASSISTANT")
        assert assistant["metadata"]["usage"]["totalTokens"] == 15
        todos = await member.query("todos:byTask", {"taskId": task["_id"]})
        assert [todo["todoId"] for todo in todos] == ["todo-0", "todo-1", "todo-2"]
        # Another user's tasks stay theirs.
        stranger = t.with_identity(subject=(await t.action("auth:signIn", {
            "email": data.users[0]["email"], "password": PASSWORD}))["userId"])
        with pytest.raises(Exception, match="belongs to another user"):
            await stranger.query("messages:byTask", {"taskId": task["_id"]})


async def test_every_type_and_a_cycle_into_a_generated_schema(tmp_path: Path) -> None:
    server_or_skip()
    app = tmp_path / "app"
    app.mkdir()
    migrate("prisma", str(FIXTURES / "kinds.prisma"), "--out", str(app / "schema.py"))
    with fresh_database("reactor_prisma_kinds") as url:
        run_sql(url, (FIXTURES / "kinds.sql").read_text() + """
            INSERT INTO "teams" (id, name) VALUES (1, 'red'), (2, 'blue');
            INSERT INTO "Person" (id, name, "teamId", "managerId", born, seen, big, price, ratio,
                                  photo, profile, level, levels, nicknames)
            VALUES (1, 'Ada', 1, NULL, '1990-02-03', '2024-05-06 07:08:09.123',
                    9007199254740993, 12.34, 0.5, '\\x00ff', '{"a": [1, {"b": null}]}', 'high',
                    ARRAY['LOW', 'high']::"level"[], ARRAY['ace']),
                   (2, 'Bob', 2, 1, '2000-01-01', NULL, -5, 0.10, -1.25, NULL, NULL, 'LOW',
                    NULL, NULL);
            UPDATE "teams" SET lead_id = 2 WHERE id = 1;
            UPDATE "teams" SET lead_id = 1 WHERE id = 2;
            INSERT INTO "Membership" ("personId", club) VALUES (1, 'chess'), (2, 'chess');
            INSERT INTO "extra"."Tag" (id, label) VALUES ('t1', 'x');
            INSERT INTO "Old" (id) VALUES (1);
            UPDATE "Person" SET secret = 'hidden';
            INSERT INTO "_TagToTeam" ("A", "B") VALUES ('t1', 1);
        """)
        common = ["--from", url, "--prisma", str(FIXTURES / "kinds.prisma"), "--app", str(app)]
        done = migrate("data", *common)
        report = report_rows(done.stdout)
        assert report["Person"]["refs"] == 3 and report["Team"]["refs"] == 2, done.stdout
        assert report["TagToTeam"]["rows"] == 1 and report["TagToTeam"]["refs"] == 2
        assert "Team -> team: references patched" in done.stderr
        again = report_rows(migrate("data", *common).stdout)
        assert all(row["new"] == 0 and row["changed"] == 0 for row in again.values()), again

    async with ReactorTest(app, app / ".reactor") as t:
        async def everything(txn: Transaction) -> dict[str, list[dict[str, Any]]]:
            return {table: await QueryBuilder(txn, table).collect()
                    for table in ("team", "person", "membership", "tag", "tagToTeam")}
        docs = await read(t.engine.database, everything)
    people = {p["name"]: p for p in docs["person"]}
    teams = {team["name"]: team for team in docs["team"]}
    ada, bob = people["Ada"], people["Bob"]
    assert ada["big"] == 9007199254740993 and isinstance(ada["big"], Int64)
    assert ada["price"] == 12.34 and bob["price"] == 0.1
    assert ada["born"] == 634_003_200_000.0  # 1990-02-03T00:00Z
    assert ada["seen"] == 1_714_979_289_123.0 and "seen" not in bob
    assert ada["photo"] == b"\x00\xff" and "photo" not in bob
    assert "secret" not in ada and "secret" not in bob
    assert ada["profile"] == {"a": [1.0, {"b": None}]}
    assert ada["level"] == "HIGH" and ada["levels"] == ["LOW", "HIGH"]
    assert ada["nicknames"] == ["ace"] and bob["nicknames"] == [] and bob["levels"] == []
    assert bob["managerId"] == ada["_id"] and "managerId" not in ada
    assert ada["teamId"] == teams["red"]["_id"] and bob["teamId"] == teams["blue"]["_id"]
    assert teams["red"]["leadId"] == bob["_id"] and teams["blue"]["leadId"] == ada["_id"]
    assert sorted(m["personId"] for m in docs["membership"]) == sorted([ada["_id"], bob["_id"]])
    assert [tag["label"] for tag in docs["tag"]] == ["x"]
    assert [(pair["tagId"], pair["teamId"]) for pair in docs["tagToTeam"]] == [
        (docs["tag"][0]["_id"], teams["red"]["_id"])]


def test_a_copy_killed_midway_resumes_without_duplicates(tmp_path: Path) -> None:
    server_or_skip()
    with fresh_database("reactor_prisma_crash") as url:
        run_sql(url, (FIXTURES / "seed.sql").read_text())
        data = fill_seed(url, users=2, tasks_per_user=2, messages_per_task=800,
                         password_hash=OLD_HASH)
        total = len(data.messages)
        common = ["--from", url, "--prisma", str(FIXTURES / "seed.prisma"),
                  "--app", str(APP_DIR), "--data", str(tmp_path / "data"), "--batch", "100"]
        process = subprocess.Popen([sys.executable, "-m", "reactor", "migrate", "data",
                                    *common], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        assert process.stderr is not None
        killed_at = None
        for line in process.stderr:
            if line.startswith("ChatMessage -> chatMessages:"):
                done = int(line.rsplit(" ", 1)[1].split("/")[0])
                if 0 < done < total:
                    os.kill(process.pid, signal.SIGKILL)
                    killed_at = done
                    break
        process.wait(timeout=60)
        assert killed_at is not None, "the copy ended before it could be killed"
        assert process.returncode == -signal.SIGKILL

        resumed = migrate("data", *common)
        report = report_rows(resumed.stdout)
        messages = report["ChatMessage"]
        assert messages["rows"] == messages["docs"] == total
        assert 0 < messages["new"] < total, messages  # some were in before the kill
        assert messages["broken"] == 0
        assert resumed.stdout.strip().endswith(": verified")

    async def stored() -> int:
        async with ReactorTest(APP_DIR, tmp_path / "data") as t:
            return await count(t, "chatMessages")
    assert asyncio.run(stored()) == total


def test_an_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    done = migrate("data", "--from", "postgresql://nobody@127.0.0.1:1/none", "--prisma",
                   str(FIXTURES / "seed.prisma"), "--app", str(APP_DIR), "--data",
                   str(tmp_path / "data"), check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error [MigrationSourceFailed]: cannot connect to"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_row_that_does_not_fit_stops_the_copy_naming_it(tmp_path: Path) -> None:
    with fresh_database("reactor_prisma_bad") as url:
        run_sql(url, (FIXTURES / "seed.sql").read_text())
        fill_seed(url, users=1, tasks_per_user=1, messages_per_task=2, password_hash=OLD_HASH)
        run_sql(url, """UPDATE "ChatMessage" SET "finishReason" = 'weird'
                        WHERE sequence = 2""")
        done = migrate("data", "--from", url, "--prisma", str(FIXTURES / "seed.prisma"),
                       "--app", str(APP_DIR), "--data", str(tmp_path / "data"), check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error [MigrationRowInvalid]: ChatMessage row ["), last
    assert '-> chatMessages: doc.finishReason: expected "stop"' in last and 'got "weird"' in last


def test_a_batch_too_big_for_one_transaction_is_split(tmp_path: Path) -> None:
    """30 rows of ~700 KB: more than one transaction may write (16 MiB), fewer rows than
    a batch."""
    app = tmp_path / "app"
    app.mkdir()
    migrate("prisma", str(FIXTURES / "kinds.prisma"), "--out", str(app / "schema.py"))
    with fresh_database("reactor_prisma_big") as url:
        run_sql(url, (FIXTURES / "kinds.sql").read_text() + """
            INSERT INTO "teams" (id, name) VALUES (1, 'red');
            INSERT INTO "Person" (id, name, "teamId", born, big, price, ratio, profile)
            SELECT n, 'p' || n, 1, '2000-01-01', n, 1, 1,
                   jsonb_build_object('text', repeat('x', 700000))
            FROM generate_series(1, 30) AS n;
        """)
        done = migrate("data", "--from", url, "--prisma", str(FIXTURES / "kinds.prisma"),
                       "--app", str(app))
    person = report_rows(done.stdout)["Person"]
    assert person["rows"] == person["new"] == person["docs"] == 30, done.stdout


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=6).filter(
            lambda key: not key.startswith("$")), inner, max_size=3),
    max_leaves=8)
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=20)
MS = st.integers(0, 4_102_444_800_000)  # 1970 to 2100, whole milliseconds
PERSON = st.fixed_dictionaries({
    "name": TEXT, "born": st.dates(datetime.date(1900, 1, 1), datetime.date(2100, 1, 1)),
    "seen": st.none() | MS, "big": st.integers(-(2**63), 2**63 - 1),
    "price": st.decimals(min_value=-(10**7), max_value=10**7, places=2),
    "ratio": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "photo": st.none() | st.binary(max_size=16), "profile": st.none() | JSON,
    "level": st.sampled_from(["LOW", "high"]),
    "levels": st.none() | st.lists(st.sampled_from(["LOW", "high"]), max_size=3),
    "nicknames": st.none() | st.lists(TEXT, max_size=3),
})


def expected_person(row: dict[str, Any]) -> dict[str, Any]:
    """The oracle: what the type table of docs/guide/migrating-from-prisma.md says."""
    def level(value: str) -> str:
        return value.upper()

    def floats(value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return float(value)
        if isinstance(value, list):
            return [floats(item) for item in value]
        if isinstance(value, dict):
            return {key: floats(item) for key, item in value.items()}
        return value

    born = datetime.datetime.combine(row["born"], datetime.time(), datetime.UTC)
    doc = {"name": row["name"], "born": born.timestamp() * 1000, "big": row["big"],
           "price": float(row["price"]), "ratio": row["ratio"], "level": level(row["level"]),
           "levels": [level(x) for x in row["levels"] or []],
           "nicknames": row["nicknames"] or [], "active": True}
    if row["seen"] is not None:
        doc["seen"] = float(row["seen"])
    if row["photo"] is not None:
        doc["photo"] = row["photo"]
    if row["profile"] is not None:
        doc["profile"] = floats(row["profile"])
    return doc


# Each example is a whole migration: few examples, and no shrinking (a
# failure reports the example it found).
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(rows=st.lists(PERSON, min_size=1, max_size=25))
def test_random_rows_arrive_as_the_type_table_says(kinds_db: tuple[str, Path],
                                                    rows: list[dict[str, Any]]) -> None:
    url, app = kinds_db
    run_sql(url, 'TRUNCATE "Membership", "Person", "teams" CASCADE;'
                 ' INSERT INTO "teams" (id, name) VALUES (1, \'t\');')
    insert_people(url, rows)
    with tempfile.TemporaryDirectory() as data:
        migrate("data", "--from", url, "--prisma", str(FIXTURES / "kinds.prisma"),
                "--app", str(app), "--data", data)

        async def people() -> list[dict[str, Any]]:
            async with ReactorTest(app, data) as t:
                return await read(t.engine.database,
                                  lambda txn: QueryBuilder(txn, "person").collect())
        stored = asyncio.run(people())
    system = ("_id", "_creationTime", "teamId")
    assert [{k: v for k, v in doc.items() if k not in system} for doc in stored] == [
        expected_person(row) for row in rows]
    assert all(isinstance(doc["big"], Int64) for doc in stored)


@pytest.fixture(scope="module")
def kinds_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    app = tmp_path_factory.mktemp("kinds_app")
    migrate("prisma", str(FIXTURES / "kinds.prisma"), "--out", str(app / "schema.py"))
    with fresh_database("reactor_prisma_random") as url:
        run_sql(url, (FIXTURES / "kinds.sql").read_text())
        yield url, app


def insert_people(url: str, rows: list[dict[str, Any]]) -> None:
    async def write() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                                      schema="pg_catalog")
            for n, row in enumerate(rows, start=1):
                seen = None if row["seen"] is None else ts(row["seen"])
                await conn.execute(
                    'INSERT INTO "Person" (id, name, "teamId", born, seen, big, price, ratio,'
                    ' photo, profile, level, levels, nicknames) VALUES ($1, $2, 1, $3, $4, $5,'
                    ' $6, $7, $8, $9, $10::text::"level", $11::text[]::"level"[], $12)',
                    n, row["name"], row["born"], seen, row["big"], row["price"], row["ratio"],
                    row["photo"], row["profile"], row["level"], row["levels"],
                    row["nicknames"])
        finally:
            await conn.close()
    run_sync(write())


def test_into_a_deployment_on_postgresql(tmp_path: Path) -> None:
    """`--db`: the deployment's own data in PostgreSQL (docs/guide/postgresql.md)."""
    app = tmp_path / "app"
    app.mkdir()
    migrate("prisma", str(FIXTURES / "kinds.prisma"), "--out", str(app / "schema.py"))
    with fresh_database("reactor_prisma_from") as source, \
            fresh_database("reactor_prisma_into") as target:
        run_sql(source, (FIXTURES / "kinds.sql").read_text() + """
            INSERT INTO "teams" (id, name) VALUES (1, 'red');
            INSERT INTO "Person" (id, name, "teamId", "managerId", born, big, price, ratio)
            VALUES (1, 'a', 1, NULL, '2000-01-01', 1, 1, 1), (2, 'b', 1, 1, '2000-01-01', 2,
                    2, 2);
            UPDATE "teams" SET lead_id = 2;
        """)
        common = ["--from", source, "--prisma", str(FIXTURES / "kinds.prisma"), "--app",
                  str(app), "--db", f"{target}?schema=deployment"]
        first = report_rows(migrate("data", *common).stdout)
        again = report_rows(migrate("data", *common).stdout)
    assert first["Person"]["new"] == 2 and first["Person"]["refs"] == 3
    assert first["Team"]["refs"] == 1
    assert again["Person"]["new"] == 0 and again["Person"]["docs"] == 2
    assert not (app / ".reactor" / "reactor.sqlite3").exists()
