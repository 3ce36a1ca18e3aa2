"""The CLI as a new user meets it: init, --version, refusals that create nothing, run as a
user, readable remote errors, the dev log of every call, codegen kept current, `GET /`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from e2e_support import REPO_ROOT, ReactorServer, free_port
from sync_support import ProtocolClient

from reactor.cli.init import create_app
from reactor.cli.main import main
from reactor.runtime import Engine
from reactor.server.app import ReactorServer as InProcessServer

SYNC_APP = REPO_ROOT / "tests" / "apps" / "sync"
ENV = {"SYNC_TEST_HS256_SECRET": "s" * 40}


def reactor(*args: str, cwd: Path = REPO_ROOT,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reactor", *args], cwd=cwd,
                          env={**os.environ, **ENV}, capture_output=True, text=True,
                          timeout=timeout)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """`reactor ...` in this process (faster than a subprocess): exit code and output."""

    def run(*args: str, cwd: Path = REPO_ROOT) -> Ran:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = capsys.readouterr()
        return Ran(int(exited.value.code or 0), out, err)

    return run


def wait_until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_version(cli: Callable[..., Ran]) -> None:
    done = cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == "reactor 0.1.0"


# init ----------------------------------------------------------------------------


def test_init_scaffolds_an_app_that_runs(tmp_path: Path, cli: Callable[..., Ran]) -> None:
    # (test_install.py runs the scaffold's own test with the installed package.)
    done = cli("init", "myapp", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    app = tmp_path / "myapp"
    made = sorted(str(p.relative_to(app)) for p in app.rglob("*") if p.is_file())
    assert made == [".gitignore", "README.md", "functions/notes.py", "pyproject.toml",
                    "schema.py", "tests/test_notes.py"]
    assert ".reactor/" in (app / ".gitignore").read_text().splitlines()
    assert (app / "README.md").read_text().startswith("# myapp\n")
    assert 'asyncio_mode = "auto"' in (app / "pyproject.toml").read_text()
    assert "cd myapp" in done.stdout and "reactor dev" in done.stdout
    ran = cli("run", "notes:add", '{"author": "ada", "body": "hi"}', cwd=app)
    assert ran.returncode == 0, ran.stderr
    listed = cli("run", "notes:byAuthor", '{"author": "ada"}', cwd=app)
    assert [note["body"] for note in json.loads(listed.stdout)] == ["hi"]
    assert (app / ".reactor").is_dir()


def test_init_refuses_a_folder_in_use_and_a_bad_name(tmp_path: Path,
                                                     cli: Callable[..., Ran]) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    done = cli("init", "taken", cwd=tmp_path)
    assert done.returncode == 1
    assert "already exists and is not an empty folder" in done.stderr
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]
    bad = cli("init", "my app", cwd=tmp_path)
    assert bad.returncode == 1 and "BadAppName" in bad.stderr
    assert not (tmp_path / "my app").exists()


# Refusals that leave nothing behind --------------------------------------------


@pytest.mark.parametrize("command", [
    ["dev", "{dir}"], ["serve", "{dir}"], ["run", "notes:add", "--app", "{dir}"],
    ["env", "list", "--app", "{dir}"], ["codegen", "{dir}"],
])
def test_a_folder_that_is_not_an_app_is_refused_and_left_alone(
        tmp_path: Path, command: list[str], cli: Callable[..., Ran]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8")
    done = cli(*[part.format(dir=folder) for part in command], cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "is not a Reactor app: it has no schema.py and no functions/ folder" in lines[0]
    assert "reactor init" in lines[0]
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_env_url_without_a_key_says_where_the_key_comes_from(tmp_path: Path,
                                                            cli: Callable[..., Ran]) -> None:
    done = cli("env", "list", "--url", "http://127.0.0.1:9", "--data",
                   str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 1
    assert "AdminKeyMissing" in done.stderr
    assert "--admin-key" in done.stderr and "`reactor admin-key" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_taken_port_is_one_line_and_creates_nothing(tmp_path: Path,
                                                      cli: Callable[..., Ran]) -> None:
    app = tmp_path / "app"
    create_app(app)
    before = sorted(p.name for p in app.iterdir())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("serve", str(app), "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error [PortInUse]: port {port} on 127.0.0.1 is already in use (another server?):"
        " stop it, or pass --port N"]
    assert sorted(p.name for p in app.iterdir()) == before  # no .reactor/


# run as a user, and errors from --url ------------------------------------------


def test_run_as_a_user_locally(tmp_path: Path, cli: Callable[..., Ran]) -> None:
    data = str(tmp_path / "data")
    identity = '{"subject": "user-7", "name": "Ada"}'
    done = cli("run", "auth:whoami", "--app", str(SYNC_APP), "--data", data,
                   "--identity", identity)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"subject": "user-7", "name": "Ada", "issuer": "admin",
                                       "tokenIdentifier": "admin|user-7"}
    assert json.loads(cli("run", "auth:whoami", "--app", str(SYNC_APP),
                          "--data", data).stdout) is None
    # As a user, only what a client may call.
    internal = cli("run", "counter:peek", '{"name": "x"}', "--app", str(SYNC_APP),
                       "--data", data, "--identity", identity)
    assert internal.returncode == 1
    assert "could not find public function for 'counter:peek'" in internal.stderr.lower()
    bad = cli("run", "auth:whoami", "--app", str(SYNC_APP), "--data", data,
                  "--identity", '{"name": "no subject"}')
    assert bad.returncode == 1 and '"subject" string' in bad.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(SYNC_APP, tmp_path_factory.mktemp("first-hour"), env=ENV) as running:
        yield running


def test_run_as_a_user_through_a_server_and_its_errors_as_messages(
        server: ReactorServer) -> None:
    data = str(server.data_dir)
    done = reactor("run", "auth:whoami", "--url", server.url, "--data", data,
                   "--identity", '{"subject": "user-9"}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["subject"] == "user-9"
    wrong_key = reactor("run", "counter:get", '{"name": "x"}', "--url", server.url,
                        "--admin-key", "reactor_admin_nope")
    assert wrong_key.returncode == 1
    assert wrong_key.stderr.strip() == (
        f"error [AuthError]: {server.url}/api/run: the admin key is not valid for this"
        " deployment")
    missing = reactor("run", "counter:nope", "{}", "--url", server.url, "--data", data)
    assert missing.returncode == 1
    assert "{" not in missing.stderr
    assert "could not find function for 'counter:nope'" in missing.stderr.lower()


# GET / ----------------------------------------------------------------------------


async def test_the_root_page_says_what_runs_and_links_the_demo(tmp_path: Path) -> None:
    app = tmp_path / "notebook"
    create_app(app)
    for has_demo in (False, True):
        if has_demo:
            (app / "demo").mkdir()
            (app / "demo" / "index.html").write_text("<h1>demo</h1>")
        server = InProcessServer(Engine(app, tmp_path / f"data-{has_demo}", durability="normal"))
        await server.start()
        transport = httpx.ASGITransport(app=server.build())
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                page = await client.get("/")
                demo = await client.get("/demo/")
        finally:
            await server.stop()
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Reactor is running" in page.text and "<strong>notebook</strong>" in page.text
        assert 'new ConvexClient("http://t")' in page.text
        assert str(tmp_path) not in page.text  # names the app, not where it lives
        assert ('href="/demo/"' in page.text) is has_demo
        assert (demo.text == "<h1>demo</h1>") is has_demo


# reactor dev: the log of every call, and codegen kept current --------------------


@pytest.fixture
def dev_app(tmp_path: Path) -> Iterator[ReactorServer]:
    app = tmp_path / "app"
    create_app(app)
    (app / "functions" / "broken.py").write_text(
        "from reactor import query\n\n\n@query(args={})\nasync def boom(ctx):\n"
        "    raise RuntimeError('kaput')\n")
    assert reactor("codegen", str(app), "--client", "convex").returncode == 0
    with ReactorServer(app, tmp_path / "data", command="dev") as running:
        yield running


async def test_dev_logs_every_call_and_keeps_codegen_current(dev_app: ReactorServer) -> None:
    async with ProtocolClient(dev_app.url) as client:
        await client.send({"type": "ModifyQuerySet", "baseVersion": 0, "newVersion": 1,
                           "modifications": [
                               {"type": "Add", "queryId": 0, "udfPath": "notes:byAuthor",
                                "args": [{"author": "ada"}]},
                               {"type": "Add", "queryId": 1, "udfPath": "broken:boom",
                                "args": [{}]}]})
        await client.receive()
        await client.send({"type": "Mutation", "requestId": 0, "udfPath": "notes:add",
                           "args": [{"author": "ada", "body": "hi"}]})
        wait_until(lambda: "(live, re-run)" in dev_app.log(), "the re-run in the log")
    log = dev_app.log()
    assert "[query] notes:byAuthor (live) " in log
    failed = next(line for line in log.splitlines() if line.startswith("[query] broken:boom"))
    assert failed.startswith("[query] broken:boom (live) ")
    assert "failed [Request ID: " in failed and "kaput" in failed
    assert "[mutation] notes:add " in log
    rerun = next(line for line in log.splitlines() if "(live, re-run)" in line)
    assert rerun.startswith("[query] notes:byAuthor (live, re-run) ")
    assert rerun.endswith(" ms ok")
    # A new function: the dev server reloads and rewrites the app's _generated/ files.
    generated = dev_app.app_dir / "_generated" / "api.js"
    assert "later" not in generated.read_text()
    (dev_app.app_dir / "functions" / "later.py").write_text(
        "from reactor import query\n\n\n@query(args={})\nasync def soon(ctx):\n"
        "    return 1\n")
    wait_until(lambda: 'makeFunctionReference("later:soon")' in generated.read_text(),
               "regenerated client code")
    assert 'from "convex/server"' in generated.read_text()
    assert "regenerated _generated/ (convex client)" in dev_app.log()


def test_make_dev_passes_arguments_through() -> None:
    port = str(free_port())
    done = subprocess.run(["make", "-n", "dev", f"ARGS=--port {port} --host 0.0.0.0"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert f".venv/bin/reactor dev . --port {port} --host 0.0.0.0" in done.stdout
