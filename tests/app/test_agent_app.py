"""The example app's agent in-process: runs scheduled by user messages, against the fake
LLM server process (tests/fake_llm.py), with the tools working in a real workspace."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from example_app_support import APP_DIR, Member, expect_error, get_task, quick_user
from fake_llm import FakeLLM

from reactor.testing import ReactorTest

MODEL = "fake-model"
SCRATCH = {"title": "Scratch", "repoFullName": "acme/scratch", "repoUrl": "",
           "baseBranch": "", "isScratchpad": True, "mainModel": MODEL}


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
async def agent_t(tmp_path: Path, llm: FakeLLM) -> AsyncIterator[ReactorTest]:
    llm.reset()
    async with ReactorTest(APP_DIR) as engine:
        await engine.environment.set("OPENAI_BASE_URL", llm.openai_url)
        await engine.environment.set("WORKSPACE_ROOT", str(tmp_path / "workspaces"))
        await engine.environment.set("LOCAL_REPO_ROOT", str(tmp_path / "repos"))
        yield engine


@pytest.fixture
async def carol(agent_t: ReactorTest) -> Member:
    return await quick_user(agent_t, "carol@example.com", "Carol")


def call(call_id: str, name: str, **args: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "args": json.dumps(args), "split": 2}


async def run_all(t: ReactorTest) -> None:
    while await t.run_scheduled():
        pass


async def test_a_scratchpad_run_writes_todos_reads_a_file_and_answers(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM, tmp_path: Path) -> None:
    llm.script([
        {"tool_calls": [call("c1", "todo_write", merge=False, todos=[
            {"id": "1", "content": "Write notes", "status": "in_progress"}]),
            call("c2", "edit_file", target_file="notes.md", code_edit="hello\n")]},
        {"tool_calls": [call("c3", "read_file", target_file="notes.md"),
                        call("c4", "read_file", target_file="../secret")]},
        {"text": ["The notes ", "say hello."], "usage": {"input": 30, "output": 6}},
    ])
    created = await carol.client.mutation("tasks:create", {**SCRATCH, "message": "Take notes"})
    task_id = created["taskId"]
    await run_all(agent_t)

    task = await get_task(carol, task_id)
    assert task["status"] == "COMPLETED", task
    assert (task["initStatus"], task["hasBeenInitialized"]) == ("ACTIVE", True)
    messages = await carol.client.query("messages:byTask", {"taskId": task_id})
    answer = messages[-1]
    assert answer["role"] == "ASSISTANT" and answer["content"] == "The notes say hello."
    assert answer["metadata"]["isStreaming"] is False
    assert answer["finishReason"] == "stop"
    kinds = [p["type"] for p in answer["metadata"]["parts"]]
    assert kinds == ["tool-call", "tool-call", "tool-result", "tool-result", "tool-call",
                     "tool-call", "tool-result", "tool-result", "text"]
    todos = await carol.client.query("todos:byTask", {"taskId": task_id})
    assert [(t["todoId"], t["status"]) for t in todos] == [("1", "IN_PROGRESS")]
    calls = await carol.client.query("agent:toolCalls", {"taskId": task_id})
    assert [(c["toolName"], c["status"]) for c in calls] == [
        ("todo_write", "SUCCEEDED"), ("edit_file", "SUCCEEDED"), ("read_file", "SUCCEEDED"),
        ("read_file", "FAILED")]
    assert calls[2]["result"]["content"] == "hello"
    assert "outside the workspace" in calls[3]["result"]["error"]
    changes = await carol.client.query("agent:fileChanges", {"taskId": task_id})
    assert [(c["path"], c["kind"]) for c in changes] == [("notes.md", "created")]
    assert (tmp_path / "workspaces" / task_id / "notes.md").read_text() == "hello\n"


async def test_a_repository_task_is_cloned_and_the_terminal_streams(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_SECRET", "s3cret-of-the-server")
    repo = tmp_path / "repos" / "widgets"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "Makefile").write_text("all:\n\techo built\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e",
                    "commit", "-qm", "init"], check=True)
    llm.script([
        {"tool_calls": [call("c1", "run_terminal_cmd", command="cat Makefile; env")]},
        {"text": ["done"]},
    ])
    created = await carol.client.mutation("tasks:create", {
        "title": "Build", "repoFullName": "acme/widgets", "repoUrl": str(repo),
        "baseBranch": "main", "mainModel": MODEL, "message": "Build it"})
    await run_all(agent_t)
    task = await get_task(carol, created["taskId"])
    assert task["status"] == "COMPLETED", task
    terminal = await carol.client.query("agent:terminalOutput", {"taskId": created["taskId"]})
    streams = [row["stream"] for row in terminal]
    assert streams[0] == "command" and streams[-1] == "exit"
    assert "echo built" in "".join(r["text"] for r in terminal if r["stream"] == "stdout")
    assert terminal[-1]["text"] == "exit 0"
    # The command's environment is a clean one, not the server's.
    output = "".join(r["text"] for r in terminal)
    assert "HOME=" in output and "s3cret-of-the-server" not in output

    dave = await quick_user(agent_t, "dave@example.com", "Dave")
    for path in ("agent:terminalOutput", "agent:toolCalls", "agent:fileChanges"):
        await expect_error(dave.client.query(path, {"taskId": created["taskId"]}), "Forbidden")
    await expect_error(dave.client.mutation("agent:clearTerminal",
                                            {"taskId": created["taskId"]}), "Forbidden")
    cleared = await carol.client.mutation("agent:clearTerminal", {"taskId": created["taskId"]})
    assert cleared == len(terminal)
    assert await carol.client.query("agent:terminalOutput", {"taskId": created["taskId"]}) == []


async def test_a_failed_clone_fails_the_task_with_its_error(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM, tmp_path: Path) -> None:
    created = await carol.client.mutation("tasks:create", {
        "title": "Nope", "repoFullName": "acme/nope", "repoUrl": str(tmp_path / "repos" / "x"),
        "baseBranch": "main", "mainModel": MODEL, "message": "Go"})
    await run_all(agent_t)
    task = await get_task(carol, created["taskId"])
    assert task["status"] == "FAILED"
    assert task["initStatus"] == "PREPARE_WORKSPACE"
    assert "git clone failed" in task["initializationError"]
    assert task["errorMessage"] == task["initializationError"]
    assert str(tmp_path / "workspaces") not in task["errorMessage"]

    outside = await carol.client.mutation("tasks:create", {
        "title": "Etc", "repoFullName": "acme/etc", "repoUrl": "/etc",
        "baseBranch": "main", "mainModel": MODEL, "message": "Go"})
    await run_all(agent_t)
    task = await get_task(carol, outside["taskId"])
    assert task["status"] == "FAILED" and "LOCAL_REPO_ROOT" in task["errorMessage"]


async def test_a_provider_error_fails_the_task_with_a_useful_message(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM) -> None:
    llm.script([{"status": 400, "body": {"error": {"message": "model fake-model is unknown"}}}])
    created = await carol.client.mutation("tasks:create", {**SCRATCH, "message": "Hi"})
    await run_all(agent_t)
    task = await get_task(carol, created["taskId"])
    assert task["status"] == "FAILED"
    assert "unknown" in task["errorMessage"], task["errorMessage"]
    messages = await carol.client.query("messages:byTask", {"taskId": created["taskId"]})
    assert messages[-1]["finishReason"] == "error"
    assert messages[-1]["metadata"]["parts"][-1]["type"] == "error"


async def test_without_a_provider_nothing_runs(agent_t: ReactorTest, carol: Member) -> None:
    await agent_t.environment.remove("OPENAI_BASE_URL")
    created = await carol.client.mutation("tasks:create", {**SCRATCH, "message": "Hi"})
    assert await agent_t.run_scheduled() == 0
    task = await get_task(carol, created["taskId"])
    assert task["status"] == "INITIALIZING" and "agentRunId" not in task


async def test_startup_interrupts_what_a_dead_process_left_running(tmp_path: Path,
                                                                  llm: FakeLLM) -> None:
    """A run that was streaming when its process died is sealed when the next one starts;
    a finished run is left alone."""
    data = tmp_path / "data"
    async with ReactorTest(APP_DIR, data) as t:
        await t.environment.set("OPENAI_BASE_URL", llm.openai_url)
        carol = await quick_user(t, "carol@example.com", "Carol")
        ids = []
        for _ in range(2):
            created = await carol.client.mutation("tasks:create", {**SCRATCH, "message": "Hi"})
            task = await get_task(carol, created["taskId"])
            ids.append((created["taskId"], task["agentRunId"]))
        # Both runs start streaming (as their actions would); the second one finishes.
        messages = []
        for task_id, run_id in ids:
            messages.append(await t.mutation("agent:startAnswer", {
                "taskId": task_id, "runId": run_id, "llmModel": MODEL,
                "parts": [{"type": "text", "text": "Half an ans"}],
                "calls": [{"toolCallId": "c1", "toolName": "read_file", "args": {},
                           "status": "RUNNING"}]}))
        await t.mutation("agent:finishAnswer", {
            "messageId": messages[1]["messageId"], "runId": ids[1][1], "finishReason": "stop",
            "parts": [{"type": "text", "text": "wer."}], "calls": []})
    async with ReactorTest(APP_DIR, data) as t:  # the next process
        carol = Member(t.with_identity(subject=carol.user_id), carol.user_id, carol.email)
        dead, done = [await get_task(carol, task_id) for task_id, _ in ids]
        assert dead["status"] == "FAILED" and dead["errorMessage"].startswith("interrupted")
        assert "agentRunId" not in dead and "agentRunId" not in done
        assert done["status"] == "COMPLETED"
        sealed = (await carol.client.query("messages:byTask", {"taskId": ids[0][0]}))[-1]
        assert sealed["metadata"]["isStreaming"] is False and sealed["finishReason"] == "error"
        assert sealed["content"] == "Half an ans"
        calls = await carol.client.query("agent:toolCalls", {"taskId": ids[0][0]})
        assert [c["status"] for c in calls] == ["FAILED"]
        finished = (await carol.client.query("messages:byTask", {"taskId": ids[1][0]}))[-1]
        assert finished["content"] == "Half an answer." and finished["finishReason"] == "stop"


async def test_semantic_search_indexes_the_commit_once(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM, tmp_path: Path) -> None:
    repo = tmp_path / "repos" / "tools"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "config.py").write_text("def parse_config(path):\n    return load_toml(path)\n")
    (repo / "server.py").write_text("class Server:\n    def listen(self, port):\n"
                                    "        return bind_socket(port)\n")
    (repo / "data.bin").write_bytes(b"\x00config\x00")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e",
                    "commit", "-qm", "init"], check=True)
    args = {"title": "Find", "repoFullName": "acme/tools", "repoUrl": str(repo),
            "baseBranch": "main", "mainModel": MODEL}
    task_ids = []
    for _ in range(2):
        llm.script([{"tool_calls": [call("s1", "semantic_search", query="parse the config")]},
                    {"text": ["found"]}])
        created = await carol.client.mutation("tasks:create", {**args, "message": "Where?"})
        task_ids.append(created["taskId"])
        await run_all(agent_t)
        if len(task_ids) == 1:
            first_index = await agent_t.query("codeIndex:state", {"namespace": "acme/tools"})

    for task_id in task_ids:
        calls = await carol.client.query("agent:toolCalls", {"taskId": task_id})
        assert [c["status"] for c in calls] == ["SUCCEEDED"], calls
        results = calls[0]["result"]["results"]
        assert results[0]["filePath"] == "config.py" and results[0]["name"] == "parse_config"
        assert results[0]["language"] == "python" and results[0]["lineStart"] == 1
        assert "data.bin" not in {r["filePath"] for r in results}
    # The second task found the same commit indexed and did not index it again.
    index = await agent_t.query("codeIndex:state", {"namespace": "acme/tools"})
    assert index == first_index and len(index["lastCommitSha"]) == 40
    async def all_chunks(ctx: Any) -> Any:
        return await ctx.db.query("codeChunks").collect()

    chunks = await agent_t.run(all_chunks)
    assert sorted(c["path"] for c in chunks) == ["config.py", "server.py"]


async def test_uncommitted_edits_are_searched_in_the_tasks_own_index(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM, tmp_path: Path) -> None:
    """An agent's edits are found by its next semantic_search, yet never enter the
    repository's shared index, which other users' tasks search."""
    repo = tmp_path / "repos" / "shop"
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "mail.py").write_text("def send_receipt(customer):\n    smtp.send(customer)\n")
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e",
                    "commit", "-qm", "init"], check=True)
    llm.script([{"tool_calls": [call("e1", "edit_file", target_file="billing.py",
                                     code_edit="def charge_card(card, amount):\n"
                                               "    return gateway.charge(card, amount)\n")]},
                {"tool_calls": [call("s1", "semantic_search", query="charge the card")]},
                {"text": ["done"]}])
    created = await carol.client.mutation("tasks:create", {
        "title": "Bill", "repoFullName": "acme/shop", "repoUrl": str(repo),
        "baseBranch": "main", "mainModel": MODEL, "message": "Add billing"})
    await run_all(agent_t)
    calls = await carol.client.query("agent:toolCalls", {"taskId": created["taskId"]})
    results = calls[-1]["result"]["results"]
    assert (results[0]["filePath"], results[0]["name"]) == ("billing.py", "charge_card")
    assert await agent_t.query("codeIndex:state", {"namespace": "acme/shop"}) is None
    own = await agent_t.query("codeIndex:state", {"namespace": f"task:{created['taskId']}"})
    assert own["status"] == "done"


async def test_cleanup_and_delete_remove_the_workspace(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM, tmp_path: Path) -> None:
    llm.script([{"text": ["one"]}, {"text": ["two"]}])
    created = await carol.client.mutation("tasks:create", {**SCRATCH, "message": "Hi"})
    task_id = created["taskId"]
    await run_all(agent_t)
    folder = tmp_path / "workspaces" / task_id
    (folder / "notes.txt").write_text("kept until cleanup")
    await agent_t.mutation("tasks:cleanup", {"taskId": task_id})  # as the scheduler would
    await run_all(agent_t)
    assert not folder.exists()
    assert [p.name for p in (tmp_path / "workspaces").iterdir()] == []

    # The next message prepares a fresh, empty workspace.
    await carol.client.mutation("messages:append", {"taskId": task_id, "content": "Again",
                                                    "role": "USER"})
    await run_all(agent_t)
    task = await get_task(carol, task_id)
    assert task["status"] == "COMPLETED" and folder.is_dir() and not any(folder.iterdir())

    await carol.client.mutation("tasks:remove", {"taskId": task_id})
    await run_all(agent_t)
    assert not folder.exists()


async def test_editing_a_message_answers_it_afresh(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM) -> None:
    llm.script([{"text": ["first answer"]}, {"text": ["second answer"]}])
    created = await carol.client.mutation("tasks:create", {**SCRATCH, "message": "Hi"})
    task_id = created["taskId"]
    await run_all(agent_t)
    first = await carol.client.query("messages:byTask", {"taskId": task_id})
    assert [m["content"] for m in first] == ["Hi", "first answer"]
    await carol.client.mutation("messages:edit", {"messageId": first[0]["_id"],
                                                  "content": "Hello"})
    await run_all(agent_t)
    second = await carol.client.query("messages:byTask", {"taskId": task_id})
    assert [(m["sequence"], m["content"]) for m in second] == [(1, "Hello"), (2, "second answer")]
    assert (await get_task(carol, task_id))["status"] == "COMPLETED"
    assert llm.requests()[1]["body"]["messages"][-1]["content"] == "Hello"


async def test_os_errors_reach_the_model_without_server_paths(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM, tmp_path: Path) -> None:
    llm.script([
        {"tool_calls": [call("c1", "edit_file", target_file="a.txt", code_edit="x"),
                        call("c2", "edit_file", target_file="a.txt/b.txt", code_edit="y")]},
        {"text": ["ok"]},
    ])
    created = await carol.client.mutation("tasks:create", {**SCRATCH, "message": "Go"})
    await run_all(agent_t)
    calls = await carol.client.query("agent:toolCalls", {"taskId": created["taskId"]})
    assert [c["status"] for c in calls] == ["SUCCEEDED", "FAILED"]
    error = calls[1]["result"]["error"]
    assert error.startswith("Refused:") and str(tmp_path) not in error, error


async def test_memory_tools_act_for_the_tasks_owner_only(
        agent_t: ReactorTest, carol: Member, llm: FakeLLM) -> None:
    dave = await quick_user(agent_t, "dave@example.com", "Dave")
    daves_task = await dave.client.mutation("tasks:create", SCRATCH)
    daves_memory = await dave.client.mutation("memories:add", {
        "taskId": daves_task["taskId"], "content": "Dave's fact", "category": "GENERAL"})
    llm.script([
        {"tool_calls": [call("c1", "add_memory", content="Tests run with make test",
                             category="TESTING"),
                        call("c2", "remove_memory", memoryId=daves_memory),
                        call("c3", "add_memory", content="x", category="NOT_A_CATEGORY")]},
        {"tool_calls": [call("c4", "list_memories")]},
        {"text": ["ok"]},
    ])
    created = await carol.client.mutation("tasks:create", {**SCRATCH, "message": "Remember"})
    await run_all(agent_t)
    calls = await carol.client.query("agent:toolCalls", {"taskId": created["taskId"]})
    assert [c["status"] for c in calls] == ["SUCCEEDED", "FAILED", "FAILED", "SUCCEEDED"]
    assert "invalid arguments" in calls[2]["result"]["error"]
    listed = calls[3]["result"]["memories"]
    assert [(m["category"], m["content"]) for m in listed] == [
        ("TESTING", "Tests run with make test")]
    # Dave's memory is untouched, and the new one is Carol's, of the task's repository.
    assert [m["content"] for m in await dave.client.query(
        "memories:list", {"repoFullName": SCRATCH["repoFullName"]})] == ["Dave's fact"]
    assert [m["content"] for m in await carol.client.query(
        "memories:list", {"repoFullName": SCRATCH["repoFullName"]})] == [
        "Tests run with make test"]
