"""Running the agent's commands: a timeout, resource limits, a clean environment.

Plain Python with no database and no relative imports (tests load it on its own).
A command runs in its own process group (killed whole at the timeout and when the
command ends, so nothing it started in the background outlives it), with
`setrlimit` limits on CPU time, address space, file size and processes, and an
environment built from scratch: nothing of the server's own environment (API
keys, the admin key's path) reaches it.

This is not a VM or a container: the command runs as the server's user and can
read whatever that user can read outside the workspace (the working directory is
the workspace, the file system is not hidden). RLIMIT_NPROC counts every process
of the user and is not enforced for root. Deployments that run untrusted agents
should run the server as a dedicated unprivileged user, or inside a container.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

# What the command may see of the environment: nothing inherited.
SAFE_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
READ_CHUNK: Final = 4096

OnOutput = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """Per-command limits; the defaults suit builds and test runs of a small project."""

    timeout_s: float = 60.0
    cpu_s: int = 120
    memory_bytes: int = 4 * 1024**3
    file_bytes: int = 512 * 1024**2
    processes: int = 512
    output_bytes: int = 64 * 1024


@dataclass
class CommandResult:
    """How the command ended and what it printed (each stream cut at the output cap)."""

    exitCode: int | None
    stdout: str = ""
    stderr: str = ""
    timedOut: bool = False
    truncated: bool = False
    durationMs: float = 0.0
    signal: int | None = field(default=None)


def clean_environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A fresh environment for a command: a fixed PATH, HOME in the workspace, no secrets."""
    env = {"PATH": SAFE_PATH, "HOME": str(home), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
           "TERM": "dumb", "GIT_TERMINAL_PROMPT": "0", "PAGER": "cat", "CI": "1"}
    env.update(extra or {})
    return env


def limit_resources(limits: Limits) -> Callable[[], None]:
    """The `preexec_fn` that applies `limits` in the child before it runs the command."""

    def apply() -> None:
        for kind, value in ((resource.RLIMIT_CPU, limits.cpu_s),
                            (resource.RLIMIT_AS, limits.memory_bytes),
                            (resource.RLIMIT_FSIZE, limits.file_bytes),
                            (resource.RLIMIT_NPROC, limits.processes),
                            (resource.RLIMIT_CORE, 0)):
            _, hard = resource.getrlimit(kind)
            ceiling = value if hard == resource.RLIM_INFINITY else min(value, hard)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(kind, (ceiling, ceiling))

    return apply


def shell() -> str:
    return shutil.which("bash", path=SAFE_PATH) or "/bin/sh"


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def run_command(argv: list[str], cwd: Path, limits: Limits | None = None,
                      on_output: OnOutput | None = None,
                      env: dict[str, str] | None = None) -> CommandResult:
    """Run `argv` in `cwd` under `limits`; `on_output(stream, text)` sees output as it comes.

    Both streams together keep at most `limits.output_bytes`; past that the rest is
    read and dropped (`truncated`), so a chatty command never blocks on a full pipe.
    """
    limits = limits or Limits()
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env or clean_environment(cwd),
        start_new_session=True, preexec_fn=limit_resources(limits))
    kept = {"stdout": bytearray(), "stderr": bytearray()}
    budget = [limits.output_bytes]
    truncated = [False]

    async def pump(stream: asyncio.StreamReader | None, name: str) -> None:
        if stream is None:
            return
        while chunk := await stream.read(READ_CHUNK):
            take = chunk[:budget[0]]
            if len(take) < len(chunk):
                truncated[0] = True
            budget[0] -= len(take)
            if take:
                kept[name] += take
                if on_output is not None:
                    await on_output(name, take.decode("utf-8", errors="replace"))

    pumps = asyncio.gather(pump(process.stdout, "stdout"), pump(process.stderr, "stderr"))
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), limits.timeout_s)
    except TimeoutError:
        timed_out = True
    finally:
        # The whole group: what the command left running in the background goes too.
        kill_group(process.pid)
        if process.returncode is None:
            await process.wait()
    try:
        await asyncio.wait_for(pumps, 5)
    except TimeoutError:
        pumps.cancel()
    code = process.returncode
    return CommandResult(
        exitCode=None if timed_out else code,
        stdout=kept["stdout"].decode("utf-8", errors="replace"),
        stderr=kept["stderr"].decode("utf-8", errors="replace"),
        timedOut=timed_out, truncated=truncated[0],
        durationMs=round((time.monotonic() - started) * 1000, 1),
        signal=-code if code is not None and code < 0 and not timed_out else None)


async def run_shell(command: str, cwd: Path, limits: Limits | None = None,
                    on_output: OnOutput | None = None) -> CommandResult:
    """`command` through bash (sh where there is no bash), as the terminal tool runs it."""
    return await run_command([shell(), "-c", command], cwd, limits, on_output)
