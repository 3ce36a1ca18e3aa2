"""Agent runs stored in the library's tables: tools, streaming batches, stop, failures,
idempotent batches. In-process engine, fake provider process."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_llm import FakeLLM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "agent"
PAGE = {"numItems": 100, "cursor": None}


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
async def t(llm: FakeLLM) -> AsyncIterator[ReactorTest]:
    llm.reset()
    async with ReactorTest(APP) as test:
        await test.environment.set("OPENAI_BASE_URL", llm.openai_url)
        await test.environment.set("OPENAI_API_KEY", "sk-test-key")
        yield test


async def messages(t: ReactorTest, thread: str) -> list[dict[str, Any]]:
    page = await t.query("agent:listMessages", {"threadId": thread, "paginationOpts": PAGE})
    return list(page["page"])


async def test_tool_call_then_streamed_answer(t: ReactorTest, llm: FakeLLM) -> None:
    llm.script([
        {"tool_calls": [{"id": "c1", "name": "add", "args": '{"a": 2, "b": 3}', "split": 4},
                        {"id": "c2", "name": "note", "args": '{"text": "hi"}'}],
         "usage": {"input": 10, "output": 3}},
        {"text": ["Five", " it", " is."], "usage": {"input": 20, "output": 4}},
    ])
    result = await t.action("chat:start", {"prompt": "2+3?"})
    assert result["status"] == "completed", result
    assert (result["text"], result["steps"], result["tokens"]) == ("Five it is.", 2, 37)
    thread = result["threadId"]
    stored = await messages(t, thread)
    assert [(m["order"], m["stepOrder"], m["role"], m["status"]) for m in stored] == [
        (1, 0, "user", "success"), (1, 1, "assistant", "success"),
        (1, 2, "assistant", "success")]
    first = stored[1]
    assert [p["type"] for p in first["parts"]] == ["tool-call", "tool-call", "tool-result",
                                                   "tool-result"]
    assert first["finishReason"] == "tool-calls"
    assert first["usage"] == {"inputTokens": 10, "outputTokens": 3, "totalTokens": 13}
    assert stored[2]["text"] == "Five it is." and stored[2]["finishReason"] == "stop"
    calls = await t.query("agent:listToolCalls", {"threadId": thread})
    assert [(c["toolCallId"], c["status"], c["result"]) for c in calls] == [
        ("c1", "SUCCEEDED", 5), ("c2", "SUCCEEDED", "noted")]
    assert await t.query("chat:notes", {"threadId": thread}) == ["ws:hi"]
    state = await t.query("agent:getThread", {"threadId": thread})
    assert state["status"] == "completed" and "runId" not in state
    sent = llm.requests()[1]["body"]["messages"]
    assert sent[0] == {"role": "system", "content": "You are a test agent."}
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "tool"]

    # A second prompt sees the first exchange as context.
    llm.script([{"text": ["Again."]}])
    again = await t.action("chat:ask", {"threadId": thread, "prompt": "and again?"})
    assert (again["status"], again["order"]) == ("completed", 2)
    context = llm.requests()[2]["body"]["messages"]
    assert [m["role"] for m in context] == ["system", "user", "assistant", "tool", "tool",
                                            "assistant", "user"]


async def test_subscriber_sees_the_message_grow(t: ReactorTest, llm: FakeLLM) -> None:
    words = [f"w{i} " for i in range(60)]
    llm.script([{"text": words, "delay_s": 0.02}])
    thread = await t.mutation("agent:createThread", {})
    versions: list[str] = []
    async with t.subscribe("agent:listMessages", {"threadId": thread,
                                                  "paginationOpts": PAGE}) as sub:
        run = asyncio.ensure_future(t.action("chat:ask", {"threadId": thread,
                                                          "prompt": "talk"}))
        while True:
            page = await sub.next(timeout=10)
            answer = [m for m in page["page"] if m["role"] == "assistant"]
            if answer:
                versions.append(answer[0]["text"])
                if answer[0]["status"] != "streaming":
                    break
        result = await run
    assert result["status"] == "completed"
    assert versions[-1] == "".join(words)
    assert len(set(versions)) >= 10, versions
    assert all(b.startswith(a) for a, b in itertools.pairwise(versions))
    message = (await messages(t, thread))[1]
    deltas = await t.query("agent:listDeltas", {"messageId": message["_id"]})
    assert "".join(p["text"] for d in deltas for p in d["parts"]) == "".join(words)
    assert [d["chunk"] for d in deltas] == list(range(1, len(deltas) + 1))


async def test_stop_mid_stream_keeps_what_streamed(t: ReactorTest, llm: FakeLLM) -> None:
    llm.script([{"text": [f"t{i} " for i in range(200)], "delay_s": 0.02}])
    thread = await t.mutation("agent:createThread", {})
    run = asyncio.ensure_future(t.action("chat:ask", {"threadId": thread, "prompt": "go"}))
    async with t.subscribe("agent:listMessages", {"threadId": thread,
                                                  "paginationOpts": PAGE}) as sub:
        while not any(m["role"] == "assistant" and len(m["text"]) > 20
                      for m in (await sub.next(timeout=10))["page"]):
            pass
    assert await t.mutation("agent:stop", {"threadId": thread}) is True
    stopped_at = asyncio.get_running_loop().time()
    result = await asyncio.wait_for(run, 5)
    assert asyncio.get_running_loop().time() - stopped_at < 1.0
    assert result["status"] == "stopped"
    answer = (await messages(t, thread))[1]
    assert answer["status"] == "stopped" and answer["finishReason"] == "stopped"
    assert len(answer["text"]) > 20 and answer["text"].startswith("t0 t1 ")
    assert len(answer["text"]) < len("".join(f"t{i} " for i in range(200)))
    state = await t.query("agent:getThread", {"threadId": thread})
    assert (state["status"], state["endReason"]) == ("stopped", "stopped by the user")
    assert await t.mutation("agent:stop", {"threadId": thread}) is False


async def test_provider_error_fails_the_message_with_its_words(t: ReactorTest,
                                                              llm: FakeLLM) -> None:
    llm.script([{"status": 400, "body": {"error": {"message": "model gpt-test is unknown"}}}])
    thread = await t.mutation("agent:createThread", {})
    result = await t.action("chat:ask", {"threadId": thread, "prompt": "hi"})
    assert result["status"] == "failed"
    assert "HTTP 400: model gpt-test is unknown" in result["error"]
    answer = (await messages(t, thread))[1]
    assert answer["status"] == "failed" and "model gpt-test is unknown" in answer["error"]
    assert answer["parts"][-1]["type"] == "error"
    state = await t.query("agent:getThread", {"threadId": thread})
    assert state["status"] == "failed" and "unknown" in state["error"]
    assert "sk-test-key" not in str(state) + str(answer)


async def test_dropped_stream_fails_clearly_keeping_the_text(t: ReactorTest,
                                                             llm: FakeLLM) -> None:
    llm.script([{"text": ["part one, ", "part two, ", "never"], "drop_after": 3,
                 "delay_s": 0.08}])
    thread = await t.mutation("agent:createThread", {})
    result = await t.action("chat:ask", {"threadId": thread, "prompt": "hi"})
    assert result["status"] == "failed" and "dropped mid-stream" in result["error"]
    answer = (await messages(t, thread))[1]
    assert answer["status"] == "failed"
    assert answer["text"] == "part one, part two, "


async def test_429_then_success(t: ReactorTest, llm: FakeLLM) -> None:
    llm.script([{"status": 429, "headers": {"Retry-After": "0"}}, {"text": ["fine"]}])
    thread = await t.mutation("agent:createThread", {})
    result = await t.action("chat:ask", {"threadId": thread, "prompt": "hi"})
    assert (result["status"], result["text"]) == ("completed", "fine")
    assert len(llm.requests()) == 2


async def test_generate_text_writes_each_step_once(t: ReactorTest, llm: FakeLLM) -> None:
    llm.script([{"text": [f"{i}" for i in range(30)]}])
    thread = await t.mutation("agent:createThread", {})
    result = await t.action("chat:ask", {"threadId": thread, "prompt": "hi",
                                         "stream": False})
    assert result["text"] == "".join(f"{i}" for i in range(30))
    answer = (await messages(t, thread))[1]
    deltas = await t.query("agent:listDeltas", {"messageId": answer["_id"]})
    assert len(deltas) == 1


async def test_a_tool_error_goes_back_to_the_model(t: ReactorTest, llm: FakeLLM) -> None:
    llm.script([{"tool_calls": [{"id": "c1", "name": "add", "args": '{"a": "x", "b": 1}'}]},
                {"text": ["Sorry."]}])
    thread = await t.mutation("agent:createThread", {})
    result = await t.action("chat:ask", {"threadId": thread, "prompt": "hi"})
    assert result["status"] == "completed"
    calls = await t.query("agent:listToolCalls", {"threadId": thread})
    assert calls[0]["status"] == "FAILED" and "invalid arguments" in calls[0]["result"]["error"]
    sent = llm.requests()[1]["body"]["messages"][-1]
    assert sent["role"] == "tool" and "invalid arguments" in sent["content"]


async def begin(t: ReactorTest) -> tuple[str, str, str]:
    thread = await t.mutation("agent:createThread", {})
    await t.mutation("agent:saveUserMessage", {"threadId": thread, "text": "q"})
    await t.mutation("agent:beginRun", {"threadId": thread, "order": 1, "leaseMs": 60_000,
                                        "runId": "r1", "takeover": False})
    step = await t.mutation("agent:beginStep", {"threadId": thread, "runId": "r1", "order": 1,
                                                "stepOrder": 1, "model": "m",
                                                "leaseMs": 60_000})
    return thread, "r1", step["messageId"]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet="abcé😀 ", min_size=1, max_size=6), min_size=1, max_size=12),
       st.lists(st.integers(0, 11), max_size=12))
async def test_retried_batches_never_duplicate(t: ReactorTest, chunks: list[str],
                                               retries: list[int]) -> None:
    thread, run, message = await begin(t)
    sends = list(range(len(chunks)))
    for index in retries:  # re-send some batches (a retry after a lost answer) later on
        if index < len(chunks):
            sends.insert(min(len(sends), sends.index(index) + 2), index)
    for index in sends:
        await t.mutation("agent:appendBatch", {
            "threadId": thread, "runId": run, "messageId": message, "attempt": 1,
            "chunk": index + 1, "parts": [{"type": "text", "text": chunks[index]}],
            "leaseMs": 60_000})
    done = {"threadId": thread, "runId": run, "messageId": message, "attempt": 1,
            "chunk": len(chunks) + 1, "parts": [], "status": "success",
            "finishReason": "stop", "toolCalls": [], "threadStatus": "completed"}
    await t.mutation("agent:finishStep", done)
    assert (await t.mutation("agent:finishStep", done))["applied"] is False
    stored = (await messages(t, thread))[1]
    assert stored["text"] == "".join(chunks) and stored["status"] == "success"
    assert len([p for p in stored["parts"] if p["type"] == "text"]) == 1
    deltas = await t.query("agent:listDeltas", {"messageId": message})
    assert [d["chunk"] for d in deltas] == list(range(1, len(chunks) + 1))


async def test_stale_runs_cannot_write(t: ReactorTest) -> None:
    thread, _run, message = await begin(t)
    await t.mutation("agent:beginRun", {"threadId": thread, "order": 1, "leaseMs": 60_000,
                                        "runId": "r2", "takeover": True})
    answer = await t.mutation("agent:appendBatch", {
        "threadId": thread, "runId": "r1", "messageId": message, "attempt": 1, "chunk": 1,
        "parts": [{"type": "text", "text": "zombie"}], "leaseMs": 60_000})
    assert answer["stale"] is True
    assert (await messages(t, thread))[1]["text"] == ""
    with pytest.raises(Exception, match="running another run"):
        await t.mutation("agent:beginRun", {"threadId": thread, "order": 1,
                                            "leaseMs": 60_000, "runId": "r3",
                                            "takeover": False})


async def test_stop_while_a_tool_runs(t: ReactorTest, llm: FakeLLM) -> None:
    llm.script([{"tool_calls": [{"id": "w1", "name": "wait", "args": '{"seconds": 30}'}]}])
    thread = await t.mutation("agent:createThread", {})
    run = asyncio.ensure_future(t.action("chat:ask", {"threadId": thread, "prompt": "wait"}))

    async def running() -> bool:
        calls = await t.query("agent:listToolCalls", {"threadId": thread})
        return bool(calls) and calls[0]["status"] == "RUNNING"

    while not await running():
        await asyncio.sleep(0.02)
    await t.mutation("agent:stop", {"threadId": thread, "reason": "user left"})
    result = await asyncio.wait_for(run, 2)
    assert result["status"] == "stopped"
    call = (await t.query("agent:listToolCalls", {"threadId": thread}))[0]
    assert call["status"] == "FAILED" and "stopped" in call["result"]["error"]
    state = await t.query("agent:getThread", {"threadId": thread})
    assert (state["status"], state["endReason"]) == ("stopped", "user left")


async def test_anthropic_run_stores_reasoning(t: ReactorTest, llm: FakeLLM) -> None:
    await t.environment.set("AGENT_MODEL", "claude-test")
    await t.environment.set("ANTHROPIC_BASE_URL", llm.url)
    llm.script([{"reasoning": ["Think", "ing."], "signature": "s1",
                 "tool_calls": [{"id": "t1", "name": "add", "args": '{"a": 1, "b": 1}',
                                 "split": 2}]},
                {"text": ["Two."], "usage": {"input": 5, "output": 2}}])
    thread = await t.mutation("agent:createThread", {})
    result = await t.action("chat:ask", {"threadId": thread, "prompt": "1+1"})
    assert (result["status"], result["text"]) == ("completed", "Two.")
    first = (await messages(t, thread))[1]
    assert first["parts"][0] == {"type": "reasoning", "text": "Thinking.", "signature": "s1"}
    assert first["model"] == "claude-test"
    sent = llm.requests()[1]["body"]["messages"][1]["content"][0]
    assert sent == {"type": "thinking", "thinking": "Thinking.", "signature": "s1"}


async def test_concurrent_runs_on_different_threads(t: ReactorTest, llm: FakeLLM) -> None:
    runs = 8
    llm.script([{"text": ["a", "b", "c", "d", "e"], "delay_s": 0.02, "repeat": runs}])
    threads = [await t.mutation("agent:createThread", {}) for _ in range(runs)]
    results = await asyncio.gather(*(t.action("chat:ask", {"threadId": thread,
                                                          "prompt": "go"})
                                     for thread in threads))
    assert [r["status"] for r in results] == ["completed"] * runs, results
    for thread in threads:
        stored = await messages(t, thread)
        assert [(m["stepOrder"], m["text"]) for m in stored] == [(0, "go"), (1, "abcde")]


async def test_the_watchdog_interrupts_a_run_whose_lease_ran_out(t: ReactorTest) -> None:
    thread = await t.mutation("agent:createThread", {})
    await t.mutation("agent:saveUserMessage", {"threadId": thread, "text": "q"})
    await t.mutation("agent:beginRun", {"threadId": thread, "order": 1, "leaseMs": 100,
                                        "runId": "r1", "takeover": False})
    await t.mutation("agent:beginStep", {"threadId": thread, "runId": "r1", "order": 1,
                                         "stepOrder": 1, "model": "m", "leaseMs": 100})
    # Renewed: the watchdog due at 0.6 s finds the lease good until ~1 s and waits on.
    await t.mutation("agent:heartbeat", {"threadId": thread, "runId": "r1", "leaseMs": 1000})
    await asyncio.sleep(0.7)
    assert await t.run_scheduled() == 1
    assert (await t.query("agent:getThread", {"threadId": thread}))["status"] == "running"
    await asyncio.sleep(0.9)
    await t.run_scheduled()
    state = await t.query("agent:getThread", {"threadId": thread})
    assert (state["status"], state["endReason"]) == ("interrupted", "interrupted")
    assert (await messages(t, thread))[1]["status"] == "interrupted"


async def test_startup_marks_runs_left_running(tmp_path: Path) -> None:
    async with ReactorTest(APP, tmp_path) as t:
        thread = await t.mutation("agent:createThread", {})
        await t.mutation("agent:saveUserMessage", {"threadId": thread, "text": "q"})
        await t.mutation("agent:beginRun", {"threadId": thread, "order": 1,
                                            "leaseMs": 60_000, "runId": "r1",
                                            "takeover": False})
    async with ReactorTest(APP, tmp_path) as t:
        state = await t.query("agent:getThread", {"threadId": thread})
        assert (state["status"], state["error"]) == (
            "interrupted", "interrupted: the server stopped before the run finished")


async def test_context_adds_older_messages_found_by_search(t: ReactorTest,
                                                          llm: FakeLLM) -> None:
    await t.environment.set("AGENT_CONTEXT", "2")
    await t.environment.set("AGENT_SEARCH", "1")
    thread = await t.mutation("agent:createThread", {})
    for text in ["my giraffe is called Gerald", "the weather is fine", "lunch at noon",
                 "tea at four"]:
        await t.mutation("agent:saveUserMessage", {"threadId": thread, "text": text})
    llm.script([{"text": ["Gerald."]}])
    result = await t.action("chat:ask", {"threadId": thread,
                                         "prompt": "what is my giraffe called?"})
    assert result["status"] == "completed"
    sent = [m["content"] for m in llm.requests()[0]["body"]["messages"][1:]]
    assert sent == ["my giraffe is called Gerald", "lunch at noon", "tea at four",
                    "what is my giraffe called?"]


async def test_arguments_and_results_no_document_could_hold(t: ReactorTest,
                                                            llm: FakeLLM) -> None:
    llm.script([{"tool_calls": [{"id": "e1", "name": "echo", "args": '{"key": "k"}'},
                                {"id": "e2", "name": "echo",
                                 "args": '{"key": "k", "caf\u00e9": 1}'}]},
                {"text": ["ok"]}])
    thread = await t.mutation("agent:createThread", {})
    result = await t.action("chat:ask", {"threadId": thread, "prompt": "echo"})
    assert result["status"] == "completed", result
    first, second = await t.query("agent:listToolCalls", {"threadId": thread})
    assert (first["status"], first["result"]) == ("SUCCEEDED", {"json": '{"$k": "echoed"}'})
    assert second["status"] == "FAILED" and "invalid arguments" in second["result"]["error"]
    assert second["args"] == {"json": '{"key": "k", "caf\\u00e9": 1}'}
    sent = llm.requests()[1]["body"]["messages"]
    assert '"$k"' in sent[-2]["content"] and "invalid arguments" in sent[-1]["content"]


async def test_resume_after_a_crash_during_a_tool(tmp_path: Path, llm: FakeLLM) -> None:
    """The step that asked for the tool is kept, the tool is not run again, and the model
    is told it was interrupted."""
    async with ReactorTest(APP, tmp_path) as t:
        thread = await t.mutation("agent:createThread", {})
        await t.mutation("agent:saveUserMessage", {"threadId": thread, "text": "note it"})
        run = {"threadId": thread, "runId": "r1"}
        await t.mutation("agent:beginRun", {**run, "order": 1, "leaseMs": 60_000,
                                            "takeover": False})
        step = await t.mutation("agent:beginStep", {**run, "order": 1, "stepOrder": 1,
                                                    "model": "gpt-test", "leaseMs": 60_000})
        await t.mutation("agent:finishStep", {
            **run, "messageId": step["messageId"], "attempt": 1, "chunk": 1,
            "parts": [{"type": "text", "text": "Noting."}], "status": "success",
            "finishReason": "tool-calls",
            "toolCalls": [{"id": "n1", "name": "note", "args": {"text": "x"}}]})
        await t.mutation("agent:toolStarted", {**run, "toolCallId": "n1", "leaseMs": 60_000})
    llm.reset()
    async with ReactorTest(APP, tmp_path) as t:  # the restart: recoverRuns ran
        await t.environment.set("OPENAI_BASE_URL", llm.openai_url)
        call = (await t.query("agent:listToolCalls", {"threadId": thread}))[0]
        assert call["status"] == "FAILED" and "interrupted" in call["result"]["error"]
        llm.script([{"text": ["Could not note it."]}])
        result = await t.action("chat:ask", {"threadId": thread, "order": 1})
        assert (result["status"], result["text"]) == ("completed", "Could not note it.")
        stored = await messages(t, thread)
        assert [(m["stepOrder"], m["status"], m["text"]) for m in stored] == [
            (0, "success", "note it"), (1, "success", "Noting."),
            (2, "success", "Could not note it.")]
        assert await t.query("chat:notes", {"threadId": thread}) == []
        sent = llm.requests()[0]["body"]["messages"]
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool"]
        assert sent[2]["tool_calls"][0]["id"] == "n1"
        assert "interrupted" in sent[3]["content"]
