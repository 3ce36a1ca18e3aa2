"""Environment variables: ctx.env everywhere, reactivity, validation, and `reactor env` locally."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reactor import FunctionError, ReactorError
from reactor.cli.main import main
from reactor.runtime.system.environment import MAX_VALUE_BYTES
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "scheduler"


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP) as test:
        yield test


async def test_every_kind_of_function_reads_the_latest_value(t: ReactorTest) -> None:
    assert await t.query("settings:read", {"name": "GREETING"}) is None
    await t.environment.set("GREETING", "hello")
    assert await t.query("settings:read", {"name": "GREETING"}) == "hello"
    assert await t.mutation("settings:read_in_mutation", {"name": "GREETING"}) == "hello"
    assert await t.action("actions:env_value", {"name": "GREETING"}) == "hello"
    await t.environment.set("GREETING", "bonjour")
    assert await t.action("actions:env_value", {"name": "GREETING"}) == "bonjour"
    assert await t.environment.list() == {"GREETING": "bonjour"}
    assert await t.environment.remove("GREETING") is True
    assert await t.environment.remove("GREETING") is False
    assert await t.query("settings:read", {"name": "GREETING"}) is None


async def test_a_query_reading_a_variable_reruns_when_it_changes(t: ReactorTest) -> None:
    async with t.subscribe("settings:read", {"name": "API_URL"}) as sub:
        assert await sub.next(timeout=5) is None
        await t.environment.set("API_URL", "https://one.example")
        assert await sub.next(timeout=5) == "https://one.example"
        await t.environment.set("OTHER", "x")
        with pytest.raises(TimeoutError):
            await sub.next(timeout=0.2)
        await t.environment.set("API_URL", "https://two.example")
        assert await sub.next(timeout=5) == "https://two.example"
        await t.environment.remove("API_URL")
        assert await sub.next(timeout=5) is None


@pytest.mark.parametrize(("name", "value", "message"), [
    ("1BAD", "x", "environment variable name '1BAD'"),
    ("has-dash", "x", "environment variable name 'has-dash'"),
    ("A" * 41, "x", "at most 40 characters"),
    ("BIG", "x" * (MAX_VALUE_BYTES + 1), f"exceeds the limit of {MAX_VALUE_BYTES} bytes"),
])
async def test_names_and_values_are_checked(t: ReactorTest, name: str, value: str,
                                            message: str) -> None:
    with pytest.raises(ReactorError, match=message) as caught:
        await t.environment.set(name, value)
    assert caught.value.code == "InvalidEnvironmentVariable"


async def test_the_table_is_not_readable_through_ctx_db_system(t: ReactorTest) -> None:
    await t.environment.set("SECRET", "s3cret")
    with pytest.raises(FunctionError, match=r"ctx\.env\.get"):
        await t.query("settings:peek_table", {})


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0)


def test_the_cli_edits_a_data_directory_directly(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    where = ["--app", str(APP), "--data", str(tmp_path)]
    assert run_cli("env", "set", "TOKEN", "abc", *where) == 0
    assert run_cli("env", "set", "MODE", "dev", *where) == 0
    capsys.readouterr()
    assert run_cli("env", "get", "TOKEN", *where) == 0
    assert capsys.readouterr().out == "abc\n"
    assert run_cli("env", "list", *where) == 0
    assert capsys.readouterr().out == "MODE=dev\nTOKEN=abc\n"
    assert run_cli("env", "remove", "TOKEN", *where) == 0
    assert run_cli("env", "get", "TOKEN", *where) == 1
    assert "TOKEN is not set" in capsys.readouterr().err
    assert run_cli("env", "set", "bad-name", "x", *where) == 1
    assert "InvalidEnvironmentVariable" in capsys.readouterr().err

    async def read() -> object:
        async with ReactorTest(APP, tmp_path) as t:
            return await t.query("settings:read", {"name": "MODE"})

    assert asyncio.run(read()) == "dev"
