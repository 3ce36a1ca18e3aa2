"""A scriptable fake LLM server speaking OpenAI's and Anthropic's real streaming protocols.

Run as a real process (`FakeLLM().start()`, or `python tests/fake_llm.py`, which
prints `PORT <n>`). Tests queue responses; each provider request takes the next:

    llm.script([
        {"status": 429, "headers": {"Retry-After": "0"}},             # then ...
        {"tool_calls": [{"id": "c1", "name": "add", "args": '{"a": 1, "b": 2}',
                         "split": 3}],                                # args in 3 chunks
         "usage": {"input": 12, "output": 4}},
        {"text": ["Hel", "lo", "!"], "delay_s": 0.05},
        {"text": ["a", "b"], "drop_after": 1},                        # cut mid-stream
    ])

A response: `status` (200; otherwise `body` or a default error JSON is sent),
`headers`, `text` (chunks), `reasoning` (chunks; with `signature`), `tool_calls`
(`{"id", "name", "args": json text, "split": pieces}`), `usage` (`{"input",
"output"}`), `finish` (default: tool calls → tool-calls, else stop), `delay_s`
between chunks, `drop_after` (abort the connection after that many SSE events),
`hang_s` (pause that long before the end, connection open), `no_finish` (end
the stream cleanly without a finish reason), `error_after` (after that many
events, the provider's in-stream error event with message `error`), `repeat`
(serve it this many times).
With no response left a request gets a 500. `requests()` returns what arrived
(`path`, `headers`, `body`), for asserting on what the model was sent.

POST /v1/chat/completions and /chat/completions speak Chat Completions;
POST /v1/messages speaks Anthropic Messages; POST /v1/embeddings speaks OpenAI
Embeddings, answering every input with a bag of words (crc32 buckets, unit
length, `dimensions` numbers, 384 by default) so that texts sharing words are
near. Control: POST /_script (append), POST /_embedding_errors (responses the
next embedding requests get instead: `{"status", "body"}`), POST /_reset,
GET /_requests.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import sys
import urllib.request
import zlib
from pathlib import Path
from typing import Any

State = dict[str, Any]


def _chunks(text: str, pieces: int) -> list[str]:
    pieces = max(1, min(pieces, len(text) or 1))
    size = -(-len(text) // pieces) if text else 0
    return [text[i:i + size] for i in range(0, len(text), size)] if text else [""]


def openai_events(spec: State, model: str) -> list[str]:
    """SSE `data:` payloads for one Chat Completions stream."""
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model}

    def chunk(delta: State, finish: str | None = None) -> str:
        return json.dumps({**base, "choices": [{"index": 0, "delta": delta,
                                                "finish_reason": finish}]})

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"reasoning_content": piece}) for piece in spec.get("reasoning", [])]
    out += [chunk({"content": piece}) for piece in spec.get("text", [])]
    calls = spec.get("tool_calls", [])
    for index, call in enumerate(calls):
        out.append(chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                          "function": {"name": call["name"],
                                                       "arguments": ""}}]}))
        for piece in _chunks(call.get("args", ""), call.get("split", 1)):
            out.append(chunk({"tool_calls": [{"index": index,
                                              "function": {"arguments": piece}}]}))
    if not spec.get("no_finish"):
        finish = spec.get("finish") or ("tool_calls" if calls else "stop")
        out.append(chunk({}, finish))
        usage = spec.get("usage", {"input": 10, "output": 5})
        out.append(json.dumps({**base, "choices": [], "usage": {
            "prompt_tokens": usage["input"], "completion_tokens": usage["output"],
            "total_tokens": usage["input"] + usage["output"]}}))
        out.append("[DONE]")
    return [f"data: {payload}\n\n" for payload in out]


def anthropic_events(spec: State, model: str) -> list[str]:
    """SSE events (`event:` + `data:`) for one Anthropic Messages stream."""
    usage = spec.get("usage", {"input": 10, "output": 5})
    out: list[State] = [{"type": "message_start", "message": {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
        "content": [], "usage": {"input_tokens": usage["input"], "output_tokens": 1}}}]
    index = 0
    if spec.get("reasoning"):
        out.append({"type": "content_block_start", "index": index,
                    "content_block": {"type": "thinking", "thinking": ""}})
        out += [{"type": "content_block_delta", "index": index,
                 "delta": {"type": "thinking_delta", "thinking": piece}}
                for piece in spec["reasoning"]]
        out.append({"type": "content_block_delta", "index": index, "delta": {
            "type": "signature_delta", "signature": spec.get("signature", "sig-fake")}})
        out.append({"type": "content_block_stop", "index": index})
        index += 1
    if spec.get("text"):
        out.append({"type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}})
        out += [{"type": "content_block_delta", "index": index,
                 "delta": {"type": "text_delta", "text": piece}} for piece in spec["text"]]
        out.append({"type": "content_block_stop", "index": index})
        index += 1
    calls = spec.get("tool_calls", [])
    for call in calls:
        out.append({"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}})
        out += [{"type": "content_block_delta", "index": index,
                 "delta": {"type": "input_json_delta", "partial_json": piece}}
                for piece in _chunks(call.get("args", ""), call.get("split", 1))]
        out.append({"type": "content_block_stop", "index": index})
        index += 1
    if not spec.get("no_finish"):
        finish = spec.get("finish") or ("tool_use" if calls else "end_turn")
        out.append({"type": "message_delta", "delta": {"stop_reason": finish},
                    "usage": {"output_tokens": usage["output"]}})
        out.append({"type": "message_stop"})
    return [f"event: {event['type']}\ndata: {json.dumps(event)}\n\n" for event in out]


def bag_of_words(text: str, dimensions: int) -> list[float]:
    vector = [0.0] * dimensions
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[zlib.crc32(word.encode()) % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class FakeServer:
    def __init__(self) -> None:
        self.queue: list[State] = []
        self.requests: list[State] = []
        self.embedding_errors: list[State] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self.route(method, path, headers, body, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, path: str, headers: dict[str, str], body: bytes,
                    writer: asyncio.StreamWriter) -> bool:
        if path == "/_script" and method == "POST":
            self.queue.extend(json.loads(body)["responses"])
            return self.reply(writer, 200, {"queued": len(self.queue)})
        if path == "/_embedding_errors" and method == "POST":
            self.embedding_errors.extend(json.loads(body)["responses"])
            return self.reply(writer, 200, {})
        if path == "/_reset" and method == "POST":
            self.queue.clear()
            self.requests.clear()
            self.embedding_errors.clear()
            return self.reply(writer, 200, {})
        if path == "/_requests":
            return self.reply(writer, 200, {"requests": self.requests})
        if path in ("/v1/embeddings", "/embeddings") and method == "POST":
            return self.embed(path, headers, json.loads(body or b"{}"), writer)
        kind = {"/v1/chat/completions": "openai", "/chat/completions": "openai",
                "/v1/messages": "anthropic"}.get(path)
        if kind is None or method != "POST":
            return self.reply(writer, 404, {"error": {"message": f"no route {path}"}})
        request = json.loads(body or b"{}")
        self.requests.append({"path": path, "headers": headers, "body": request})
        if not self.queue:
            return self.reply(writer, 500, {"error": {"message": "fake: nothing scripted"}})
        spec = self.queue[0]
        if spec.get("repeat", 1) > 1:
            spec["repeat"] -= 1
        else:
            self.queue.pop(0)
        status = spec.get("status", 200)
        if status != 200:
            return self.reply(writer, status, spec.get("body", {"error": {
                "type": "fake_error", "message": f"fake provider says {status}"}}),
                spec.get("headers", {}))
        render = openai_events if kind == "openai" else anthropic_events
        events = render(spec, str(request.get("model", "")))
        if spec.get("error_after") is not None:
            error = {"type": "overloaded_error", "message": spec.get("error", "Overloaded")}
            failure = (f"data: {json.dumps({'error': error})}\n\n" if kind == "openai" else
                       f"event: error\ndata: {json.dumps({'type': 'error', 'error': error})}\n\n")
            events = [*events[:spec["error_after"]], failure]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
        for number, event in enumerate(events):
            if spec.get("drop_after") is not None and number >= spec["drop_after"]:
                writer.transport.abort()
                return False
            if number == len(events) - 1 and spec.get("hang_s"):
                await asyncio.sleep(spec["hang_s"])
            data = event.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            if spec.get("delay_s"):
                await asyncio.sleep(spec["delay_s"])
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True

    def embed(self, path: str, headers: dict[str, str], request: State,
              writer: asyncio.StreamWriter) -> bool:
        self.requests.append({"path": path, "headers": headers, "body": request})
        if self.embedding_errors:
            error = self.embedding_errors.pop(0)
            return self.reply(writer, error.get("status", 500), error.get("body", {
                "error": {"message": "fake embeddings error"}}))
        inputs = request.get("input", [])
        inputs = [inputs] if isinstance(inputs, str) else inputs
        dimensions = int(request.get("dimensions", 384))
        data = [{"object": "embedding", "index": index,
                 "embedding": bag_of_words(str(text), dimensions)}
                for index, text in enumerate(inputs)]
        return self.reply(writer, 200, {"object": "list", "data": data,
                                        "model": request.get("model", ""),
                                        "usage": {"prompt_tokens": 0, "total_tokens": 0}})

    def reply(self, writer: asyncio.StreamWriter, status: int, body: Any,
              headers: dict[str, str] | None = None) -> bool:
        data = json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\n{extra}\r\n".encode() + data)
        return True


async def serve() -> None:
    fake = FakeServer()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


class FakeLLM:
    """The fake server as a child process, with helpers to script it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> FakeLLM:
        self.process = subprocess.Popen([sys.executable, str(Path(__file__))],
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"fake LLM server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """What OPENAI_BASE_URL should be."""
        return f"{self.url}/v1"

    def _post(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(self.url + path, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def script(self, responses: list[State]) -> None:
        self._post("/_script", {"responses": responses})

    def fail_embeddings(self, responses: list[State]) -> None:
        self._post("/_embedding_errors", {"responses": responses})

    def reset(self) -> None:
        self._post("/_reset", {})

    def requests(self) -> list[State]:
        with urllib.request.urlopen(self.url + "/_requests", timeout=5) as response:
            return list(json.loads(response.read())["requests"])


if __name__ == "__main__":
    asyncio.run(serve())
