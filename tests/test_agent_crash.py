"""SIGKILL of a live server mid-stream: the run is `interrupted` as soon as the server is
back (the startup hook), keeps what streamed, and resuming the same order answers it
without a duplicate message."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ReactorServer
from fake_llm import FakeLLM
from sync_support import http_json

from reactor.cli.main import main

APP = Path(__file__).parent / "apps" / "agent"
PAGE = {"numItems": 100, "cursor": None}


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


def call(server: ReactorServer, kind: str, path: str, args: dict[str, Any]) -> Any:
    status, body = http_json(f"{server.url}/api/{kind}", {"path": path, "args": [args]})
    assert status == 200 and body["status"] == "success", body
    return body["value"]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def env_set(data: Path, name: str, value: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["env", "set", name, value, "--app", str(APP), "--data", str(data)])
    assert not exited.value.code


def test_sigkill_mid_stream_is_interrupted_then_resumes_without_duplicates(
        tmp_path: Path, llm: FakeLLM) -> None:
    data = tmp_path / "data"
    for name, value in (("OPENAI_BASE_URL", llm.openai_url), ("AGENT_LEASE_S", "30"),
                        ("AGENT_INTERVAL_S", "0.05")):
        env_set(data, name, value)
    llm.script([{"text": [f"x{i} " for i in range(400)], "delay_s": 0.03}])
    server = ReactorServer(APP, data).start()
    try:
        thread = call(server, "mutation", "agent:createThread", {})
        def ask() -> None:
            with contextlib.suppress(OSError):  # the server dies under this call
                http_json(f"{server.url}/api/action",
                          {"path": "chat:ask", "args": [{"threadId": thread, "prompt": "go"}]})

        runner = threading.Thread(target=ask, daemon=True)
        runner.start()

        def streamed() -> Any:
            page = call(server, "query", "agent:listMessages",
                        {"threadId": thread, "paginationOpts": PAGE})["page"]
            answer = [m for m in page if m["role"] == "assistant"]
            return answer and len(answer[0]["text"]) > 30 and answer[0]

        before = wait_for("streamed text", streamed)
        assert before["status"] == "streaming"
        server.kill()
        runner.join(5)
        server.start()

        # The startup hook marked it at once (the lease, 30 s, is far from over).
        state = call(server, "query", "agent:getThread", {"threadId": thread})
        assert state["status"] == "interrupted", state
        assert state["endReason"] == "interrupted" and "runId" not in state
        page = call(server, "query", "agent:listMessages",
                    {"threadId": thread, "paginationOpts": PAGE})["page"]
        assert [(m["order"], m["stepOrder"]) for m in page] == [(1, 0), (1, 1)]
        answer = page[1]
        assert answer["status"] == "interrupted" and answer["finishReason"] == "interrupted"
        assert answer["text"].startswith(before["text"])
        expected = "".join(f"x{i} " for i in range(400))
        assert expected.startswith(answer["text"])

        # Resume the same order: the unfinished step is redone in place.
        llm.script([{"text": ["Done", " now."]}])
        result = call(server, "action", "chat:ask", {"threadId": thread, "order": 1})
        assert (result["status"], result["text"], result["order"]) == (
            "completed", "Done now.", 1)
        page = call(server, "query", "agent:listMessages",
                    {"threadId": thread, "paginationOpts": PAGE})["page"]
        assert [(m["order"], m["stepOrder"], m["status"]) for m in page] == [
            (1, 0, "success"), (1, 1, "success")]
        assert page[1]["text"] == "Done now." and page[1]["attempt"] == 2
        deltas = call(server, "query", "agent:listDeltas", {"messageId": page[1]["_id"]})
        assert "".join(p["text"] for d in deltas for p in d["parts"]) == "Done now."
        resent = llm.requests()[-1]["body"]["messages"]
        assert [m["role"] for m in resent] == ["system", "user"]
    finally:
        server.stop()
