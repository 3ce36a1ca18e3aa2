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
from reactor.runtime.components import AppDefinition, ComponentDefinition
from reactor.runtime.files.settings import StorageSettings
from reactor.runtime.functions import FunctionDefinition
from reactor.runtime.http_actions import HttpRouter
from reactor.runtime.scheduler.crons import CronJob, CronJobs
from reactor.runtime.scope import APP_SCOPE, Scope
from reactor.schema import SchemaDefinition
from reactor.schema.namespace import merge_schemas, namespace_validator

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
    # `app.py`'s installed components, by the name the app gave each.
    components: dict[str, Scope] = field(default_factory=dict)

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
    """Module paths under `functions/` (`"folder/file"`), skipping `_private` ones (and
    `@` ones: a path starting with `@` names a component's function)."""
    root = directory / "functions"
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).with_suffix("")
        if any(part.startswith(("_", ".", "@")) for part in relative.parts):
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
    schema = _load_schema(directory, package)
    functions, modules = _load_functions(directory, package, APP_SCOPE)
    installed = _declared(_import(package, "app", directory) if (directory / "app.py").exists()
                          else None, AppDefinition, "app.py")
    component_schemas: dict[str, SchemaDefinition | None] = {}
    scopes: dict[str, Scope] = {}
    component_crons: list[CronJob] = []
    for name, component in (installed.installed if installed is not None else {}).items():
        component_schemas[name], scopes[name], found, jobs = _load_component(package, name,
                                                                              component)
        functions.update(found)
        component_crons += jobs
    try:
        schema = merge_schemas(schema, component_schemas)
    except ReactorError as error:
        raise AppLoadError(f"app.py: {error.message}", code=error.code) from None
    crons = _declared(modules.get("crons"), CronJobs, "functions/crons.py")
    if component_crons:
        crons = crons or CronJobs()
        crons.jobs.update({job.name: job for job in component_crons})
    if crons is not None:
        try:
            crons.check(functions)
        except ReactorError as error:
            raise AppLoadError(f"functions/crons.py: {error.message}", code=error.code) from None
    http = _declared(modules.get("http"), HttpRouter, "functions/http.py")
    storage = _declared(modules.get("storage"), StorageSettings, "functions/storage.py")
    return App(directory, package, schema, functions, modules, crons, http, storage, scopes)


def _load_schema(directory: Path, package: str) -> SchemaDefinition | None:
    if not (directory / "schema.py").exists():
        return None
    schema = getattr(_import(package, "schema", directory), "schema", None)
    if not isinstance(schema, SchemaDefinition):
        raise AppLoadError(f"{directory / 'schema.py'}: expected a module-level"
                           " `schema = define_schema({...})`")
    return schema


def _load_functions(directory: Path, package: str, scope: Scope
                    ) -> tuple[dict[str, FunctionDefinition], dict[str, types.ModuleType]]:
    """The functions of `functions/` under `directory`, registered for `scope` (a
    component's under qualified paths, their `v.id` naming its own tables)."""
    functions: dict[str, FunctionDefinition] = {}
    modules: dict[str, types.ModuleType] = {}
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
            path = scope.qualify(module_path if name == "default" else f"{module_path}:{name}")
            if path in functions and functions[path] is not value:
                raise AppLoadError(f"functions/{module_path}.py: two functions are named"
                                   f" {name!r} (name= must differ from other functions' names)")
            value.path = path
            if scope.component is not None:
                value.scope = scope
                value.args = namespace_validator(value.args, scope.component)
                value.returns = namespace_validator(value.returns, scope.component)
            functions[path] = value
    return functions, modules


def _load_component(package: str, name: str, component: ComponentDefinition
                    ) -> tuple[SchemaDefinition | None, Scope, dict[str, FunctionDefinition],
                               list[CronJob]]:
    """Import an installed component's schema, functions and crons afresh, as part of the
    app; its cron jobs are named `<name>/<job>` and run its own functions."""
    inner = f"{package}._component_{name}"
    module = types.ModuleType(inner)
    module.__path__ = [str(component.directory)]
    module.__package__ = inner
    sys.modules[inner] = module
    schema = _load_schema(component.directory, inner)
    scope = Scope(name, frozenset(schema.tables if schema is not None else ()))
    functions, modules = _load_functions(component.directory, inner, scope)
    crons = _declared(modules.get("crons"), CronJobs, f"component {name!r}: functions/crons.py")
    jobs = [] if crons is None else [
        CronJob(f"{name}/{job.name}", job.schedule, scope.qualify(job.path), job.args)
        for job in crons.jobs.values()]
    return schema, scope, functions, jobs


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
