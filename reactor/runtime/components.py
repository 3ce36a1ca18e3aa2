"""Components: reusable packages of tables and functions that an app installs.

A component is a folder with `component.py` (`component =
define_component("rateLimiter")`), its own `schema.py` and `functions/`. The
app installs it in its `app.py`:

    app = define_app()
    app.use(rate_limiter, name="limiter")

and calls its functions through references, `components.limiter.lib.take`,
passed to `ctx.run_query / run_mutation / run_action` and to the scheduler.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from reactor.errors import InvalidValueError, NotFoundError, SchemaError
from reactor.runtime.functions import FunctionDefinition
from reactor.runtime.scope import HANDLE_PREFIX, qualified_path

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SchemaError(f"{what}: expected a name of a letter then letters, digits or _"
                          f" (at most 64 characters), got {name!r}")
    return name


@dataclass(frozen=True)
class ComponentDefinition:
    """A component's name and the folder holding its `schema.py` and `functions/`."""

    name: str
    directory: Path


def define_component(name: str, *, directory: Path | str | None = None) -> ComponentDefinition:
    """Declare the component whose files sit beside the calling `component.py`
    (or in `directory`); `name` is the name an app installs it under by default."""
    _check_name(name, "define_component")
    if directory is None:
        caller = sys._getframe(1).f_globals.get("__file__")
        if caller is None:
            raise SchemaError("define_component: pass directory= (no calling file)")
        directory = Path(caller).parent
    return ComponentDefinition(name, Path(directory).resolve())


@dataclass
class AppDefinition:
    """The app's installed components, by the name the app calls each one."""

    installed: dict[str, ComponentDefinition] = field(default_factory=dict)

    def use(self, component: ComponentDefinition, *, name: str | None = None
            ) -> AppDefinition:
        """Install `component` as `name` (default: its own name); chainable. One component
        may be installed twice under two names: each has its own tables."""
        if not isinstance(component, ComponentDefinition):
            raise SchemaError(f"app.use: expected a define_component(...) object, got"
                              f" {type(component).__name__}")
        name = _check_name(component.name if name is None else name, "app.use: name")
        if name in self.installed:
            raise SchemaError(f"app.use: a component is already installed as {name!r}")
        self.installed[name] = component
        return self


def define_app() -> AppDefinition:
    """The app's component configuration (a module-level `app` in `app.py`)."""
    return AppDefinition()


class ComponentReferences:
    """`components.<name>.<module...>.<function>`: a reference to that function
    (attribute access only builds the name; it is looked up when called)."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        self._parts = parts

    def __getattr__(self, part: str) -> ComponentReferences:
        if part.startswith("_"):
            raise AttributeError(part)
        return ComponentReferences((*self._parts, part))

    def __repr__(self) -> str:
        return f"<components.{'.'.join(self._parts)}>"


def reference_path(reference: ComponentReferences) -> str:
    """The qualified path (`@limiter/lib:take`) a `components....` reference names."""
    parts = reference._parts
    if len(parts) < 3:
        raise SchemaError(f"{reference!r}: expected components.<name>.<module>.<function>")
    component, *module, function = parts
    return qualified_path(component, f"{'/'.join(module)}:{function}")


components = ComponentReferences(())


def create_function_handle(fn: FunctionDefinition | ComponentReferences) -> str:
    """A string naming `fn` that any side of a component boundary may call or schedule
    (`ctx.run_mutation(handle, args)`): how an app hands a component a callback.

    A handle is a capability: whoever holds it may call the function, internal or
    not, so never take one from a client's arguments.
    """
    if isinstance(fn, ComponentReferences):
        return HANDLE_PREFIX + reference_path(fn)
    if not isinstance(fn, FunctionDefinition):
        raise InvalidValueError("create_function_handle: expected a function or a components"
                                f" reference, got {type(fn).__name__}")
    if not fn.path:
        raise NotFoundError("create_function_handle: that function is not registered (is it"
                            " in functions/?)", code="FunctionNotFound")
    return HANDLE_PREFIX + fn.path
