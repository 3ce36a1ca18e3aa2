"""reactor.agent without storage: tool schemas, both providers against the fake server
process, the step loop, retries and failures."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any, Literal, TypedDict

import pytest
from fake_llm import FakeLLM
from hypothesis import given
from hypothesis import strategies as st

from reactor.agent import (
    Finish,
    ProviderError,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolContext,
    ToolResult,
    provider_for,
    run_steps,
    split_model,
    tool,
)
from reactor.agent.tools import parse_docstring


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "llm" in request.fixturenames:
        request.getfixturevalue("llm").reset()


class Todo(TypedDict):
    id: str
    status: Literal["PENDING", "COMPLETED"]


@tool
async def add(ctx: ToolContext, a: int, b: int = 1) -> int:
    """Add two numbers.

    Args:
        a: the first number
        b: the second number,
            one by default
    """
    return a + b


@tool(name="todo_write")
async def todos(ctx: ToolContext, todos: list[Todo], merge: bool | None = None) -> dict[str, Any]:
    """Write the todo list."""
    if not todos:
        raise ValueError("no todos given")
    return {"count": len(todos), "state": ctx.state}


def test_tool_schema_from_signature_and_docstring() -> None:
    assert add.spec() == {
        "name": "add", "description": "Add two numbers.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["a"],
                       "properties": {
                           "a": {"type": "integer", "description": "the first number"},
                           "b": {"type": "integer",
                                 "description": "the second number, one by default"}}}}
    spec = todos.spec()
    assert spec["name"] == "todo_write"
    items = spec["parameters"]["properties"]["todos"]["items"]
    assert items["properties"]["status"] == {"enum": ["PENDING", "COMPLETED"]}
    assert items["required"] == ["id", "status"]
    assert spec["parameters"]["properties"]["merge"] == {"anyOf": [{"type": "boolean"},
                                                                   {"type": "null"}]}


def test_tool_definition_errors_are_clear() -> None:
    with pytest.raises(Exception, match="needs a type hint"):
        @tool
        async def untyped(ctx: ToolContext, x) -> None:  # type: ignore[no-untyped-def]
            """Doc."""
    with pytest.raises(Exception, match="docstring"):
        @tool
        async def undocumented(ctx: ToolContext) -> None:
            pass
    with pytest.raises(Exception, match="async def"):
        tool(lambda ctx: None)  # type: ignore[arg-type]


async def test_tool_errors_become_results() -> None:
    ctx = ToolContext(None, state="ws")
    assert await add.call(ctx, {"a": 2}) == (3, False)
    result, failed = await add.call(ctx, {"a": "two"})
    assert failed and "invalid arguments" in result["error"] and "a" in result["error"]
    result, failed = await todos.call(ctx, {"todos": []})
    assert failed and result == {"error": "ValueError: no todos given"}
    assert await todos.call(ctx, {"todos": [{"id": "1", "status": "PENDING"}]}) == (
        {"count": 1, "state": "ws"}, False)


@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True),
                       st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
                               min_size=1, max_size=30).map(str.strip).filter(bool),
                       max_size=5))
def test_docstring_args_round_trip(params: dict[str, str]) -> None:
    doc = "Summary line.\n\nArgs:\n" + "".join(f"    {k}: {v}\n" for k, v in params.items())
    assert parse_docstring(doc) == ("Summary line.", params)


def test_model_name_rule() -> None:
    assert split_model("gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert split_model("claude-sonnet-4-5") == ("anthropic", "claude-sonnet-4-5")
    assert split_model("anthropic/claude-x") == ("anthropic", "claude-x")
    assert split_model("openai/anthropic/claude-x") == ("openai", "anthropic/claude-x")
    assert split_model("meta-llama/llama-3") == ("openai", "meta-llama/llama-3")


async def test_provider_needs_its_key() -> None:
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        await provider_for("gpt-4o", {})
    with pytest.raises(ProviderError, match="ANTHROPIC_API_KEY"):
        await provider_for("claude-3", {"OPENAI_API_KEY": "k"})


async def collect(provider: Any, messages: list[dict[str, Any]], tools: list[Any],
                  **kw: Any) -> list[Any]:
    return [item async for item in run_steps(provider, messages, tools,
                                             context=ToolContext(None, state="ws"), **kw)]


async def test_openai_tool_call_then_streamed_text(llm: FakeLLM) -> None:
    llm.script([
        {"tool_calls": [{"id": "c1", "name": "add", "args": '{"a": 40, "b": 2}', "split": 5},
                        {"id": "c2", "name": "nope", "args": "{}"}],
         "usage": {"input": 20, "output": 7}},
        {"text": ["The ", "answer ", "is ", "42."], "usage": {"input": 30, "output": 4}},
    ])
    provider = await provider_for("gpt-test", {"OPENAI_BASE_URL": llm.openai_url,
                                               "OPENAI_API_KEY": "sk-secret"})
    messages: list[dict[str, Any]] = [{"role": "user", "content": "what is 40+2?"}]
    items = await collect(provider, messages, [add, todos], instructions="be brief")
    events = [(i.step, i.event) for i in items]
    calls = [e for _, e in events if isinstance(e, ToolCall)]
    assert [(c.id, c.name, c.args) for c in calls] == [("c1", "add", {"a": 40, "b": 2}),
                                                       ("c2", "nope", {})]
    results = [e for _, e in events if isinstance(e, ToolResult)]
    assert results[0] == ToolResult("c1", "add", 42, False)
    assert results[1].failed and "no tool named 'nope'" in results[1].result["error"]
    text = "".join(e.text for s, e in events if isinstance(e, TextDelta) and s == 1)
    assert text == "The answer is 42."
    finishes = [(s, e) for s, e in events if isinstance(e, Finish)]
    assert [(s, e.reason, e.usage.total_tokens) for s, e in finishes] == [
        (0, "tool-calls", 27), (1, "stop", 34)]
    sent = llm.requests()
    assert sent[0]["headers"]["authorization"] == "Bearer sk-secret"
    body = sent[1]["body"]
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"][0] == {"role": "system", "content": "be brief"}
    assert body["tools"][0]["function"]["name"] == "add"
    tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
    assert tool_messages[0] == {"role": "tool", "tool_call_id": "c1", "content": "42"}
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool", "assistant"]


async def test_step_limit(llm: FakeLLM) -> None:
    call = {"tool_calls": [{"id": "c", "name": "add", "args": '{"a": 1}'}], "repeat": 3}
    llm.script([call])
    provider = await provider_for("gpt-test", {"OPENAI_BASE_URL": llm.openai_url})
    items = await collect(provider, [{"role": "user", "content": "loop"}], [add], max_steps=2)
    assert max(i.step for i in items) == 1
    assert len(llm.requests()) == 2


async def test_429_then_success_respects_retry_after(llm: FakeLLM) -> None:
    llm.script([{"status": 429, "headers": {"Retry-After": "0.3"}},
                {"status": 503}, {"text": ["ok"]}])
    provider = await provider_for("gpt-test", {"OPENAI_BASE_URL": llm.openai_url},
                                  backoff_s=0.01)
    started = time.monotonic()
    items = await collect(provider, [{"role": "user", "content": "hi"}], [])
    assert time.monotonic() - started >= 0.3
    assert [i.event for i in items if isinstance(i.event, TextDelta)] == [TextDelta("ok")]
    assert len(llm.requests()) == 3


async def test_errors_are_clear_and_never_show_the_key(llm: FakeLLM) -> None:
    llm.script([{"status": 401, "body": {"error": {"message": "bad key sk-secret-123"}}}])
    provider = await provider_for("gpt-test", {"OPENAI_BASE_URL": llm.openai_url,
                                               "OPENAI_API_KEY": "sk-secret-123"})
    with pytest.raises(ProviderError) as caught:
        await collect(provider, [{"role": "user", "content": "hi"}], [])
    assert caught.value.status == 401
    assert "HTTP 401" in caught.value.message and "sk-secret-123" not in caught.value.message
    llm.script([{"status": 500, "repeat": 3}])
    provider = await provider_for("gpt-test", {"OPENAI_BASE_URL": llm.openai_url},
                                  max_retries=2, backoff_s=0.01)
    with pytest.raises(ProviderError, match="after 3 attempts") as caught:
        await collect(provider, [{"role": "user", "content": "hi"}], [])
    assert caught.value.status == 500


async def test_dropped_connection_is_a_clear_failure(llm: FakeLLM) -> None:
    llm.script([{"text": ["a", "b", "c", "d"], "drop_after": 3}])
    provider = await provider_for("gpt-test", {"OPENAI_BASE_URL": llm.openai_url})
    seen: list[Any] = []
    with pytest.raises(ProviderError, match="dropped mid-stream"):
        async for item in run_steps(provider, [{"role": "user", "content": "hi"}], [],
                                    context=ToolContext(None)):
            seen.append(item.event)
    assert seen == [TextDelta("a"), TextDelta("b")]
    assert len(llm.requests()) == 1  # a stream that started is never replayed
    llm.script([{"text": ["a"], "no_finish": True}])
    with pytest.raises(ProviderError, match="before the model finished"):
        await collect(provider, [{"role": "user", "content": "hi"}], [])


async def test_anthropic_thinking_tool_use_and_text(llm: FakeLLM) -> None:
    llm.script([
        {"reasoning": ["Let me ", "add."], "signature": "sig-1",
         "tool_calls": [{"id": "tu1", "name": "add", "args": '{"a": 1, "b": 2}', "split": 4}],
         "usage": {"input": 11, "output": 9}},
        {"text": ["Three", "."]},
    ])
    provider = await provider_for("claude-test", {"ANTHROPIC_BASE_URL": llm.url,
                                                  "ANTHROPIC_API_KEY": "ak-1"})
    items = await collect(provider, [{"role": "user", "content": "1+2"}], [add],
                          instructions="sys")
    events = [i.event for i in items]
    assert [e for e in events if isinstance(e, ReasoningDelta)] == [
        ReasoningDelta("Let me "), ReasoningDelta("add."), ReasoningDelta("", "sig-1")]
    assert ToolCall("tu1", "add", {"a": 1, "b": 2}) in events
    assert ToolResult("tu1", "add", 3, False) in events
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Three."
    first = next(e for e in events if isinstance(e, Finish))
    assert (first.reason, first.usage.input_tokens, first.usage.output_tokens) == (
        "tool-calls", 11, 9)
    sent = llm.requests()
    assert sent[0]["headers"]["x-api-key"] == "ak-1"
    assert sent[0]["body"]["system"] == "sys"
    assert sent[0]["body"]["tools"][0]["input_schema"]["required"] == ["a"]
    second = sent[1]["body"]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1]["content"][0] == {"type": "thinking", "thinking": "Let me add.",
                                       "signature": "sig-1"}
    assert second[1]["content"][1]["type"] == "tool_use"
    assert second[2]["content"][0] == {"type": "tool_result", "tool_use_id": "tu1",
                                       "content": "3"}


async def test_a_silent_stream_times_out(llm: FakeLLM) -> None:
    llm.script([{"text": ["a"], "hang_s": 3}])
    provider = await provider_for("gpt-test", {"OPENAI_BASE_URL": llm.openai_url},
                                  timeout_s=0.3)
    with pytest.raises(ProviderError, match="no data for the read timeout"):
        await collect(provider, [{"role": "user", "content": "hi"}], [])


class FlakyStore:
    """The run's functions as a stub action ctx: batches apply once per chunk (as the
    real mutation does) and each write may fail before or after it commits."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        self.text = ""
        self.last_chunk = 0

    def now(self) -> float:
        return time.time() * 1000

    async def run_mutation(self, path: str, args: dict[str, Any]) -> Any:
        name = path.split(":")[1]
        mode = self.failures.pop(0) if self.failures and name == "appendBatch" else "ok"
        if mode == "before":
            raise RuntimeError("lost before the commit")
        if name == "beginStep":
            return {"messageId": "m1", "attempt": 1, "stop": False, "stale": False}
        if args.get("chunk", 0) > self.last_chunk:
            self.last_chunk = args["chunk"]
            self.text += "".join(p["text"] for p in args["parts"])
        if mode == "after":
            raise RuntimeError("committed, answer lost")
        return {"stale": False, "stop": False}


@given(st.lists(st.text(alphabet="ab😀", min_size=1, max_size=4), min_size=1, max_size=10),
       st.lists(st.sampled_from(["ok", "before", "after"]), max_size=12))
def test_failed_batches_are_resent_without_loss_or_duplicates(
        pieces: list[str], failures: list[str]) -> None:
    from reactor.agent.writer import StreamSettings, StreamWriter

    async def scenario() -> str:
        store = FlakyStore(list(failures))
        writer = StreamWriter(store, lambda name: f"agent:{name}", "t1", "r1",
                              StreamSettings(max_chars=1))
        await writer.begin_step(1, 1, "m")
        for piece in pieces:
            writer.add({"type": "text", "text": piece})
            with contextlib.suppress(RuntimeError):  # the next beat sends it again
                await writer.flush()
        while True:
            try:
                await writer.finish_step(status="success", finish_reason="stop",
                                         tool_calls=[], usage=None)
                return store.text
            except RuntimeError:
                continue

    assert asyncio.run(scenario()) == "".join(pieces)


class Recorder:
    """A Sink keeping what it was told, in order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, Any]] = []

    async def on_text(self, step: int, text: str) -> None:
        self.seen.append(("text", step, text))

    async def on_reasoning(self, step: int, text: str, signature: str | None) -> None:
        self.seen.append(("reasoning", step, (text, signature)))

    async def on_tool_call(self, step: int, call: ToolCall) -> None:
        self.seen.append(("call", step, call.name))

    async def on_tool_started(self, step: int, call: Any) -> None:
        self.seen.append(("started", step, call.id))

    async def on_tool_result(self, step: int, result: ToolResult) -> None:
        self.seen.append(("result", step, result.result))

    async def on_finish(self, step: int, finish: Finish) -> None:
        self.seen.append(("finish", step, finish.reason))


async def test_run_into_a_sink(llm: FakeLLM) -> None:
    from reactor.agent import run_into

    llm.script([{"reasoning": ["hm"], "tool_calls": [{"id": "c1", "name": "add",
                                                      "args": '{"a": 1}'}]},
                {"text": ["tw", "o"], "usage": {"input": 3, "output": 2}}])
    provider = await provider_for("gpt-test", {"OPENAI_BASE_URL": llm.openai_url})
    sink = Recorder()
    summary = await run_into(sink, provider, [{"role": "user", "content": "1+1"}], [add],
                             context=ToolContext(None))
    assert sink.seen == [("reasoning", 0, ("hm", None)), ("call", 0, "add"),
                         ("finish", 0, "tool-calls"), ("started", 0, "c1"),
                         ("result", 0, 2), ("text", 1, "tw"), ("text", 1, "o"),
                         ("finish", 1, "stop")]
    assert (summary.text, summary.steps, summary.finish_reason) == ("two", 2, "stop")
    assert summary.usage.total_tokens == 15 + 5


@pytest.mark.parametrize("model", ["gpt-test", "claude-test"])
async def test_an_error_event_mid_stream(llm: FakeLLM, model: str) -> None:
    llm.script([{"text": ["a", "b"], "error_after": 2, "error": "too busy right now"}])
    provider = await provider_for(model, {"OPENAI_BASE_URL": llm.openai_url,
                                          "ANTHROPIC_BASE_URL": llm.url})
    with pytest.raises(ProviderError, match=r"error in the stream.*too busy right now"):
        await collect(provider, [{"role": "user", "content": "hi"}], [])
