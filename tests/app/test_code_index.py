"""The example app's code index (Milestone 6): a git repository folder indexed by
codeIndex:indexRepository, searched by search:code (hashing embedder, and the fake
OpenAI-compatible embeddings server process), chat history by search:messages."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from example_app_support import APP_DIR, Member, expect_error, new_task, quick_user
from fake_llm import FakeLLM
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.testing import ReactorTest

REPO = "acme/widgets"

PARSER = '''"""Configuration files."""

import tomllib


def parse_config(path):
    """Read the settings file and return its table."""
    with open(path, "rb") as handle:
        return tomllib.load(handle)


class RetryPolicy:
    def backoff_delay(self, attempt):
        return min(30, 2 ** attempt)
'''
SERVER = '''class HttpServer:
    def listen(self, port):
        return bind_socket(port)

    def shutdown(self):
        close_all_connections()
'''
MAILER = "func sendInvoiceEmail(customer string) error {\n\treturn smtp.Send(customer)\n}\n"


def git(repo: Path, *argv: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c",
                             "user.email=t@example.com", *argv],
                            check=True, capture_output=True, text=True)
    return result.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repos" / "widgets"
    (folder / "src").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    (folder / ".gitignore").write_text("build/\n*.log\n")
    (folder / "src" / "config.py").write_text(PARSER)
    (folder / "src" / "server.py").write_text(SERVER)
    (folder / "mailer.go").write_text(MAILER)
    (folder / "logo.png").write_bytes(b"\x89PNG\x00\x00binary")
    (folder / "build").mkdir()
    (folder / "build" / "generated.py").write_text("def parse_config_generated(): pass\n")
    (folder / "debug.log").write_text("parse_config failed\n")
    commit_all(folder, "init")
    return folder


@pytest.fixture
async def t(tmp_path: Path) -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP_DIR) as engine:
        await engine.environment.set("LOCAL_REPO_ROOT", str(tmp_path / "repos"))
        yield engine


@pytest.fixture
async def owner(t: ReactorTest) -> Member:
    member = await quick_user(t, "alice@example.com", "Alice")
    await new_task(member, repoFullName=REPO)
    return member


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


async def index(member: Member, repo: Path) -> dict[str, Any]:
    result: dict[str, Any] = await member.client.action(
        "codeIndex:indexRepository", {"repoFullName": REPO, "folder": str(repo)})
    return result


async def chunks_of(t: ReactorTest) -> list[dict[str, Any]]:
    async def read(ctx: Any) -> Any:
        return await ctx.db.query("codeChunks").collect()
    rows: list[dict[str, Any]] = await t.run(read)
    return rows


async def search(member: Member, query: str, **extra: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await member.client.action(
        "search:code", {"repoFullName": REPO, "query": query, **extra})
    return rows


async def test_indexing_respects_gitignore_and_chunks_by_definition(
        t: ReactorTest, owner: Member, repo: Path) -> None:
    result = await index(owner, repo)
    assert result["skipped"] is False and result["filesChanged"] == 4
    chunks = await chunks_of(t)
    # .gitignore'd build/ and *.log are not read; the binary logo is left out.
    assert {c["path"] for c in chunks} == {".gitignore", "src/config.py", "src/server.py",
                                           "mailer.go"}
    python = {(c["name"], c["kind"], c["lineStart"], c["lineEnd"])
              for c in chunks if c["path"] == "src/config.py"}
    # tree-sitter cuts at top-level definitions; the module header is a chunk of lines.
    assert python == {("src/config.py", "lines", 1, 3), ("parse_config", "function", 6, 9),
                      ("RetryPolicy", "class", 12, 14)}
    go = [c for c in chunks if c["path"] == "mailer.go"]
    assert [(c["kind"], c["name"], c["lang"]) for c in go] == [
        ("definition", "sendInvoiceEmail", "go")]  # no grammar: by lines
    assert all(len(c["embedding"]) == 384 for c in chunks)
    progress = await owner.client.query("codeIndex:progress", {"repoFullName": REPO})
    assert progress["status"] == "done" and progress["filesDone"] == progress["filesTotal"] == 4
    assert progress["lastCommitSha"] == git(repo, "rev-parse", "HEAD")
    assert progress["chunkCount"] == len(chunks)


async def test_progress_is_live_and_reaches_done(
        t: ReactorTest, owner: Member, repo: Path) -> None:
    for number in range(120):
        (repo / "src" / f"module_{number}.py").write_text(f"def helper_{number}():\n"
                                                           f"    return {number}\n")
    commit_all(repo, "many")
    seen: list[dict[str, Any]] = []
    async with owner.client.subscribe("codeIndex:progress", {"repoFullName": REPO}) as sub:
        assert await sub.next(timeout=5) is None
        run = asyncio.create_task(index(owner, repo))
        while not seen or seen[-1]["status"] != "done":
            seen.append(await sub.next(timeout=30))
        await run
    done = [value["filesDone"] for value in seen]
    assert done == sorted(done) and seen[-1]["filesDone"] == seen[-1]["filesTotal"] == 124
    assert {value["filesTotal"] for value in seen} == {124}


async def test_an_unchanged_commit_is_skipped_and_a_change_redoes_only_its_file(
        t: ReactorTest, owner: Member, repo: Path) -> None:
    await index(owner, repo)
    before = {c["_id"]: c for c in await chunks_of(t)}
    assert (await index(owner, repo))["skipped"] is True
    assert {c["_id"] for c in await chunks_of(t)} == set(before)

    (repo / "src" / "server.py").write_text(SERVER + "\n    def restart(self):\n"
                                            "        reload_workers()\n")
    (repo / "mailer.go").unlink()
    head = commit_all(repo, "restart, no mailer")
    result = await index(owner, repo)
    assert (result["skipped"], result["filesChanged"], result["filesRemoved"]) == (
        False, 1, 1)
    after = {c["_id"]: c for c in await chunks_of(t)}
    kept = {i for i, c in before.items() if c["path"] in (".gitignore", "src/config.py")}
    assert kept <= set(after)  # untouched files keep their chunks (same documents)
    assert not any(c["path"] == "mailer.go" for c in after.values())
    server = [c for c in after.values() if c["path"] == "src/server.py"]
    assert server and all(c["_id"] not in before for c in server)
    assert "reload_workers" in server[0]["code"]
    progress = await owner.client.query("codeIndex:progress", {"repoFullName": REPO})
    assert (progress["lastCommitSha"], progress["filesTotal"]) == (head, 2)
    assert progress["chunkCount"] == len(after)


async def test_uncommitted_edits_are_indexed_though_the_commit_is_the_same(
        t: ReactorTest, owner: Member, repo: Path) -> None:
    await index(owner, repo)
    (repo / "src" / "config.py").write_text(PARSER + "\n\ndef validate_schema(table):\n"
                                            "    return table\n")
    result = await index(owner, repo)
    assert (result["skipped"], result["filesChanged"]) == (False, 1)
    assert (await search(owner, "validate schema table"))[0]["name"] == "validate_schema"


async def test_search_code_finds_the_chunk_with_the_hashing_embedder(
        t: ReactorTest, owner: Member, repo: Path) -> None:
    await index(owner, repo)
    semantic = await search(owner, "read the settings file", mode="semantic", limit=3)
    assert semantic[0]["path"] == "src/config.py" and semantic[0]["name"] == "parse_config"
    assert semantic[0]["score"] > semantic[1]["score"]
    assert set(semantic[0]) == {"_id", "path", "name", "lang", "kind", "lineStart", "lineEnd",
                                "code", "score"}
    hybrid = await search(owner, "how does the http server listen on a port")
    assert (hybrid[0]["path"], hybrid[0]["name"]) == ("src/server.py", "HttpServer")
    # Identifier parts count: backoffDelay finds backoff_delay.
    assert (await search(owner, "backoffDelay"))[0]["name"] == "RetryPolicy"


async def test_search_code_through_an_openai_compatible_embeddings_server(
        t: ReactorTest, owner: Member, repo: Path, fake: FakeLLM) -> None:
    fake.reset()
    await t.environment.set("EMBEDDINGS_PROVIDER", "openai")
    await t.environment.set("EMBEDDINGS_BASE_URL", fake.openai_url)
    await t.environment.set("EMBEDDINGS_API_KEY", "sk-embed-secret")
    await index(owner, repo)
    rows = await search(owner, "invoice email to a customer", mode="semantic")
    assert rows[0]["path"] == "mailer.go"
    requests = fake.requests()
    assert [r["path"] for r in requests] == ["/v1/embeddings", "/v1/embeddings"]
    assert requests[0]["headers"]["authorization"] == "Bearer sk-embed-secret"
    assert requests[0]["body"]["dimensions"] == 384 and len(requests[0]["body"]["input"]) == 6
    assert requests[1]["body"]["input"] == ["invoice email to a customer"]

    fake.fail_embeddings([{"status": 401, "body": {"error": "bad key sk-embed-secret"}}])
    data = await expect_error(search(owner, "anything"), "EmbeddingFailed")
    assert data["status"] == 401
    fake.fail_embeddings([{"status": 200, "body": {"data": [{"index": 0,
                                                             "embedding": [1.0, 0.0]}]}}])
    await expect_error(search(owner, "anything"), "EmbeddingFailed")


async def test_an_embedding_failure_marks_the_run_failed(
        t: ReactorTest, owner: Member, repo: Path, fake: FakeLLM) -> None:
    fake.reset()
    await t.environment.set("EMBEDDINGS_PROVIDER", "openai")
    await t.environment.set("EMBEDDINGS_BASE_URL", fake.openai_url)
    fake.fail_embeddings([{"status": 500}])
    await expect_error(index(owner, repo), "EmbeddingFailed")
    progress = await owner.client.query("codeIndex:progress", {"repoFullName": REPO})
    assert progress["status"] == "failed" and "500" in progress["error"]
    assert str(repo) not in progress["error"]
    assert (await index(owner, repo))["skipped"] is False  # a failed run is not skipped


async def test_another_users_repository_is_not_searchable(
        t: ReactorTest, owner: Member, repo: Path, tmp_path: Path) -> None:
    await index(owner, repo)
    bob = await quick_user(t, "bob@example.com", "Bob")
    await new_task(bob, repoFullName="bob/other")
    for call in (search(bob, "parse config"),
                 bob.client.query("codeIndex:progress", {"repoFullName": REPO}),
                 index(bob, repo)):
        await expect_error(call, "Forbidden")
    signed_out = t.with_identity(subject="nobody", issuer="https://elsewhere.example")
    await expect_error(signed_out.action("search:code", {"repoFullName": REPO,
                                                         "query": "x"}), "Unauthenticated")
    # A folder outside LOCAL_REPO_ROOT is refused even for the repository's user.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    await expect_error(owner.client.action("codeIndex:indexRepository", {
        "repoFullName": REPO, "folder": str(outside)}), "Forbidden")
    await expect_error(owner.client.action("codeIndex:indexRepository", {
        "repoFullName": REPO, "folder": str(repo / ".." / ".." / "elsewhere")}), "Forbidden")


async def test_search_messages_is_limited_to_the_caller(t: ReactorTest, owner: Member) -> None:
    bob = await quick_user(t, "bob@example.com", "Bob")
    first = await new_task(owner, message="the flaky checkout test fails on Mondays")
    second = await new_task(owner, repoFullName="acme/other",
                            message="rename the checkout button")
    theirs = await new_task(bob, message="the checkout test fails for me too")

    mine = await owner.client.query("search:messages", {"query": "checkout"})
    assert {row["taskId"] for row in mine} == {first, second}
    only = await owner.client.query("search:messages", {"query": "checkout test",
                                                        "taskId": first})
    assert [row["taskId"] for row in only] == [first]
    assert only[0]["content"].startswith("the flaky checkout")
    assert [row["taskId"] for row in await bob.client.query(
        "search:messages", {"query": "checkout"})] == [theirs]
    await expect_error(bob.client.query("search:messages", {"query": "checkout",
                                                            "taskId": first}), "Forbidden")


def load_code_files() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "example_app_code_files", APP_DIR / "functions" / "_lib" / "code_files.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_folder_without_git_follows_its_gitignore(t: ReactorTest, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    (folder / "out").mkdir(parents=True)
    (folder / ".gitignore").write_text("out/\n*.tmp\n!keep.tmp\n")
    (folder / "app.py").write_text("def main():\n    run()\n")
    (folder / "scratch.tmp").write_text("ignored\n")
    (folder / "keep.tmp").write_text("kept\n")
    (folder / "out" / "bundle.js").write_text("function built() {}\n")
    result = await t.action("codeIndex:indexFolder", {"namespace": "local/plain",
                                                      "folder": str(folder)})
    assert result["commitSha"].startswith("files-") and result["filesChanged"] == 3
    assert {c["path"] for c in await chunks_of(t)} == {".gitignore", "app.py", "keep.tmp"}
    again = await t.action("codeIndex:indexFolder", {"namespace": "local/plain",
                                                     "folder": str(folder)})
    assert (again["skipped"], again["filesChanged"], again["commitSha"]) == (
        False, 0, result["commitSha"])  # no commit to compare: every hash is, and none changed


LINES = ["def alpha():", "    return 1", "", "class Beta:", "    x = 2", "# note",
         "value = alpha()", "    def gamma(self):", "        pass"]
FILES = ["a.py", "b.py", "c.go", "d/e.py"]
edit = st.tuples(st.sampled_from(FILES),
                 st.none() | st.lists(st.sampled_from(LINES), max_size=40).map("\n".join))


@settings(max_examples=8, deadline=None)
@given(rounds=st.lists(st.lists(edit, min_size=1, max_size=4), min_size=1, max_size=4))
def test_incremental_indexing_matches_indexing_from_scratch(
        rounds: list[list[tuple[str, str | None]]]) -> None:
    """After any sequence of edits and deletions, each indexed incrementally, the chunks
    are exactly those of chunking the folder afresh (the oracle), and the file hashes
    are the files' SHA-256."""
    code_files = load_code_files()

    def fresh(folder: Path) -> tuple[set[tuple[Any, ...]], dict[str, str]]:
        chunks: set[tuple[Any, ...]] = set()
        hashes: dict[str, str] = {}
        for path in code_files.list_files(folder):
            source = code_files.read_source(folder, path)
            if source is not None:
                hashes[path] = source[0]
                chunks |= {(c["path"], c["name"], c["kind"], c["lineStart"], c["lineEnd"],
                            c["code"]) for c in code_files.chunk_source(path, source[1])}
        return chunks, hashes

    async def scenario(folder: Path) -> None:
        async with ReactorTest(APP_DIR) as engine:
            for changes in rounds:
                for name, content in changes:
                    target = folder / name
                    if content is None:
                        target.unlink(missing_ok=True)
                    else:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text(content)
                await engine.action("codeIndex:indexFolder", {"namespace": "ops",
                                                              "folder": str(folder)})
                expected, hashes = fresh(folder)
                rows = await chunks_of(engine)
                assert {(c["path"], c["name"], c["kind"], c["lineStart"], c["lineEnd"],
                         c["code"]) for c in rows} == expected
                assert len(rows) == len(expected)

                async def files(ctx: Any) -> Any:
                    return await ctx.db.query("codeFiles").collect()
                assert {f["path"]: f["hash"] for f in await engine.run(files)} == hashes
                assert all(hashlib.sha256((folder / p).read_bytes()).hexdigest() == h
                           for p, h in hashes.items())
                state = await engine.query("codeIndex:state", {"namespace": "ops"})
                assert (state["status"], state["chunkCount"]) == ("done", len(rows))

    with tempfile.TemporaryDirectory() as scratch:
        asyncio.run(scenario(Path(scratch)))


async def test_a_newer_run_supersedes_an_older_one(t: ReactorTest) -> None:
    older = await t.mutation("codeIndex:begin", {"namespace": "ops", "filesTotal": 1})
    newer = await t.mutation("codeIndex:begin", {"namespace": "ops", "filesTotal": 1})
    batch = {"namespace": "ops", "files": [], "removed": ["a.py"], "filesDone": 1}
    data = await expect_error(t.mutation("codeIndex:applyBatch", {**batch, "runId": older}),
                              "IndexRunSuperseded")
    assert data["repoFullName"] == "ops"
    await t.mutation("codeIndex:fail", {"namespace": "ops", "runId": older, "error": "x"})
    await t.mutation("codeIndex:applyBatch", {**batch, "runId": newer})
    await t.mutation("codeIndex:finish", {"namespace": "ops", "runId": newer,
                                          "commitSha": "c1"})
    state = await t.query("codeIndex:state", {"namespace": "ops"})
    assert (state["status"], state["lastCommitSha"], "runId" in state) == ("done", "c1", False)


async def test_deleting_a_scratchpad_task_deletes_its_code_index(
        t: ReactorTest, owner: Member, tmp_path: Path) -> None:
    task_id = await new_task(owner, repoFullName="acme/scratch", repoUrl="", baseBranch="",
                             isScratchpad=True)
    folder = tmp_path / "scratch"
    folder.mkdir()
    (folder / "notes.py").write_text("def remember():\n    pass\n")
    await t.action("codeIndex:indexFolder", {"namespace": f"task:{task_id}",
                                             "folder": str(folder)})
    rows = await owner.client.action("search:code", {"repoFullName": f"task:{task_id}",
                                                    "query": "remember"})
    assert rows[0]["name"] == "remember"
    await owner.client.mutation("tasks:remove", {"taskId": task_id})
    while await t.run_scheduled():
        pass

    async def left(ctx: Any) -> Any:
        return [len(await ctx.db.query(table).collect())
                for table in ("codeChunks", "codeFiles", "repositoryIndex")]
    assert await t.run(left) == [0, 0, 0]


async def test_search_messages_leaves_out_messages_being_deleted(
        t: ReactorTest, owner: Member) -> None:
    task_id = await new_task(owner, message="first draft of the parser")

    async def truncate(ctx: Any) -> None:
        await ctx.db.patch(task_id, {"truncatedAfter": 0})
    await t.run(truncate)
    assert await owner.client.query("search:messages", {"query": "parser"}) == []


async def test_search_code_live_follows_the_index(
        t: ReactorTest, owner: Member, repo: Path) -> None:
    await index(owner, repo)
    args = {"repoFullName": REPO, "query": "refund the payment", "limit": 2}
    assert await owner.client.query("search:codeLive", args) == (
        await search(owner, "refund the payment", limit=2))
    async with owner.client.subscribe("search:codeLive", args) as live:
        assert (await live.next(timeout=5))[0]["name"] != "refund_payment"
        (repo / "src" / "refunds.py").write_text("def refund_payment(order):\n"
                                                 "    return order.payment.refund()\n")
        commit_all(repo, "refunds")
        await index(owner, repo)
        assert (await live.next(timeout=5))[0]["name"] == "refund_payment"
    bob = await quick_user(t, "bob@example.com", "Bob")
    await expect_error(bob.client.query("search:codeLive", args), "Forbidden")
    await t.environment.set("EMBEDDINGS_PROVIDER", "openai")
    await expect_error(owner.client.query("search:codeLive", args), "EmbeddingFailed")


async def test_an_index_from_before_embeddings_is_redone(
        t: ReactorTest, owner: Member, repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD")

    async def old_index(ctx: Any) -> None:
        await ctx.db.insert("repositoryIndex", {"repoFullName": REPO, "lastIndexedAt": 1.0,
                                                "lastCommitSha": head, "createdAt": 1.0,
                                                "updatedAt": 1.0})
        await ctx.db.insert("codeChunks", {"repoFullName": REPO, "path": "src/server.py",
                                           "name": "old", "lang": "python", "kind": "lines",
                                           "lineStart": 1, "lineEnd": 2, "code": "old"})
    await t.run(old_index)
    result = await index(owner, repo)
    assert (result["skipped"], result["filesChanged"]) == (False, 4)
    chunks = await chunks_of(t)
    assert all("embedding" in c for c in chunks) and "old" not in {c["name"] for c in chunks}


async def test_messages_from_before_owners_are_backfilled(t: ReactorTest, owner: Member) -> None:
    task_id = await new_task(owner, message="the parser drops comments")

    async def forget_owners(ctx: Any) -> None:
        for row in await ctx.db.query("chatMessages").collect():
            await ctx.db.replace(row["_id"], {k: value for k, value in row.items()
                                              if k not in ("userId", "_id", "_creationTime")})
    await t.run(forget_owners)
    assert await owner.client.query("search:messages", {"query": "parser"}) == []
    assert await t.mutation("search:backfillMessageOwners", {}) == 1
    while await t.run_scheduled():
        pass
    found = await owner.client.query("search:messages", {"query": "parser"})
    assert [row["taskId"] for row in found] == [task_id]
