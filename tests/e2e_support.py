"""Helpers for end-to-end tests: the Node harness with the official client, and a real server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = REPO_ROOT / "tests" / "node"
_LOCK_FILE = NODE_DIR / "package-lock.json"
# npm ci writes this copy of the lock file last: its age tells whether the install is current.
_INSTALLED_STAMP = NODE_DIR / "node_modules" / ".package-lock.json"


class NodeError(RuntimeError):
    """A Node script failed or printed no JSON result; carries its output."""


class ServerStartError(RuntimeError):
    """The server did not answer /health in time; the message holds its log."""


def ensure_node_modules() -> Path:
    """Install tests/node's locked dependencies when missing or older than the lock file.

    A node_modules that is a link (a git worktree sharing another checkout's) is
    used as it is: installing through it would replace the other checkout's copy.
    """
    if (NODE_DIR / "node_modules").is_symlink():
        return NODE_DIR / "node_modules"
    stale = (
        not _INSTALLED_STAMP.exists()
        or _LOCK_FILE.stat().st_mtime > _INSTALLED_STAMP.stat().st_mtime
    )
    if stale:
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise NodeError(f"npm ci failed in {NODE_DIR}:\n{result.stdout}\n{result.stderr}")
        _INSTALLED_STAMP.touch()
    return NODE_DIR / "node_modules"


def run_node(
    script: str | Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Any:
    """Run a Node ES module and return the JSON printed on its last stdout line.

    `script` is a path to a `.mjs` file or the module's source text; either way
    imports resolve from tests/node, so `convex/browser` and `ws` are found.
    """
    is_path = isinstance(script, Path) or ("\n" not in script and script.endswith((".mjs", ".js")))
    if is_path:
        command = ["node", str(Path(script).resolve()), *args]
        source = None
    else:
        command = ["node", "--input-type=module", "-", *args]
        source = str(script)
    with subprocess.Popen(
        command,
        stdin=subprocess.PIPE if source is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=NODE_DIR,
        env={**os.environ, **(env or {})},
        text=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(source, timeout=timeout)
        except subprocess.TimeoutExpired:
            # SIGTERM first: a script may say what it still waits for (nodes_bank.mjs).
            process.terminate()
            try:
                stdout, stderr = process.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
            raise NodeError(f"node timed out after {timeout} s: {command}\n"
                            f"stdout:\n{stdout}\nstderr:\n{stderr}") from None
    lines = [line for line in stdout.splitlines() if line.strip()]
    if process.returncode != 0 or not lines:
        raise NodeError(
            f"node exited with {process.returncode}: {command}\n"
            f"stdout:\n{stdout}\nstderr:\n{stderr}"
        )
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise NodeError(
            f"node's last stdout line is not JSON: {lines[-1]!r}\nstderr:\n{stderr}"
        ) from None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ReactorServer:
    """`python -m reactor serve` as a real subprocess, for tests that need a live server.

    Output goes to `<data_dir>/server.log`. `kill()` simulates a crash (SIGKILL),
    `stop()` a clean shutdown (SIGTERM), `restart()` starts again on the same port
    and data directory. `command="dev"` runs `reactor dev` (hot reload); `args` are
    extra command-line options such as `["--cors-origin", "https://app.test"]`.
    """

    def __init__(
        self,
        app_dir: str | Path,
        data_dir: str | Path,
        *,
        port: int | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 20.0,
        command: str = "serve",
        args: list[str] | None = None,
    ) -> None:
        self.command = command
        self.args = args or []
        self.app_dir = Path(app_dir)
        self.data_dir = Path(data_dir)
        self.port = port if port is not None else free_port()
        self.env = env or {}
        self.startup_timeout = startup_timeout
        self.log_path = self.data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        """Everything the server has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> ReactorServer:
        """Start the server and return once `/health` answers 200."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"server already running (pid {self.process.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "reactor", self.command, str(self.app_dir),
            "--host", "127.0.0.1", "--port", str(self.port), "--data", str(self.data_dir),
            *self.args,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            log.write(f"--- {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                # The allocator `reactor serve` would re-execute itself to get, set
                # up front: one interpreter start instead of two.
                env={"PYTHONMALLOC": "malloc", **os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() reaches any children
            )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"server exited with {self.process.returncode} before answering /health; "
                    f"log:\n{self.log()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.kill()
        raise ServerStartError(
            f"server did not answer {self.url}/health within {self.startup_timeout} s; "
            f"log:\n{self.log()}"
        )

    def _signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush or close anything."""
        if self.process is None:
            return
        self._signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait for a clean exit (SIGKILL after `timeout`); the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def restart(self) -> ReactorServer:
        """Stop if still running, then start again on the same port and data directory."""
        self.stop()
        return self.start()

    def __enter__(self) -> ReactorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
