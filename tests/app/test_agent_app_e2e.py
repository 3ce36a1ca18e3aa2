"""The example app's agent end to end: a live `reactor serve`, the official `convex` client
(tests/node/app_agent.mjs) and the fake LLM server process (tests/fake_llm.py).

The fake serves its scripted responses in order to whichever run asks, so the
tests here run one after another on one server and one fake.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from e2e_support import NODE_DIR, REPO_ROOT, ReactorServer, run_node
from fake_llm import FakeLLM
from sync_support import http_json

MODEL = "fake-model"
README = "# Widgets\n\nBuild with `make`; test with `make test`.\n"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local git repository the tasks clone."""
    root = tmp_path_factory.mktemp("repos")
    repo = root / "widgets"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text(README)
    subprocess.run(["git", "-C", str(repo), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@e",
                    "commit", "-qm", "init"], check=True)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, node_modules: Path, llm: FakeLLM,
           repos: Path) -> Iterator[ReactorServer]:
    data = tmp_path_factory.mktemp("agent-app-data")
    with ReactorServer(REPO_ROOT, data) as running:
        configure(running, llm, repos)
        yield running


def configure(server: ReactorServer, llm: FakeLLM, repos: Path, **more: str) -> None:
    """The deployment's settings: the provider (the fake), workspaces, local repositories."""
    key = (server.data_dir / "auth" / "admin_key").read_text().strip()
    for name, value in {"OPENAI_BASE_URL": llm.openai_url,
                        "WORKSPACE_ROOT": str(server.data_dir / "workspaces"),
                        "LOCAL_REPO_ROOT": str(repos), **more}.items():
        status, body = http_json(f"{server.url}/api/admin/env/{name}", method="PUT",
                                 body={"value": value},
                                 headers={"Authorization": f"Convex {key}"})
        assert status == 200, body


@pytest.fixture(autouse=True)
def _fresh(llm: FakeLLM) -> None:
    llm.reset()


def node(server: ReactorServer, mode: str, task: dict[str, Any], *extra: str) -> Any:
    key = (server.data_dir / "auth" / "admin_key").read_text().strip()
    return run_node(NODE_DIR / "app_agent.mjs", server.url, mode, json.dumps(task), MODEL,
                    *extra, env={"REACTOR_ADMIN_KEY": key}, timeout=90)


def call(call_id: str, name: str, **args: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "args": json.dumps(args), "split": 3}


def words(n: int) -> list[str]:
    return [("" if i == 0 else " ") + f"word{i}" for i in range(n)]


def test_todos_and_a_file_read_then_a_streamed_answer(server: ReactorServer, llm: FakeLLM,
                                                      repos: Path) -> None:
    answer = words(60)
    llm.script([
        {"tool_calls": [call("c1", "todo_write", merge=False, todos=[
            {"id": "read", "content": "Read the README", "status": "in_progress"},
            {"id": "answer", "content": "Answer", "status": "pending"}]),
            call("c2", "read_file", target_file="README.md")],
         "usage": {"input": 50, "output": 20}},
        {"text": answer, "delay_s": 0.03, "usage": {"input": 120, "output": 60}},
    ])
    result = node(server, "answer", {"repoUrl": str(repos / "widgets")})
    task = result["task"]
    assert task["status"] == "COMPLETED" and task["initStatus"] == "ACTIVE"
    assert [(t["todoId"], t["status"]) for t in result["todos"]] == [
        ("read", "IN_PROGRESS"), ("answer", "PENDING")]
    calls = result["toolCalls"]
    assert [(c["toolName"], c["status"]) for c in calls] == [
        ("todo_write", "SUCCEEDED"), ("read_file", "SUCCEEDED")]
    assert calls[0]["result"] == {"success": True, "totalTodos": 2, "completedTodos": 0}
    assert calls[1]["result"]["content"] == README.rstrip("\n")

    message = result["messages"][-1]
    text = "".join(answer)
    assert (message["role"], message["content"], message["finishReason"]) == (
        "ASSISTANT", text, "stop")
    assert message["metadata"]["isStreaming"] is False
    assert message["metadata"]["usage"] == {"promptTokens": 170, "completionTokens": 80,
                                            "totalTokens": 250}
    assert [p["type"] for p in message["metadata"]["parts"]] == [
        "tool-call", "tool-call", "tool-result", "tool-result", "text"]
    # The model was sent the tool results of the first step.
    sent = llm.requests()[1]["body"]["messages"]
    assert any(m["role"] == "tool" and "Widgets" in m["content"] for m in sent)

    versions = result["versions"]
    contents = [v["content"] for v in versions]
    assert all(later.startswith(earlier) for earlier, later in pairwise(contents))
    intermediate = {c for c, v in zip(contents, versions, strict=True)
                    if v["isStreaming"] and c and c != text}
    assert len(intermediate) >= 10, contents
    assert versions[-1]["isStreaming"] is False
    assert result["statuses"][-1] == "COMPLETED" and "RUNNING" in result["statuses"]


def test_stop_mid_stream_keeps_what_streamed(server: ReactorServer, llm: FakeLLM) -> None:
    answer = words(300)
    llm.script([{"text": answer, "delay_s": 0.03}])
    result = node(server, "stop", {"isScratchpad": True, "repoUrl": "", "baseBranch": ""})
    assert result["task"]["status"] == "STOPPED"
    message = result["messages"][-1]
    assert message["metadata"]["isStreaming"] is False
    assert message["finishReason"] == "other"
    full = "".join(answer)
    assert message["content"] and full.startswith(message["content"])
    assert len(message["content"]) < len(full)
    sealed_at = next(v["at"] for v in result["versions"] if v["isStreaming"] is False)
    assert sealed_at - result["stoppedAt"] < 2000


def test_a_provider_error_fails_the_task(server: ReactorServer, llm: FakeLLM) -> None:
    llm.script([{"status": 401, "body": {"error": {"message": "Incorrect API key provided"}}}])
    result = node(server, "answer", {"isScratchpad": True, "repoUrl": "", "baseBranch": ""})
    task = result["task"]
    assert task["status"] == "FAILED"
    assert "401" in task["errorMessage"] and "Incorrect API key" in task["errorMessage"]
    message = result["messages"][-1]
    assert message["finishReason"] == "error" and message["metadata"]["isStreaming"] is False
    assert message["metadata"]["parts"][-1]["error"] == task["errorMessage"]


def test_twenty_concurrent_runs_all_complete(server: ReactorServer, llm: FakeLLM) -> None:
    llm.script([{"text": words(12), "delay_s": 0.01, "repeat": 20}])
    result = node(server, "concurrent",
                  {"isScratchpad": True, "repoUrl": "", "baseBranch": ""}, "20")
    runs = result["results"]
    assert len(runs) == 20
    assert [r["task"]["status"] for r in runs] == ["COMPLETED"] * 20
    for run in runs:
        message = run["messages"][-1]
        assert message["role"] == "ASSISTANT" and message["content"] == "".join(words(12))
        assert message["metadata"]["isStreaming"] is False
    assert len(llm.requests()) == 20


def test_a_run_killed_with_its_server_is_interrupted_then_resumes(
        tmp_path: Path, node_modules: Path, llm: FakeLLM, repos: Path) -> None:
    # The resumed answer streams for 2.5 s, past the 1 s lease: renewals keep it alive.
    llm.script([{"text": words(400), "delay_s": 0.03}, {"text": words(50), "delay_s": 0.05}])
    with ReactorServer(REPO_ROOT, tmp_path / "data") as running:
        configure(running, llm, repos, AGENT_LEASE_S="1")
        begun = node(running, "begin", {"isScratchpad": True, "repoUrl": "", "baseBranch": ""})
        running.kill()  # SIGKILL mid-stream
        running.restart()
        after = node(running, "resume", {}, json.dumps(begun))

    interrupted = after["interrupted"]
    assert interrupted["task"]["status"] == "FAILED"
    assert interrupted["task"]["errorMessage"].startswith("interrupted")
    first = interrupted["messages"][-1]
    assert first["role"] == "ASSISTANT" and first["metadata"]["isStreaming"] is False
    assert first["finishReason"] == "error" and first["content"].startswith("word0")
    assert first["metadata"]["parts"][-1]["error"].startswith("interrupted")

    resumed = after["resumed"]
    assert resumed["task"]["status"] == "COMPLETED"
    assert [(m["sequence"], m["role"]) for m in resumed["messages"]] == [
        (1, "USER"), (2, "ASSISTANT"), (3, "USER"), (4, "ASSISTANT")]
    assert resumed["messages"][1] == first  # the interrupted answer stays as it was sealed
    assert resumed["messages"][3]["content"] == "".join(words(50))
    assert all(not m.get("metadata", {}).get("isStreaming") for m in resumed["messages"])
