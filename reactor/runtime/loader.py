"""Loading an app: `schema.py`, `auth_config.py` and every module under `functions/`.

Each load imports the app under a fresh package name, so a new version can be
loaded beside the running one and swapped in only if it imports cleanly.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import traceback
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from reactor.errors import ReactorError
from reactor.runtime.files.settings import StorageSettings
from reactor.runtime.functions import FunctionDefinition
from reactor.runtime.http_actions import HttpRouter
from reactor.runtime.scheduler.crons import CronJobs
from reactor.schema import SchemaDefinition

_generation = itertools.count(1)
T = TypeVar("T")


class AppLoadError(ReactorError):
    code = "AppLoadError"


@dataclass
class App:
    """One loaded version of an app."""

    directory: Path
    package: str
    schema: SchemaDefinition | None
    functions: dict[str, FunctionDefinition]
    modules: dict[str, types.ModuleType] = field(default_factory=dict)
    # `functions/crons.py`'s cron jobs and `functions/http.py`'s router, if declared.
    crons: CronJobs | None = None
    http: HttpRouter | None = None
    # `functions/storage.py`'s file settings (`storage = storage_settings(...)`), if declared.
    storage: StorageSettings | None = None

    def module(self, name: str) -> types.ModuleType | None:
        return self.modules.get(name)


def describe_exception(error: BaseException, directory: Path) -> str:
    """`file:line: Type: message`, pointing at the deepest frame inside the app."""
    frames = traceback.extract_tb(error.__traceback__)
    location = ""
    for frame in frames:
        try:
            Path(frame.filename).resolve().relative_to(directory.resolve())
        except ValueError:
            continue
        location = f"{frame.filename}:{frame.lineno}: "
    if isinstance(error, SyntaxError) and error.filename:
        location = f"{error.filename}:{error.lineno}: "
    return f"{location}{type(error).__name__}: {error}"


def _new_package(directory: Path) -> str:
    name = f"_reactor_app_{next(_generation)}"
    package = types.ModuleType(name)
    package.__path__ = [str(directory)]
    package.__package__ = name
    sys.modules[name] = package
    return name


def _import(package: str, relative: str, directory: Path) -> types.ModuleType:
    try:
        return importlib.import_module(f"{package}.{relative}")
    except ReactorError as error:
        raise AppLoadError(f"{relative}: {error.message}", code=error.code) from error
    except Exception as error:
        raise AppLoadError(describe_exception(error, directory)) from error


def function_modules(directory: Path) -> list[str]:
    """Module paths under `functions/` (`"folder/file"`), skipping `_private` ones."""
    root = directory / "functions"
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        if any(part.startswith(("_", ".")) for part in relative.parts):
            continue
        found.append(relative.as_posix())
    return found


def load_app(directory: Path) -> App:
    """Import a fresh copy of the app; raises `AppLoadError` naming file and line.

    A failed load leaves nothing behind in `sys.modules`.
    """
    directory = directory.resolve()
    package = _new_package(directory)
    try:
        return _load(directory, package)
    except BaseException:
        _forget(package)
        raise


def _load(directory: Path, package: str) -> App:
    schema: SchemaDefinition | None = None
    modules: dict[str, types.ModuleType] = {}
    if (directory / "schema.py").exists():
        module = _import(package, "schema", directory)
        schema = getattr(module, "schema", None)
        if not isinstance(schema, SchemaDefinition):
            raise AppLoadError(f"{directory / 'schema.py'}: expected a module-level"
                               " `schema = define_schema({...})`")
    functions: dict[str, FunctionDefinition] = {}
    for module_path in function_modules(directory):
        module = _import(package, "functions." + module_path.replace("/", "."), directory)
        modules[module_path] = module
        for attribute, value in vars(module).items():
            if not isinstance(value, FunctionDefinition) or attribute.startswith("_"):
                continue
            home = value.function.__module__
            if home != module.__name__ and home.startswith(package + "."):
                continue  # imported from another module of the app: registered there
            name = value.name or attribute
            path = module_path if name == "default" else f"{module_path}:{name}"
            if path in functions and functions[path] is not value:
                raise AppLoadError(f"functions/{module_path}.py: two functions are named"
                                   f" {name!r} (name= must differ from other functions' names)")
            value.path = path
            functions[path] = value
    crons = _declared(modules.get("crons"), CronJobs, "functions/crons.py")
    if crons is not None:
        try:
            crons.check(functions)
        except ReactorError as error:
            raise AppLoadError(f"functions/crons.py: {error.message}", code=error.code) from None
    http = _declared(modules.get("http"), HttpRouter, "functions/http.py")
    storage = _declared(modules.get("storage"), StorageSettings, "functions/storage.py")
    return App(directory, package, schema, functions, modules, crons, http, storage)


def _declared(module: types.ModuleType | None, kind: type[T], where: str) -> T | None:
    """The one module-level `kind` object of `module` (e.g. `crons = cron_jobs()`)."""
    if module is None:
        return None
    found: list[T] = []
    for value in vars(module).values():
        if isinstance(value, kind) and not any(value is seen for seen in found):
            found.append(value)
    if len(found) > 1:
        raise AppLoadError(f"{where}: expected one {kind.__name__}, found {len(found)}")
    return found[0] if found else None


def unload_app(app: App) -> None:
    """Forget an old version's modules (its function objects stay usable while referenced)."""
    _forget(app.package)


def _forget(package: str) -> None:
    prefix = package + "."
    for name in [n for n in sys.modules if n == package or n.startswith(prefix)]:
        del sys.modules[name]


def module_attribute(app: App, module_path: str, name: str) -> Any:
    module = app.modules.get(module_path)
    return None if module is None else getattr(module, name, None)
