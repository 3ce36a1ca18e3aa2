"""Starting the processes a benchmark measures (servers) and drives (load generators)."""

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
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


class Service:
    """A server subprocess in its own process group, ready once `/health` answers."""

    def __init__(self, command: list[str], port: int, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.command = command
        self.env = None if env is None else {**os.environ, **env}
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Service:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, cwd=REPO_ROOT, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[2]} exited: {self.log_path.read_text()}")
            with (contextlib.suppress(urllib.error.URLError, OSError),
                  urllib.request.urlopen(f"{self.http}/health", timeout=1.0)):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.command[2]} did not answer /health in {timeout} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def reactor_server(app: str, data_dir: Path, durability: str,
                   args: list[str] | None = None, env: dict[str, str] | None = None) -> Service:
    """`reactor serve` (through bench.serve, which adds /bench/stats and /bench/bare);
    `args` are more of its options (`["--db", url]`), `env` more of its settings."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    # Capacity is measured: the per-caller rate limits are off, and the connection and upload
    # caps are lifted, since every benchmark client connects from the one loopback address.
    caps = {"REACTOR_MAX_CONNECTIONS": "100000", "REACTOR_MAX_CONNECTIONS_PER_ADDRESS": "100000",
            "REACTOR_UPLOADS_PER_MINUTE": "100000000"}
    command = [sys.executable, "-m", "bench.serve", str(APPS / app), "--port", str(port),
               "--data", str(data_dir), "--durability", durability, "--mutation-rate", "0",
               "--action-rate", "0", *(args or [])]
    return Service(command, port, data_dir / "server.log", env={**caps, **(env or {})})


def echo_server(data_dir: Path, durability: str) -> Service:
    """The push-latency baseline: a bare Starlette app on the same uvicorn settings."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.echo_app", "--port", str(port),
               "--data", str(data_dir), "--durability", durability]
    return Service(command, port, data_dir / "echo.log")


def run_loadgen(module: str, args: dict[str, Any], timeout: float = 600.0) -> dict[str, Any]:
    """Run `bench.<module>[.function](**args)` in its own process; its JSON result."""
    command = [sys.executable, "-m", "bench.loadgen", module, json.dumps(args)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=timeout)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"load generator {module} failed ({result.returncode}):\n"
                           f"{result.stdout}\n{result.stderr}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]
