"""Assistant message parts: merging streamed deltas, and reading text and errors back out.

Pure functions over plain dicts (no ctx), so they are tested on their own.
"""

from __future__ import annotations

from typing import Any

Part = dict[str, Any]


def merge_parts(existing: list[Part], incoming: list[Part]) -> list[Part]:
    """`existing` followed by `incoming`, each text delta joined onto a text part before it.

    So a streamed answer is stored as a few parts (text, tool call, text, ...) rather
    than one part per token. Empty text deltas carry nothing and are dropped. Linear:
    a run of deltas is joined once, not re-copied delta by delta.
    """
    merged = list(existing)
    run: list[str] = []  # the texts making up merged[-1] while deltas keep joining it

    def close_run() -> None:
        if len(run) > 1:
            merged[-1] = {**merged[-1], "text": "".join(run)}
        run.clear()

    for part in incoming:
        if part["type"] == "text":
            if not part["text"]:
                continue
            if merged and merged[-1]["type"] == "text":
                if not run:
                    run.append(merged[-1]["text"])
                run.append(part["text"])
                continue
        close_run()
        merged.append(part)
    close_run()
    return merged


def joined_text(parts: list[Part]) -> str:
    """The message content: every text part, in order."""
    return "".join(part["text"] for part in parts if part["type"] == "text")


def last_error(parts: list[Part]) -> str | None:
    """The text of the last error part, if the stream reported one."""
    errors = [part["error"] for part in parts if part["type"] == "error"]
    return errors[-1] if errors else None
