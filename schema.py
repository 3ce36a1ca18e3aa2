"""The example app's data model: the coding-agent platform of docs/guide/example-app.md.

Enums and the chat-message metadata validators are module-level names here so
that `functions/` can import them (`from ..schema import task_status`) and the
tables and the function arguments share one definition.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

from reactor import Id, define_schema, define_table, v
from reactor.auth.password import password_tables
from reactor.values import Validator

TASK_STATUSES: Final = ("STOPPED", "INITIALIZING", "ARCHIVED", "RUNNING", "COMPLETED", "FAILED")
INIT_STATUSES: Final = (
    "INACTIVE",
    "PREPARE_WORKSPACE",
    "CREATE_VM",
    "WAIT_VM_READY",
    "VERIFY_VM_WORKSPACE",
    "START_BACKGROUND_SERVICES",
    "INSTALL_DEPENDENCIES",
    "COMPLETE_SHADOW_WIKI",
    "ACTIVE",
)
# Every embedder answers with this many numbers (functions/_lib/embeddings.py).
EMBEDDING_DIMENSIONS: Final = 384
INDEX_STATUSES: Final = ("indexing", "done", "failed")
MESSAGE_ROLES: Final = ("USER", "ASSISTANT", "SYSTEM")
TODO_STATUSES: Final = ("PENDING", "IN_PROGRESS", "COMPLETED", "CANCELLED")
# Declaration order is the display order (the original sorted by this enum).
MEMORY_CATEGORIES: Final = (
    "INFRA",
    "SETUP",
    "STYLES",
    "ARCHITECTURE",
    "TESTING",
    "PATTERNS",
    "BUGS",
    "PERFORMANCE",
    "CONFIG",
    "GENERAL",
)
PULL_REQUEST_STATUSES: Final = ("CREATED", "UPDATED")
FINISH_REASONS: Final = ("stop", "length", "content-filter", "tool-calls", "error", "other",
                         "unknown")


def one_of(values: tuple[str, ...]) -> Validator:
    """An enum column: a union of its string literals."""
    return v.union(*(v.literal(value) for value in values))


task_status = one_of(TASK_STATUSES)
init_status = one_of(INIT_STATUSES)
message_role = one_of(MESSAGE_ROLES)
index_status = one_of(INDEX_STATUSES)
todo_status = one_of(TODO_STATUSES)
memory_category = one_of(MEMORY_CATEGORIES)
pull_request_status = one_of(PULL_REQUEST_STATUSES)
TOOL_CALL_STATUSES: Final = ("REQUESTED", "RUNNING", "SUCCEEDED", "FAILED")
tool_call_status = one_of(TOOL_CALL_STATUSES)
file_change_kind = one_of(("created", "modified", "deleted"))
terminal_stream = one_of(("command", "stdout", "stderr", "exit"))
finish_reason = one_of(FINISH_REASONS)

usage = v.object({
    "promptTokens": v.number(),
    "completionTokens": v.number(),
    "totalTokens": v.number(),
})

# One part of an assistant message, as the agent streams it.
message_part = v.union(
    v.object({"type": v.literal("text"), "text": v.string()}),
    v.object({
        "type": v.literal("tool-call"),
        "toolCallId": v.string(),
        "toolName": v.string(),
        "args": v.any(),
    }),
    v.object({
        "type": v.literal("tool-result"),
        "toolCallId": v.string(),
        "toolName": v.string(),
        "result": v.any(),
    }),
    v.object({
        "type": v.literal("reasoning"),
        "text": v.string(),
        "signature": v.optional(v.string()),
    }),
    v.object({"type": v.literal("redacted-reasoning"), "data": v.string()}),
    v.object({
        "type": v.literal("error"),
        "error": v.string(),
        "finishReason": v.optional(finish_reason),
    }),
)

# The workspace state a message can be restored to.
checkpoint = v.object({
    "commitSha": v.string(),
    "todoSnapshot": v.array(v.object({
        "id": v.string(),
        "content": v.string(),
        "status": todo_status,
        "sequence": v.number(),
    })),
    "createdAt": v.number(),
    "workspaceState": v.any(),
})

message_metadata = v.object({
    "parts": v.optional(v.array(message_part)),
    "isStreaming": v.optional(v.boolean()),
    "usage": v.optional(usage),
    "finishReason": v.optional(finish_reason),
    "checkpoint": v.optional(checkpoint),
})

schema = define_schema({
    # Password credentials and pending sign-ups, kept by reactor.auth.password.
    **password_tables(),
    # Mail waiting for delivery (sign-up codes, notices): functions/_lib/mail.py.
    "outbox": define_table({
        "to": v.string(),
        "kind": v.string(),
        "subject": v.string(),
        "text": v.string(),
        "code": v.optional(v.string()),
        "createdAt": v.number(),
    }).index("by_to", ["to"]).index("by_created", ["createdAt"]),
    "users": define_table({
        "name": v.string(),
        "email": v.string(),  # unique, stored lower-case
        "emailVerified": v.boolean(),
        "image": v.optional(v.string()),
        # The identity's tokenIdentifier for users signed in through an external issuer.
        "externalId": v.optional(v.string()),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    }).index("by_email", ["email"]).index("by_external_id", ["externalId"]),
    "sessions": define_table({
        "token": v.string(),  # SHA-256 (hex) of the session secret, never the secret
        "expiresAt": v.number(),
        "ipAddress": v.optional(v.string()),
        "userAgent": v.optional(v.string()),
        "userId": v.id("users"),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    }).index("by_token", ["token"]).index("by_user", ["userId"]),
    "accounts": define_table({
        "accountId": v.string(),
        "providerId": v.string(),
        "userId": v.id("users"),
        "accessToken": v.optional(v.string()),
        "refreshToken": v.optional(v.string()),
        "idToken": v.optional(v.string()),
        "accessTokenExpiresAt": v.optional(v.number()),
        "refreshTokenExpiresAt": v.optional(v.number()),
        "scope": v.optional(v.string()),
        # Before reactor.auth.password: a scrypt hash (see auth:migrateLegacyPasswords).
        "password": v.optional(v.string()),
        "githubInstallationId": v.optional(v.string()),
        "githubAppConnected": v.boolean(),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    })
    .index("by_user", ["userId"])
    .index("by_provider", ["providerId", "accountId"])
    .index("by_user_provider", ["userId", "providerId"]),
    "verification": define_table({
        "identifier": v.string(),
        "value": v.string(),
        "expiresAt": v.number(),
        "createdAt": v.optional(v.number()),
        "updatedAt": v.optional(v.number()),
    }).index("by_identifier", ["identifier"]),
    "userSettings": define_table({
        "userId": v.id("users"),
        "memoriesEnabled": v.boolean(),
        "autoPullRequest": v.boolean(),
        "enableShadowWiki": v.boolean(),
        "enableIndexing": v.boolean(),
        "selectedModels": v.array(v.string()),
        "rules": v.optional(v.string()),
    }).index("by_user", ["userId"]),
    "tasks": define_table({
        "title": v.string(),
        "status": task_status,
        "repoFullName": v.string(),
        "repoUrl": v.string(),
        "isScratchpad": v.boolean(),
        "mainModel": v.optional(v.string()),
        "workspacePath": v.optional(v.string()),
        "initStatus": init_status,
        "scheduledCleanupAt": v.optional(v.number()),
        # The pending `tasks:cleanup` job, so a new user message can cancel it.
        "cleanupJobId": v.optional(v.string()),
        "initializationError": v.optional(v.string()),
        "errorMessage": v.optional(v.string()),
        "workspaceCleanedUp": v.boolean(),
        "hasBeenInitialized": v.boolean(),
        "userId": v.id("users"),
        "baseBranch": v.string(),
        "baseCommitSha": v.string(),
        "shadowBranch": v.string(),
        "pullRequestNumber": v.optional(v.number()),
        "githubIssueId": v.optional(v.string()),
        "codebaseUnderstandingId": v.optional(v.id("codebaseUnderstanding")),
        # Set while the messages after this sequence are being deleted (an edit of an
        # earlier message): readers ignore them, appends wait (messages:purgeAfter).
        "truncatedAfter": v.optional(v.number()),
        # The agent run that may write to the task (the newest user message's); an
        # older run that finds another id here stops (functions/_lib/agent_runs.py).
        "agentRunId": v.optional(v.string()),
        # Until when that run counts as alive; it renews this while it runs, and the
        # agent:watchdog job calls a run whose lease ran out (a crashed server) interrupted.
        "agentLeaseUntil": v.optional(v.number()),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    })
    .index("by_user", ["userId"])
    .index("by_user_status", ["userId", "status"])
    .index("by_status", ["status"])
    .index("by_repo", ["repoFullName"])
    .index("by_user_repo", ["userId", "repoFullName"])
    .index("by_agent_run", ["agentRunId"]),
    "taskSessions": define_table({
        "taskId": v.id("tasks"),
        "podName": v.optional(v.string()),
        "podNamespace": v.optional(v.string()),
        "isActive": v.boolean(),
        "connectionId": v.optional(v.string()),
        "createdAt": v.number(),
        "endedAt": v.optional(v.number()),
    }).index("by_task_active", ["taskId", "isActive"]),
    "chatMessages": define_table({
        "taskId": v.id("tasks"),
        "content": v.string(),
        "role": message_role,
        "llmModel": v.string(),
        "metadata": v.optional(message_metadata),
        "sequence": v.number(),
        "promptTokens": v.optional(v.number()),
        "completionTokens": v.optional(v.number()),
        "totalTokens": v.optional(v.number()),
        "finishReason": v.optional(finish_reason),
        "stackedTaskId": v.optional(v.id("tasks")),
        "createdAt": v.number(),
        "editedAt": v.optional(v.number()),
        # The task's owner, so search:messages filters one user's history in the index.
        "userId": v.optional(v.id("users")),
    })
    .index("by_task_sequence", ["taskId", "sequence"])
    .index("by_task_role", ["taskId", "role", "sequence"])
    .index("by_model_created", ["llmModel", "createdAt"])
    .search_index("search_content", search_field="content", filter_fields=["userId", "taskId"]),
    # Files attached to a task's chat: the bytes are in `_storage`.
    "attachments": define_table({
        "taskId": v.id("tasks"),
        "userId": v.id("users"),
        "storageId": v.id("_storage"),
        "name": v.string(),
        "createdAt": v.number(),
    }).index("by_task", ["taskId", "createdAt"]),
    "pullRequestSnapshots": define_table({
        "messageId": v.id("chatMessages"),
        # The message's task, so that deleting a task finds its snapshots by index
        # (absent on snapshots recorded before it was added).
        "taskId": v.optional(v.id("tasks")),
        "status": pull_request_status,
        "title": v.string(),
        "description": v.string(),
        "filesChanged": v.number(),
        "linesAdded": v.number(),
        "linesRemoved": v.number(),
        "commitSha": v.string(),
        "createdAt": v.number(),
    }).index("by_message", ["messageId"]).index("by_task", ["taskId"]),
    "todos": define_table({
        "taskId": v.id("tasks"),
        "todoId": v.string(),  # the agent's own id; unique per task
        "content": v.string(),
        "status": todo_status,
        "sequence": v.number(),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    })
    .index("by_task_sequence", ["taskId", "sequence"])
    .index("by_task_status", ["taskId", "status"])
    .index("by_task_todo_id", ["taskId", "todoId"]),
    "memories": define_table({
        "content": v.string(),
        "category": memory_category,
        "repoFullName": v.string(),
        "repoUrl": v.string(),
        "userId": v.id("users"),
        "taskId": v.id("tasks"),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    })
    .index("by_user_repo", ["userId", "repoFullName", "category"])
    .index("by_task", ["taskId"])
    .index("by_category", ["category"]),
    # The agent's tool calls, one row each: REQUESTED -> RUNNING -> SUCCEEDED/FAILED.
    "toolCalls": define_table({
        "taskId": v.id("tasks"),
        "messageId": v.id("chatMessages"),
        "toolCallId": v.string(),
        "toolName": v.string(),
        "args": v.any(),
        "status": tool_call_status,
        "result": v.optional(v.any()),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    }).index("by_task", ["taskId"]).index("by_call", ["taskId", "toolCallId"]),
    # Each file the agent's tools created, modified or deleted.
    "fileChanges": define_table({
        "taskId": v.id("tasks"),
        "toolCallId": v.string(),
        "path": v.string(),
        "kind": file_change_kind,
        "beforeHash": v.optional(v.string()),
        "afterHash": v.optional(v.string()),
        "diff": v.string(),
        "linesAdded": v.number(),
        "linesRemoved": v.number(),
        "createdAt": v.number(),
    }).index("by_task", ["taskId"]),
    # run_terminal_cmd's command, output chunks and exit, as they happen.
    "terminalOutput": define_table({
        "taskId": v.id("tasks"),
        "toolCallId": v.string(),
        "stream": terminal_stream,
        "text": v.string(),
        "createdAt": v.number(),
    }).index("by_task", ["taskId"]),
    # The code index (the seed's Milestone 6, searched by search:code and the agent's
    # semantic_search tool): a repository's files in chunks (by definition where a parser
    # is installed, else by lines), per repository namespace, with their embeddings.
    "codeChunks": define_table({
        "repoFullName": v.string(),  # the namespace: "owner/repo", or "task:<id>"
        "path": v.string(),
        "name": v.string(),
        "lang": v.string(),
        "kind": v.string(),
        "lineStart": v.number(),
        "lineEnd": v.number(),
        "code": v.string(),
        # Absent on chunks indexed before embeddings existed: text search still finds them.
        "embedding": v.optional(v.array(v.float64())),
    })
    .index("by_repo", ["repoFullName"])
    .index("by_repo_path", ["repoFullName", "path"])
    .search_index("search_code", search_field="code", filter_fields=["repoFullName"])
    .vector_index("by_embedding", vector_field="embedding", dimensions=EMBEDDING_DIMENSIONS,
                  filter_fields=["repoFullName"]),
    # One row per indexed file: its content hash, so a re-index redoes changed files only.
    "codeFiles": define_table({
        "repoFullName": v.string(),
        "path": v.string(),
        "hash": v.string(),
        "chunks": v.number(),
    }).index("by_repo_path", ["repoFullName", "path"]),
    # Also the live progress of an indexing run: subscribe with codeIndex:progress.
    "repositoryIndex": define_table({
        "repoFullName": v.string(),
        "lastIndexedAt": v.number(),
        "lastCommitSha": v.optional(v.string()),
        "status": v.optional(index_status),
        "filesDone": v.optional(v.number()),
        "filesTotal": v.optional(v.number()),
        "chunkCount": v.optional(v.number()),
        "error": v.optional(v.string()),
        # The indexing run that may write: a newer run takes over from an older one.
        "runId": v.optional(v.string()),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    }).index("by_repo", ["repoFullName"]),
    "codebaseUnderstanding": define_table({
        "repoFullName": v.string(),
        "repoUrl": v.string(),
        "content": v.any(),
        "userId": v.id("users"),
        "createdAt": v.number(),
        "updatedAt": v.number(),
    }).index("by_repo", ["repoFullName"]).index("by_user", ["userId"]),
})

# Id types for annotations (`taskId: TaskId` validates as v.id("tasks")); the
# `Literal` spelling is the one type checkers read.
TaskId: TypeAlias = Id[Literal["tasks"]]
