"""The seed's agent tools, as `reactor.agent` tools run in the task's workspace.

Each takes the `ToolContext` (its `state` is the run's `RunState`) and the
arguments the model sends, named as the seed named them. File tools run in a
worker thread (file I/O never holds the event loop) and are confined by
`Workspace`; commands run under `sandbox.Limits`. A refusal or failure is raised
and reaches the model as `{"error": ...}`: the run goes on. Edits are recorded
in `fileChanges`, terminal output in `terminalOutput`, both as they happen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict, TypeVar

from reactor.agent import Tool, ToolContext, tool

from .authz import Doc
from .code_files import head_commit, is_clean
from .code_index import index_folder
from .embeddings import embedder_for
from .sandbox import Limits, run_command, run_shell
from .workspace import (
    FileChange,
    Refused,
    Workspace,
    grep_argv,
    parse_grep_output,
)

T = TypeVar("T")
TERMINAL_FLUSH_S: Final = 0.1
SEARCH_RESULTS: Final = 8
MemoryCategory = Literal["INFRA", "SETUP", "STYLES", "ARCHITECTURE", "TESTING", "PATTERNS",
                         "BUGS", "PERFORMANCE", "CONFIG", "GENERAL"]


@dataclass
class RunState:
    """What the tools receive as `ToolContext.state`."""

    task_id: str
    run_id: str
    workspace: Workspace
    task: Doc
    limits: Limits


def state_of(ctx: ToolContext) -> RunState:
    state = ctx.state
    assert isinstance(state, RunState)
    return state


async def in_workspace(operation: Callable[..., T], *args: Any) -> T:
    """Run a file operation in a worker thread; an OS error (a file that vanished, a full
    disk) is refused with its reason only: its text would name the server's folders."""
    try:
        return await asyncio.to_thread(operation, *args)
    except OSError as error:
        raise Refused(f"{error.strerror or type(error).__name__}") from None


async def record(ctx: ToolContext, change: FileChange) -> dict[str, Any]:
    state = state_of(ctx)
    await ctx.run_mutation("agent:recordFileChange", {
        "taskId": state.task_id, "toolCallId": ctx.tool_call_id, "change": change.to_doc()})
    return {"success": True, "path": change.path, "kind": change.kind,
            "linesAdded": change.linesAdded, "linesRemoved": change.linesRemoved}


@tool
async def read_file(ctx: ToolContext, target_file: str, should_read_entire_file: bool = True,
                    start_line_one_indexed: int | None = None,
                    end_line_one_indexed_inclusive: int | None = None,
                    explanation: str | None = None) -> dict[str, Any]:
    """Read a file of the workspace, whole or a range of lines (at most 2,000 lines).

    Args:
        target_file: the file's path, relative to the workspace root
        should_read_entire_file: read it all (false: give the line range)
        start_line_one_indexed: first line to read, counting from 1
        end_line_one_indexed_inclusive: last line to read
        explanation: one sentence on why, for the user
    """
    return await in_workspace(state_of(ctx).workspace.read_file, target_file,
                                   should_read_entire_file, start_line_one_indexed,
                                   end_line_one_indexed_inclusive)


@tool
async def list_dir(ctx: ToolContext, relative_workspace_path: str = ".",
                   explanation: str | None = None) -> dict[str, Any]:
    """List a folder of the workspace: folders first, then files with their sizes.

    Args:
        relative_workspace_path: the folder, relative to the workspace root
        explanation: one sentence on why, for the user
    """
    return await in_workspace(state_of(ctx).workspace.list_dir, relative_workspace_path)


@tool
async def file_search(ctx: ToolContext, query: str,
                      explanation: str | None = None) -> dict[str, Any]:
    """Find files by a fuzzy match on their path (the query's letters in order).

    Args:
        query: part of the file name or path
        explanation: one sentence on why, for the user
    """
    return await in_workspace(state_of(ctx).workspace.file_search, query)


@tool
async def grep_search(ctx: ToolContext, query: str, include_pattern: str | None = None,
                      exclude_pattern: str | None = None, case_sensitive: bool = False,
                      explanation: str | None = None) -> dict[str, Any]:
    """Search the workspace's files for a regular expression (extended syntax).

    Args:
        query: the regular expression
        include_pattern: only files whose name matches this glob, e.g. *.py
        exclude_pattern: skip files whose name matches this glob
        case_sensitive: match case exactly
        explanation: one sentence on why, for the user
    """
    state = state_of(ctx)
    argv = grep_argv(query, include_pattern, exclude_pattern, case_sensitive)
    result = await run_command(argv, state.workspace.root, Limits(timeout_s=30))
    if result.timedOut or (result.exitCode or 0) > 1:
        raise RuntimeError(f"grep failed: {'timed out' if result.timedOut else result.stderr}")
    matches = parse_grep_output(result.stdout)
    return {"success": True, "query": query, "matches": matches, "count": len(matches)}


@tool
async def edit_file(ctx: ToolContext, target_file: str, code_edit: str,
                    instructions: str | None = None) -> dict[str, Any]:
    """Create a file, or replace its whole content with `code_edit`.

    Write the complete new content: there is no merging of partial edits here
    (use search_replace to change part of a file).

    Args:
        target_file: the file's path, relative to the workspace root
        code_edit: the file's complete new content
        instructions: one sentence describing the edit, for the user
    """
    change = await in_workspace(state_of(ctx).workspace.write_file, target_file,
                                     code_edit)
    return await record(ctx, change)


@tool
async def search_replace(ctx: ToolContext, file_path: str, old_string: str,
                         new_string: str) -> dict[str, Any]:
    """Replace one exact occurrence of `old_string` in a file with `new_string`.

    Args:
        file_path: the file's path, relative to the workspace root
        old_string: text that occurs exactly once in the file (include context lines)
        new_string: the replacement
    """
    change = await in_workspace(state_of(ctx).workspace.search_replace, file_path,
                                     old_string, new_string)
    return await record(ctx, change)


@tool
async def delete_file(ctx: ToolContext, target_file: str,
                      explanation: str | None = None) -> dict[str, Any]:
    """Delete a file of the workspace.

    Args:
        target_file: the file's path, relative to the workspace root
        explanation: one sentence on why, for the user
    """
    change = await in_workspace(state_of(ctx).workspace.delete_file, target_file)
    return await record(ctx, change)


class TerminalWriter:
    """Streams a command's output into `terminalOutput`, a batch every 100 ms."""

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx = ctx
        self.waiting: list[Doc] = []
        self.last = time.monotonic()

    async def add(self, stream: str, text: str) -> None:
        if self.waiting and self.waiting[-1]["stream"] == stream:
            self.waiting[-1]["text"] += text
        else:
            self.waiting.append({"stream": stream, "text": text})
        if time.monotonic() - self.last >= TERMINAL_FLUSH_S:
            await self.flush()

    async def flush(self) -> None:
        if self.waiting:
            chunks, self.waiting = self.waiting, []
            await self.ctx.run_mutation("agent:terminal", {
                "taskId": state_of(self.ctx).task_id, "toolCallId": self.ctx.tool_call_id,
                "chunks": chunks})
        self.last = time.monotonic()


@tool
async def run_terminal_cmd(ctx: ToolContext, command: str, is_background: bool = False,
                           explanation: str | None = None) -> dict[str, Any]:
    """Run a shell command in the workspace root and return its output.

    It runs to its end or its time limit (60 s by default), with limits on CPU,
    memory, file size and processes and a clean environment; anything it leaves
    running is stopped when it ends. Output past 64 KiB is dropped.

    Args:
        command: the command line (bash)
        is_background: accepted for compatibility; commands always run to their end here
        explanation: one sentence on why, for the user
    """
    state = state_of(ctx)
    terminal = TerminalWriter(ctx)
    await terminal.add("command", command)
    await terminal.flush()
    result = await run_shell(command, state.workspace.root, state.limits, terminal.add)
    ending = "timed out" if result.timedOut else f"exit {result.exitCode}"
    await terminal.add("exit", ending)
    await terminal.flush()
    return {"success": result.exitCode == 0, "exitCode": result.exitCode,
            "stdout": result.stdout, "stderr": result.stderr, "timedOut": result.timedOut,
            "truncated": result.truncated, "durationMs": result.durationMs}


class TodoItem(TypedDict):
    """One todo as the model writes it."""

    id: str
    content: str
    status: str


@tool
async def todo_write(ctx: ToolContext, merge: bool, todos: list[TodoItem],
                     explanation: str | None = None) -> dict[str, Any]:
    """Write the task's todo list: replace it (merge false) or update items by id.

    Args:
        merge: false replaces the whole list; true updates or adds the given items
        todos: the items, each {id, content, status}; status is pending, in_progress,
            completed or cancelled
        explanation: one sentence on why, for the user
    """
    counts = await ctx.run_mutation("agent:writeTodos", {
        "taskId": state_of(ctx).task_id, "merge": merge,
        "todos": [{"id": t["id"], "content": t["content"], "status": t["status"]}
                  for t in todos]})
    return {"success": True, "totalTodos": counts["total"],
            "completedTodos": counts["completed"]}


@tool
async def add_memory(ctx: ToolContext, content: str, category: MemoryCategory,
                     explanation: str | None = None) -> dict[str, Any]:
    """Remember a fact about this repository for later tasks of the same user.

    Args:
        content: the fact, one or two sentences
        category: what kind of fact it is
        explanation: one sentence on why, for the user
    """
    memory_id = await ctx.run_mutation("agent:addMemory", {
        "taskId": state_of(ctx).task_id, "content": content, "category": category})
    return {"success": True, "memoryId": memory_id}


@tool
async def list_memories(ctx: ToolContext, category: MemoryCategory | None = None,
                        explanation: str | None = None) -> dict[str, Any]:
    """List the remembered facts about this repository, optionally of one category.

    Args:
        category: only this category
        explanation: one sentence on why, for the user
    """
    args: Doc = {"taskId": state_of(ctx).task_id}
    if category is not None:
        args["category"] = category
    memories = await ctx.run_query("agent:listMemories", args)
    return {"success": True, "memories": memories, "count": len(memories)}


@tool
async def remove_memory(ctx: ToolContext, memoryId: str,
                        explanation: str | None = None) -> dict[str, Any]:
    """Forget a remembered fact that is wrong or outdated.

    Args:
        memoryId: the memory's id, as list_memories shows it
        explanation: one sentence on why, for the user
    """
    removed = await ctx.run_mutation("agent:removeMemory", {
        "taskId": state_of(ctx).task_id, "memoryId": memoryId})
    if not removed:
        raise LookupError(f"there is no memory {memoryId!r} of this repository")
    return {"success": True}


async def index_namespace(state: RunState) -> str:
    """The workspace's code index namespace. A clean checkout is the repository's
    commit, whose chunks all of its tasks share; a checkout with uncommitted edits, or
    a scratchpad, gets the task's own (`task:<id>`), so one user's edits never show in
    another's searches of the repository."""
    root = state.workspace.root
    if (await asyncio.to_thread(head_commit, root) is not None
            and await asyncio.to_thread(is_clean, root)):
        return str(state.task["repoFullName"])
    return f"task:{state.task_id}"


@tool
async def semantic_search(ctx: ToolContext, query: str,
                          explanation: str | None = None) -> dict[str, Any]:
    """Find the code most relevant to a description, across the repository's files.

    Ranks chunks (a function or class each where the language is parsed, else about
    60 lines) by meaning and by shared words together (hybrid search); the index is
    brought up to date first, redoing only files that changed.

    Args:
        query: what you are looking for, in words or identifiers
        explanation: one sentence on why, for the user
    """
    state = state_of(ctx)
    namespace = await index_namespace(state)
    embedder = await embedder_for(ctx.ctx.env)
    await index_folder(ctx, namespace, state.workspace.root, embedder)
    [vector] = await embedder.embed([query])
    rows = await ctx.run_query("search:codeInNamespace", {
        "namespace": namespace, "text": query, "vector": vector, "mode": "hybrid",
        "limit": SEARCH_RESULTS})
    results = [{"id": rank + 1, "content": row["code"], "relevance": round(row["score"], 4),
                "filePath": row["path"], "lineStart": row["lineStart"],
                "lineEnd": row["lineEnd"], "language": row["lang"], "kind": row["kind"],
                "name": row["name"]} for rank, row in enumerate(rows)]
    return {"success": True, "query": query, "results": results,
            "searchTerms": query.split(), "message": f"{len(results)} chunks found"}


TOOLS: Final[tuple[Tool, ...]] = (
    read_file, list_dir, file_search, grep_search, edit_file, search_replace, delete_file,
    run_terminal_cmd, todo_write, add_memory, list_memories, remove_memory, semantic_search)
