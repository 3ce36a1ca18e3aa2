"""The example app through a live `reactor serve` and the official `convex` client (Node).

One server of the repository-root app per module, on a fresh data directory;
each test signs up its own users, so the tests do not depend on one another.
The Node scripts are tests/node/app_*.mjs; the walkthrough test runs the code
of docs/guide/example-app.md exactly as the page shows it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from client_js_support import CLIENT_JS
from e2e_support import NODE_DIR, REPO_ROOT, ReactorServer, run_node
from sync_support import http_json

GUIDE = REPO_ROOT / "docs" / "guide" / "example-app.md"
CLEANUP_DELAY_MS = 15 * 60 * 1000
TASK_LIMIT = 5


# The data directory of each running server by URL: scripts read the admin key there.
DATA_DIRS: dict[str, Path] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[ReactorServer]:
    with ReactorServer(REPO_ROOT, tmp_path_factory.mktemp("example-app-data")) as running:
        DATA_DIRS[running.url] = running.data_dir
        yield running


def node(script: str, url: str, *args: str) -> Any:
    """Run a script against the server at `url`; its sign-ups read codes with the admin key."""
    key = (DATA_DIRS[url] / "auth" / "admin_key").read_text().strip()
    return run_node(NODE_DIR / script, url, *args, env={"REACTOR_ADMIN_KEY": key}, timeout=60)


def admin_key(server: ReactorServer) -> str:
    return (server.data_dir / "auth" / "admin_key").read_text().strip()


def admin_get(server: ReactorServer, path: str) -> Any:
    status, body = http_json(f"{server.url}{path}", method="GET",
                             headers={"Authorization": f"Convex {admin_key(server)}"})
    assert status == 200, body
    return body


def code(outcome: dict[str, Any]) -> str:
    """The app's error code of a refused call as the client reported it."""
    assert "error" in outcome, f"expected a refusal, the call returned {outcome.get('value')!r}"
    return str(outcome["error"]["data"]["code"])


def test_the_frontends_three_calls_over_http(server: ReactorServer) -> None:
    result = node("app_frontend.mjs", server.url)
    user_id = result["user"]["userId"]
    assert result["me"]["_id"] == user_id
    assert result["signIn"]["userId"] == user_id and result["signIn"]["token"]
    assert result["wrongPassword"]["error"]["data"] == {"code": "InvalidCredentials"}

    assert list(result["created"]) == ["taskId"]
    task_id = result["created"]["taskId"]
    assert [list(a) for a in result["appended"]] == [["messageId", "sequence"]] * 3
    assert [a["sequence"] for a in result["appended"]] == [2, 3, 4]

    messages = result["messages"]
    assert [m["sequence"] for m in messages] == [1, 2, 3, 4]
    assert [m["_id"] for m in messages[1:]] == [a["messageId"] for a in result["appended"]]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("USER", "Why does the test flake?"), ("ASSISTANT", "It depends on the wall clock."),
        ("USER", "Then freeze the clock."), ("SYSTEM", "Workspace ready.")]
    # An explicit llmModel wins; otherwise the task's mainModel.
    assert [m["llmModel"] for m in messages] == ["model-a", "model-b", "model-a", "model-a"]
    assert all(m["taskId"] == task_id for m in messages)

    task = result["task"]
    assert task["userId"] == user_id and task["_id"] == task_id
    assert (task["status"], task["initStatus"]) == ("INITIALIZING", "INACTIVE")
    assert task["shadowBranch"] == f"shadow/task-{task_id}"


def test_fifty_concurrent_appends_get_distinct_consecutive_sequences(
        server: ReactorServer) -> None:
    conflicts_before = admin_get(server, "/api/debug/stats")["committer"]["conflicts"]
    result = node("app_concurrent.mjs", server.url, "50")
    conflicts_after = admin_get(server, "/api/debug/stats")["committer"]["conflicts"]

    sequences = [r["sequence"] for r in result["results"]]
    assert sorted(sequences) == list(range(2, 52))  # the task's first message is 1
    assert len({r["messageId"] for r in result["results"]}) == 50
    stored = result["stored"]
    assert [m["sequence"] for m in stored] == list(range(1, 52))
    # Each caller got back the id and sequence its own message was stored with.
    by_id = {m["_id"]: m for m in stored}
    for i, returned in enumerate(result["results"]):
        assert by_id[returned["messageId"]] == {
            "_id": returned["messageId"], "sequence": returned["sequence"],
            "content": f"burst {i}"}
    assert result["live"] == stored
    # The appends really overlapped: some ran against a stale last message and were re-run.
    assert conflicts_after > conflicts_before


def test_a_subscriber_sees_the_answer_stream_in(server: ReactorServer) -> None:
    result = node("app_streaming.mjs", server.url, "20", "25")
    text = "".join(result["words"])
    versions = result["versions"]
    *streaming, final = versions

    assert streaming and all(v["isStreaming"] for v in streaming)
    contents = [v["content"] for v in streaming]
    assert all(later.startswith(earlier) for earlier, later in pairwise(contents))
    intermediate = {c for c in contents if c and c != text}
    assert len(intermediate) >= 10, contents

    half = len(result["words"]) // 2 + 1
    assert final["isStreaming"] is False and final["content"] == text
    assert final["parts"] == [
        {"type": "text", "text": "".join(result["words"][:half])},
        {"type": "tool-call", "toolCallId": "c1", "toolName": "read_file",
         "args": {"path": "Makefile"}},
        {"type": "tool-result", "toolCallId": "c1", "toolName": "read_file",
         "result": {"lines": 40}},
        {"type": "text", "text": "".join(result["words"][half:])}]

    message = result["final"]
    assert (message["role"], message["finishReason"], message["totalTokens"]) == (
        "ASSISTANT", "stop", 32)
    assert message["metadata"]["usage"] == {"promptTokens": 12, "completionTokens": 20,
                                            "totalTokens": 32}
    statuses = result["statuses"]
    assert statuses[0] == "INITIALIZING" and statuses[-1] == "COMPLETED"
    assert "RUNNING" in statuses
    task = result["task"]
    assert task["status"] == "COMPLETED"
    assert task["scheduledCleanupAt"] == pytest.approx(task["updatedAt"] + CLEANUP_DELAY_MS)


def test_another_users_task_is_refused(server: ReactorServer) -> None:
    result = node("app_access.mjs", server.url)
    task_id = result["taskId"]
    for call, outcome in result["foreign"].items():
        # Each refusal names what Bob passed: Alice's id where he named her, the message
        # (not the task it belongs to) where he named a message.
        if call == "createForAlice":
            assert outcome["error"]["data"] == {"code": "Forbidden", "userId": result["alice"]}
        elif call == "appendParts":
            assert outcome["error"]["data"] == {"code": "Forbidden", "id": result["messageId"]}
            assert task_id not in json.dumps(outcome)
        else:
            assert outcome["error"]["data"] == {"code": "Forbidden", "id": task_id}, call
    assert {call: code(outcome) for call, outcome in result["signedOut"].items()} == {
        "create": "Unauthenticated", "byTask": "Unauthenticated"}
    # Nothing the other user tried changed the task.
    assert [(m["role"], m["content"]) for m in result["messages"]] == [
        ("USER", "mine"), ("ASSISTANT", "")]
    assert result["task"]["status"] == "RUNNING"
    assert result["bobTasks"] == []


def test_refused_transitions_the_task_limit_and_unique_emails(server: ReactorServer) -> None:
    result = node("app_rules.mjs", server.url, "8")
    transitions = {call: outcome["error"]["data"]
                   for call, outcome in result["transitions"].items()}
    refused = {"code": "InvalidTransition", "from": "ARCHIVED", "to": "RUNNING"}
    assert transitions == {
        "initializingToCompleted": {"code": "InvalidTransition", "from": "INITIALIZING",
                                    "to": "COMPLETED"},
        "failedWithoutMessage": {"code": "InvalidArgument", "field": "errorMessage"},
        "archivedToRunning": refused,
        "userMessageOnArchived": refused,
        "answerOnArchived": refused,
    }
    assert result["archived"]["status"] == "ARCHIVED"
    assert [m["content"] for m in result["archivedMessages"]] == ["first"]

    # Eight creates raced for five slots: the limit held under concurrency.
    race = result["race"]
    assert sum("value" in outcome for outcome in race) == TASK_LIMIT
    assert [outcome["error"]["data"] for outcome in race if "error" in outcome] == [
        {"code": "TaskLimitReached", "limit": TASK_LIMIT}] * (len(race) - TASK_LIMIT)
    assert code(result["afterStop"]) == "TaskLimitReached"  # a STOPPED task still counts
    assert "taskId" in result["afterArchive"]["value"]
    statuses = sorted(task["status"] for task in result["racerTasks"])
    assert statuses == ["ARCHIVED"] + ["INITIALIZING"] * TASK_LIMIT

    # Racing sign-ups of one email: each answered "code sent" until the email's rate
    # limit (3 an hour) refuses the rest; none says whether the email is taken.
    sign_ups = result["signUps"]
    assert [o["value"] for o in sign_ups if "value" in o] == [{"status": "codeSent"}] * 3
    assert [code(o) for o in sign_ups if "error" in o] == ["RateLimited"] * (len(sign_ups) - 3)


def test_deleting_a_task_or_an_account_leaves_no_orphans(server: ReactorServer) -> None:
    key = admin_key(server)
    result = node("app_cascade.mjs", server.url, key)
    before, after = result["before"]["counts"], result["after"]["counts"]
    assert result["before"]["orphans"] == [] and result["after"]["orphans"] == []
    removed = {table: before[table] - after[table] for table in before}
    # The task with its 2 messages, 1 pull-request snapshot, 2 todos, 1 memory, 1 session.
    assert removed == {**dict.fromkeys(before, 0), "tasks": 1, "chatMessages": 2,
                       "pullRequestSnapshots": 1, "todos": 2, "memories": 1, "taskSessions": 1}
    assert result["jobBefore"]["state"] == {"kind": "pending"}
    assert result["jobAfter"]["state"] == {"kind": "canceled"}
    assert result["chatErrors"][0]["data"] == {"code": "NotFound", "id": result["taskId"]}
    assert code(result["again"]) == "NotFound"
    assert (result["keptMessages"], result["keptTodos"]) == (2, 2)

    account = result["afterAccount"]
    assert account["orphans"] == []
    gone = {table: after[table] - account["counts"][table] for table in after}
    # The user, their password and the session their sign-up opened.
    assert gone == {**removed, "users": 1, "authPasswords": 1, "authSessions": 1}
    assert result["signedOut"] is None

    # The same report over plain HTTP: `Authorization: Convex <admin key>` ...
    request = {"path": "integrity:report", "args": [{}]}
    status, body = http_json(f"{server.url}/api/query", request,
                             headers={"Authorization": f"Convex {key}"})
    assert (status, body["status"]) == (200, "success")
    assert body["value"] == account
    # ... and without the key an internal function does not exist for the caller.
    status, body = http_json(f"{server.url}/api/query", request)
    assert body["status"] == "error"
    assert "Could not find public function for " in body["errorMessage"]


def test_an_external_identity_is_a_user_only_through_its_external_id(
        server: ReactorServer) -> None:
    result = node("app_external.mjs", server.url, admin_key(server))
    assert result["before"] is None
    assert result["me"]["_id"] == result["userId"]
    assert result["me"]["externalId"].startswith("https://id.example.com|gh-")
    # Sessions are for everyone signed in, not only password users.
    session = result["session"]["value"]
    assert result["validated"] == {"sessionId": session["sessionId"],
                                   "userId": result["userId"],
                                   "expiresAt": session["expiresAt"]}
    # Another issuer's subject that happens to be a users _id does not make it that user.
    spoofed = result["spoofed"]
    assert spoofed["currentUser"] == {"value": None}
    assert code(spoofed["listByUser"]) == "Unauthenticated"
    assert code(spoofed["get"]) == "Unauthenticated"


def walkthrough_scripts() -> dict[str, str]:
    """The walkthrough's script as the page shows it, and its reactor-client variant.

    The page gives the official client's script in full, then the lines that replace
    its first lines (through `const client = ...`) for reactor-client.
    """
    section = GUIDE.read_text().split("## Walkthrough", 1)[1]
    official, client_js_head = re.findall(r"```js\n(.*?)```", section, re.DOTALL)
    head_end = official.index("\n", official.index("const client = ")) + 1
    assert "new ConvexClient(" in official[:head_end]
    assert "new ReactorClient(" in client_js_head
    return {"convex": official, "reactor-client": client_js_head + official[head_end:]}


def test_the_walkthrough_follows_make_dev_and_the_installed_client() -> None:
    section = GUIDE.read_text().split("## Walkthrough", 1)[1]
    assert "make dev" in section and "reactor dev ." in section
    assert re.search(r"^dev: .*\n\t\$\(BIN\)/reactor dev \.( \$\(ARGS\))?$",
                     (REPO_ROOT / "Makefile").read_text(), re.MULTILINE)
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]["convex"]
    assert f"npm install convex@{pinned}" in section


@pytest.mark.parametrize("client", ["convex", "reactor-client"])
def test_the_walkthrough_runs_as_written(server: ReactorServer, tmp_path: Path,
                                         client: str) -> None:
    modules = tmp_path / "node_modules"
    modules.mkdir()
    for name in ("convex", "ws"):
        (modules / name).symlink_to(NODE_DIR / "node_modules" / name, target_is_directory=True)
    (modules / "reactor-client").symlink_to(CLIENT_JS, target_is_directory=True)
    script = tmp_path / "walkthrough.mjs"
    script.write_text(walkthrough_scripts()[client])

    started = time.time() * 1000
    run = subprocess.run(["node", str(script)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "REACTOR_URL": server.url,
                                          "REACTOR_ADMIN_KEY": admin_key(server)})
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()

    assert re.fullmatch(r"signed up as dev\+\d+@example\.com", lines[0])
    done = re.fullmatch(r"task COMPLETED, cleanup at (\S+)", lines[-1])
    assert done, lines[-1]
    cleanup_at = datetime.fromisoformat(done.group(1)).timestamp() * 1000
    assert started + CLEANUP_DELAY_MS - 60_000 < cleanup_at < started + CLEANUP_DELAY_MS + 60_000

    updates = "\n".join(lines[1:-1]).split("\n---")
    assert updates[-1] == ""
    updates = [update.strip("\n").splitlines() for update in updates[:-1]]
    question = "#1 USER: How is this project built?"
    answer = "It builds with make: `make dev` runs the server, `make test` the tests."
    assert all(update[0] == question for update in updates), updates
    assert updates[-1] == [question, f"#2 ASSISTANT: {answer}"]
    streamed = []
    for update in updates[:-1]:
        if update == [question]:
            continue  # before the agent started answering
        assert len(update) == 2, update
        shown = re.fullmatch(r"#2 ASSISTANT: (.*) …", update[1])
        assert shown, update[1]
        streamed.append(shown.group(1))
    # It grew in batches: more than one step, fewer updates than the answer has words.
    assert streamed[0] == "" and all(answer.startswith(text) for text in streamed)
    assert any(text for text in streamed)
    assert len(streamed) < len(answer.split(" "))
