"""One agent run: prepare the workspace, stream the answer into the chat, run the tools.

The step loop is `reactor.agent.run_into`; `AnswerStream` is its sink, writing
into this app's own `chatMessages` and `toolCalls` through `agent:*` internal
mutations. Deltas go out in batches (every 75 ms, or at 400 characters, and at
once for a tool call or result), one write at a time, like the walkthrough's
`AnswerStream` in docs/guide/example-app.md; the last batch and the message's
final state commit together (`agent:finishAnswer`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import time
from pathlib import Path
from typing import Any, Final

from reactor import ActionCtx
from reactor.agent import (
    Finish,
    ProviderError,
    ToolCall,
    ToolContext,
    ToolResult,
    ToolStarted,
    Usage,
    provider_for,
    run_into,
)

from ...schema import FINISH_REASONS
from .agent_tools import TOOLS, RunState
from .authz import Doc
from .sandbox import Limits, clean_environment, run_command
from .workspace import Workspace

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S: Final = 0.075
FLUSH_CHARS: Final = 400
STOP_POLL_S: Final = 0.3
MAX_STEPS: Final = 12
# How much of a tool call's arguments or result the chat message keeps (the model and
# the toolCalls row get more: see bounded()).
PART_PREVIEW_CHARS: Final = 4_000
RECORD_CHARS: Final = 100_000
CLONE_TIMEOUT_S: Final = 120.0
APP_DIR: Final = Path(__file__).resolve().parents[2]
DEFAULT_WORKSPACE_ROOT: Final = APP_DIR / ".reactor" / "workspaces"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_SCP = re.compile(r"^[\w.-]+@[\w.-]+:")


class Stopped(Exception):
    """The run may no longer write: stopped, replaced by a newer message, or deleted."""


class InitFailed(Exception):
    """The workspace could not be prepared; the message is the task's initializationError."""


def bounded(value: Any, limit: int) -> Any:
    """`value`, or a preview of its JSON when that is longer than `limit` characters."""
    text = json.dumps(value, default=str)
    if len(text) <= limit:
        return value
    return {"truncated": True, "chars": len(text), "preview": text[:limit]}


def app_usage(usage: Usage) -> Doc:
    return {"promptTokens": usage.input_tokens, "completionTokens": usage.output_tokens,
            "totalTokens": usage.total_tokens}


class AnswerStream:
    """The `Sink` that writes a run into the task's chat: batched, one write at a time."""

    def __init__(self, ctx: ActionCtx, task_id: str, run_id: str, model: str) -> None:
        self.ctx, self.task_id, self.run_id, self.model = ctx, task_id, run_id, model
        self.message_id: str | None = None
        self.parts: list[Doc] = []
        self.calls: list[Doc] = []
        self.chars = 0
        self.last_flush = time.monotonic()
        self.usage = Usage()
        self.reason = "stop"

    async def on_text(self, step: int, text: str) -> None:
        self.parts.append({"type": "text", "text": text})
        self.chars += len(text)
        await self.maybe_flush()

    async def on_reasoning(self, step: int, text: str, signature: str | None) -> None:
        last = self.parts[-1] if self.parts else None
        if last is not None and last["type"] == "reasoning" and "signature" not in last:
            last["text"] += text
        else:
            self.parts.append({"type": "reasoning", "text": text})
        if signature:
            self.parts[-1]["signature"] = signature
        self.chars += len(text)
        await self.maybe_flush()

    async def on_tool_call(self, step: int, call: ToolCall) -> None:
        self.parts.append({"type": "tool-call", "toolCallId": call.id, "toolName": call.name,
                           "args": bounded(call.args, PART_PREVIEW_CHARS)})
        self.calls.append({"toolCallId": call.id, "toolName": call.name,
                           "args": bounded(call.args, RECORD_CHARS), "status": "REQUESTED"})
        await self.flush()

    async def on_tool_started(self, step: int, call: ToolStarted) -> None:
        self.calls.append({"toolCallId": call.id, "toolName": call.name, "status": "RUNNING"})
        await self.flush()

    async def on_tool_result(self, step: int, result: ToolResult) -> None:
        self.parts.append({"type": "tool-result", "toolCallId": result.id,
                           "toolName": result.name,
                           "result": bounded(result.result, PART_PREVIEW_CHARS)})
        self.calls.append({"toolCallId": result.id, "toolName": result.name,
                           "status": "FAILED" if result.failed else "SUCCEEDED",
                           "result": bounded(result.result, RECORD_CHARS)})
        await self.flush()

    async def on_finish(self, step: int, finish: Finish) -> None:
        self.usage = self.usage + finish.usage
        self.reason = finish.reason

    async def maybe_flush(self) -> None:
        if (self.chars >= FLUSH_CHARS
                or time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S):
            await self.flush()

    def take(self) -> Doc:
        batch = {"parts": self.parts, "calls": self.calls}
        self.parts, self.calls, self.chars = [], [], 0
        return batch

    async def flush(self) -> None:
        """Write what is waiting; `Stopped` when the run may no longer write."""
        if not self.parts and not self.calls:
            return
        batch = self.take()
        if self.message_id is None:
            created = await self.ctx.run_mutation("agent:startAnswer", {
                "taskId": self.task_id, "runId": self.run_id, "llmModel": self.model,
                **batch})
            if created is None:
                raise Stopped
            self.message_id = created["messageId"]
        elif not await self.ctx.run_mutation("agent:appendAnswer", {
                "messageId": self.message_id, "runId": self.run_id, **batch}):
            raise Stopped
        self.last_flush = time.monotonic()

    async def finish(self, reason: str, error: str | None = None) -> None:
        """Seal the answer with what is still waiting, in one commit."""
        if error is not None:
            self.parts.append({"type": "error", "error": error, "finishReason": "error"})
            reason = "error"
        if self.message_id is None:
            try:
                await self.flush()
            except Stopped:
                return
        if self.message_id is None:
            return
        args: Doc = {"messageId": self.message_id, "runId": self.run_id,
                     "finishReason": reason if reason in FINISH_REASONS else "other",
                     **self.take()}
        if self.usage.total_tokens:
            args["usage"] = app_usage(self.usage)
        await self.ctx.run_mutation("agent:finishAnswer", args)


async def workspace_root(ctx: ActionCtx) -> Path:
    configured = await ctx.env.get("WORKSPACE_ROOT")
    return Path(configured) if configured else DEFAULT_WORKSPACE_ROOT


async def clone_source(ctx: ActionCtx, repo_url: str) -> str:
    """The URL to clone; a local path only under LOCAL_REPO_ROOT (else any user could
    have the server copy any repository it can read)."""
    if _SCP.match(repo_url) or (_URL.match(repo_url) and not repo_url.startswith("file:")):
        return repo_url
    allowed = await ctx.env.get("LOCAL_REPO_ROOT")
    local = Path(repo_url.removeprefix("file://")).resolve()
    if not allowed or not local.is_relative_to(Path(allowed).resolve()):
        raise InitFailed(f"repoUrl {repo_url!r} is a local path, and local repositories"
                         " are allowed only under LOCAL_REPO_ROOT")
    return str(local)


async def git(argv: list[str], cwd: Path, where: Path) -> None:
    result = await run_command(["git", "-c", "protocol.ext.allow=never", *argv], cwd,
                               Limits(timeout_s=CLONE_TIMEOUT_S), env=clean_environment(cwd))
    if result.exitCode != 0:
        why = "timed out" if result.timedOut else result.stderr.strip()[-500:]
        raise InitFailed(f"git {argv[0]} failed: {why.replace(str(where), '<workspace>')}")


async def prepare_workspace(ctx: ActionCtx, task: Doc, run_id: str) -> Workspace:
    """Walk the task's init steps, making its folder (empty for a scratchpad, a clone of
    repoUrl otherwise); an existing folder is kept. `Stopped` if the run was replaced."""
    root = await workspace_root(ctx)
    path = root / task["_id"]
    mode = "scratchpad" if task["isScratchpad"] else "local"

    async def advance(**extra: Any) -> str:
        step = await ctx.run_mutation("agent:advanceInit", {
            "taskId": task["_id"], "runId": run_id, "mode": mode, **extra})
        if step is None:
            raise Stopped
        return str(step)

    if task["initStatus"] == "ACTIVE" and path.is_dir():
        return Workspace(path)
    step = await advance(workspacePath=str(path))
    while step != "ACTIVE":
        if step == "PREPARE_WORKSPACE" and not path.is_dir():
            await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
            if task["isScratchpad"]:
                await asyncio.to_thread(path.mkdir)
            else:
                source = await clone_source(ctx, task["repoUrl"])
                branch = ["--branch", task["baseBranch"]] if task["baseBranch"] else []
                await git(["clone", "--quiet", *branch, "--", source, str(path)], root, path)
                if task["baseCommitSha"]:
                    await git(["checkout", "--quiet", "--detach", task["baseCommitSha"]],
                              path, path)
        # The other local steps (background services, dependencies, the shadow wiki) have
        # no work in this port: the steps are recorded so clients see the same sequence.
        step = await advance()
    return Workspace(path)


async def remove_workspace(ctx: ActionCtx, task_id: str) -> bool:
    """Delete the task's workspace folder unless a run uses it; whether it was deleted.

    The folder is first renamed out of the way (atomic), so a run that starts while it
    is being deleted finds no folder and prepares a fresh one, never a half-deleted one.
    """
    if not task_id.isalnum():
        return False
    task = await ctx.run_query("agent:workspaceUse", {"taskId": task_id})
    if task == "inUse":
        return False
    root = await workspace_root(ctx)
    path = root / task_id
    if not path.is_dir() or path.is_symlink():
        return False
    trash = root / f".removed-{task_id}-{int(ctx.now())}"
    await asyncio.to_thread(path.rename, trash)
    await asyncio.to_thread(shutil.rmtree, trash, True)
    return True


async def instructions(ctx: ActionCtx, task: Doc) -> str:
    memories = await ctx.run_query("agent:listMemories", {"taskId": task["_id"]})
    lines = [f"You are a coding agent working on {task['repoFullName']} in a workspace folder;"
             " every path you give a tool is relative to it. Plan with todo_write, read"
             " before you edit, and keep answers short."]
    if memories:
        lines.append("## REPOSITORY MEMORIES")
        lines += [f"- [{m['category']}] {m['content']} (id {m['id']})" for m in memories]
    return "\n".join(lines)


async def watch_stop(ctx: ActionCtx, task_id: str, run_id: str, lease_ms: float) -> None:
    """Returns once the run may no longer write (polled, so that a stop is seen while the
    model is silent); renews the run's lease each third of it meanwhile."""
    ids = {"taskId": task_id, "runId": run_id}
    renewed = time.monotonic()
    while True:
        await asyncio.sleep(STOP_POLL_S)
        if time.monotonic() - renewed >= lease_ms / 3000:
            renewed = time.monotonic()
            if await ctx.run_mutation("agent:renew", ids) is None:
                return
        elif not await ctx.run_query("agent:mayWrite", ids):
            return


async def run_agent(ctx: ActionCtx, task_id: str, run_id: str, model: str) -> None:
    """The whole run; every way it ends leaves the message sealed and the task settled."""
    lease = await ctx.run_mutation("agent:renew", {"taskId": task_id, "runId": run_id})
    start = await ctx.run_query("agent:runStart", {"taskId": task_id, "runId": run_id})
    if start is None or lease is None:
        return
    task = start["task"]
    try:
        workspace = await prepare_workspace(ctx, task, run_id)
    except Stopped:
        return
    except InitFailed as failed:
        await ctx.run_mutation("agent:failInit",
                               {"taskId": task_id, "runId": run_id, "error": str(failed)})
        return
    stream = AnswerStream(ctx, task_id, run_id, model)
    messages = [{"role": "user" if m["role"] == "USER" else "assistant", "content": m["content"]}
                for m in start["history"] if m["role"] in ("USER", "ASSISTANT")]
    state = RunState(task_id, run_id, workspace, task, Limits())
    work = asyncio.ensure_future(run_steps_into(ctx, stream, model, messages, state))
    watcher = asyncio.ensure_future(watch_stop(ctx, task_id, run_id, lease))
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for running in (work, watcher):
            running.cancel()
        await asyncio.gather(work, watcher, return_exceptions=True)
    message = None
    if work.done() and not work.cancelled() and work.exception() is not None:
        failure = work.exception()
        if isinstance(failure, ProviderError):
            message = str(failure)
        elif not isinstance(failure, Stopped):
            log.error("agent run %s of task %s failed", run_id, task_id, exc_info=failure)
            text = str(failure).replace(str(workspace.root.parent), "<workspaces>")
            message = f"the agent failed: {type(failure).__name__}: {text}"[:2000]
    stopped = not work.done() or work.cancelled() or isinstance(work.exception(), Stopped)
    await stream.finish("other" if stopped and message is None else stream.reason, message)

async def run_steps_into(ctx: ActionCtx, stream: AnswerStream, model: str,
                         messages: list[Doc], state: RunState) -> None:
    provider = await provider_for(model, ctx.env)
    await run_into(stream, provider, messages, TOOLS,
                   context=ToolContext(ctx, thread_id=state.task_id, state=state),
                   instructions=await instructions(ctx, state.task), max_steps=MAX_STEPS)
    await stream.flush()
