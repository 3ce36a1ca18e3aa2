"""The package outside the checkout: build the wheel, install it into a fresh virtualenv,
`reactor init`, `reactor dev`, and drive the new app with the official `convex` client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from e2e_support import REPO_ROOT, free_port, run_node

pytestmark = pytest.mark.slow

# The app's own frontend: typed references from `reactor codegen --client convex`,
# the official client, a live query and a mutation; it exits once the update arrives.
FRONTEND = """
import { ConvexClient } from "convex/browser";
const { api } = await import(process.argv[2]);
const client = new ConvexClient(process.argv[3]);
const seen = [];
const done = new Promise((resolve) => client.onUpdate(api.notes.byAuthor, { author: "ada" },
  (notes) => { seen.push(notes.map((n) => n.body)); if (notes.length) resolve(); }));
const id = await client.mutation(api.notes.add, { author: "ada", body: "from the wheel" });
await done;
await client.close();
console.log(JSON.stringify({ id, seen }));
"""


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done


def build_wheel(root: Path) -> Path:
    """`python -m build --wheel` of a copy of the sources (the checkout stays untouched);
    without build isolation, so that no download is needed: the test extras hold
    setuptools."""
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    shutil.copytree(REPO_ROOT / "reactor", source / "reactor",
                    ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
         str(root / "dist"), str(source)], root)
    return next((root / "dist").glob("reactor-*.whl"))


def fresh_venv(root: Path, wheel: Path) -> Path:
    """A new virtualenv with the wheel installed and nothing from the checkout.

    Reactor's dependencies come from this test run's environment through a .pth line
    (no download); `.pth` files there are not processed, so the checkout's editable
    install stays invisible.
    """
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root)
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
               root).stdout.strip()
    (Path(site) / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)], root)
    return venv


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"reactor dev exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"reactor dev did not start:\n{log.read_text()}")


def test_wheel_init_dev_and_the_official_client(tmp_path: Path, node_modules: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = run([sys.executable, "-m", "zipfile", "-l", str(wheel)], tmp_path).stdout
    for packaged in ("reactor/py.typed", "reactor/cli/templates/app/schema.py.tmpl",
                     "reactor/cli/templates/app/functions/notes.py.tmpl",
                     "reactor/server/dashboard_static/index.html",
                     "reactor/server/dashboard_static/pages/data.js",
                     "reactor/server/dashboard_static/client/index.js"):
        assert packaged in names, packaged
    venv = fresh_venv(tmp_path, wheel)
    reactor = str(venv / "bin" / "reactor")
    where = run([str(venv / "bin" / "python"), "-c", "import reactor; print(reactor.__file__)"],
                tmp_path).stdout
    assert where.startswith(str(venv)), where
    assert run([reactor, "--version"], tmp_path).stdout.strip() == "reactor 0.1.0"

    run([reactor, "init", "myapp"], tmp_path)
    app = tmp_path / "myapp"
    # Its own test passes with the installed package.
    tested = run([str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                 app)
    assert "1 passed" in tested.stdout
    run([reactor, "codegen", "--client", "convex"], app)
    (app / "node_modules").symlink_to(node_modules, target_is_directory=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        server = subprocess.Popen([reactor, "dev", "--port", str(port)], cwd=app,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(url, server, log)
        with urllib.request.urlopen(url, timeout=5) as response:
            assert "<strong>myapp</strong>" in response.read().decode()
        for page, marker in (("_dashboard/", 'id="sign-in-form"'),
                             ("_dashboard/client/index.js", "export { ReactorClient }")):
            with urllib.request.urlopen(f"{url}/{page}", timeout=5) as response:
                assert marker in response.read().decode(), page
        result = run_node(FRONTEND, (app / "_generated" / "api.js").as_uri(), url, timeout=60)
    finally:
        server.terminate()
        server.wait(15)
    assert result["seen"][-1] == ["from the wheel"]
    assert isinstance(result["id"], str)
    printed = log.read_text()
    assert "[mutation] notes:add " in printed and "[query] notes:byAuthor (live" in printed
    assert server.returncode == 0, printed
    assert (app / ".reactor").is_dir()
