"""The guides of scheduler, crons, actions, HTTP actions and env document every knob and code."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from pathlib import Path

import pytest

from reactor import HttpResponse
from reactor.cli.main import build_parser
from reactor.runtime.scheduler import CronJobs, SchedulerOptions

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide"


def page(name: str) -> str:
    return (GUIDE / name).read_text()


def test_every_scheduler_setting_is_documented() -> None:
    text = page("scheduler.md")
    for setting in dataclasses.fields(SchedulerOptions):
        assert f"`{setting.name}`" in text, setting.name


def test_every_cron_method_is_documented() -> None:
    text = page("crons.md")
    methods = [name for name, _ in inspect.getmembers(CronJobs, inspect.isfunction)
               if not name.startswith("_") and name != "check"]
    assert methods
    for name in methods:
        assert f"`{name}(" in text, name


def test_every_response_constructor_is_documented() -> None:
    text = page("http-actions.md")
    for name in ("text", "json", "sse"):
        assert callable(getattr(HttpResponse, name))
        assert f"HttpResponse.{name}(" in text, name


def test_every_env_command_and_option_is_documented() -> None:
    text = page("environment.md")
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    env = commands.choices["env"]
    actions = next(a for a in env._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in actions.choices.items():
        assert f"reactor env {name}" in text, name
        for option in sub._option_string_actions:
            if option.startswith("--") and option != "--help":
                assert option in text, f"env {name} {option}"


@pytest.mark.parametrize(("guide", "codes"), [
    ("scheduler.md", ["JobNotFound", "FunctionNotFound", "InvalidValue"]),
    ("crons.md", ["InvalidCronExpression", "DuplicateCronJob", "FunctionNotFound",
                  "WrongFunctionKind"]),
    ("actions.md", ["ActionTimeout"]),
    ("http-actions.md", ["RouteNotFound", "MethodNotAllowed", "RequestTooLarge"]),
    ("environment.md", ["InvalidEnvironmentVariable", "EnvironmentVariableNotFound",
                        "DataDirLocked"]),
])
def test_error_codes_are_documented(guide: str, codes: list[str]) -> None:
    text = page(guide)
    for code in codes:
        assert code in text, code


@pytest.mark.parametrize(("guide", "command_names"), [
    ("backups.md", ["backup", "restore"]),
    ("import-export.md", ["export", "import"]),
])
def test_every_data_command_option_is_documented(guide: str, command_names: list[str]) -> None:
    text = page(guide)
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in command_names:
        assert f"reactor {name}" in text, name
        for option in commands.choices[name]._option_string_actions:
            if option.startswith("--") and option not in ("--help", "--app"):
                assert option in text, f"{name} {option}"
    if guide == "backups.md":
        for option in ("--backup-every", "--backup-keep", "--backup-dir"):
            assert option in text, option


def test_every_migrate_option_is_documented() -> None:
    text = page("migrating-from-prisma.md")
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    migrate = commands.choices["migrate"]
    kinds = next(a for a in migrate._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in kinds.choices.items():
        assert f"reactor migrate {name}" in text, name
        for option in sub._option_string_actions:
            if option.startswith("--") and option != "--help":
                assert option in text, f"migrate {name} {option}"
