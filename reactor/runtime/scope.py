"""Whose code is running, the app's or an installed component's: which tables its
`ctx.db` may touch and how its function paths read.

A component's functions are registered under qualified paths,
`@<component>/<module>:<function>` (no app module starts with `@`), and its
tables are stored as `<component>/<table>` (schema/namespace.py). App code may
call a component's functions (through `components.<name>...` references) but not
touch its tables; a component sees only its own tables and functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from reactor.errors import NotFoundError, ReactorError
from reactor.schema.namespace import component_table, split_table

COMPONENT_MARK = "@"
# `create_function_handle`'s strings: a path any scope may call (components.py).
HANDLE_PREFIX = "function://"


class ComponentBoundaryError(ReactorError):
    code = "ComponentBoundary"


def qualified_path(component: str, path: str) -> str:
    """`"@limiter/lib:take"` for the component `limiter`'s function `lib:take`."""
    return f"{COMPONENT_MARK}{component}/{path}"


def split_path(path: str) -> tuple[str | None, str]:
    """`("limiter", "lib:take")` for `"@limiter/lib:take"`; `(None, path)` for the app's."""
    if not path.startswith(COMPONENT_MARK):
        return None, path
    component, _, local = path[1:].partition("/")
    return component, local


@dataclass(frozen=True)
class Scope:
    """The app (`component` None) or one installed component and its table names."""

    component: str | None = None
    tables: frozenset[str] = frozenset()
    # The dashboard's system functions (admin only) see every table and job.
    sees_everything: bool = False

    def describe(self) -> str:
        return "the app" if self.component is None else f"component {self.component!r}"

    def table(self, name: str, operation: str, exists: bool = True) -> str:
        """The stored name of the table this code calls `name`; the app's name of a
        table that does not `exist` is left for the catalog to refuse."""
        if not isinstance(name, str) or name.startswith("_") or self.sees_everything:
            return name
        owner, local = split_table(name)
        if self.component is None:
            if owner is not None and exists:
                raise _not_yours(operation, f'table "{local}"', owner)
            return name
        if owner is not None or name not in self.tables:
            known = ", ".join(sorted(self.tables)) or "none"
            raise NotFoundError(f'{operation}: component {self.component!r} has no table'
                                f' "{name}" (its tables: {known}; a component cannot use'
                                " the app's tables)", code="TableNotFound")
        return component_table(self.component, name)

    def check_stored(self, stored: str | None, operation: str) -> None:
        """Refuse an id of a table outside this scope (`stored`: its table's stored name)."""
        if stored is None or stored.startswith("_") or self.sees_everything:
            return
        owner, local = split_table(stored)
        if owner == self.component:
            return
        if owner is not None:
            raise _not_yours(operation, f'that id is of table "{local}", which', owner)
        raise ComponentBoundaryError(f'{operation}: that id is of the app table "{stored}":'
                                     f" component {self.component!r} cannot read or write the"
                                     " app's tables (pass the values it needs as arguments)")

    def qualify(self, path: str) -> str:
        """The registered path of a function this code names by a path string."""
        if path.startswith(HANDLE_PREFIX):
            return path[len(HANDLE_PREFIX):]
        if self.component is None or path.startswith(COMPONENT_MARK):
            return path
        return qualified_path(self.component, path)

    def callee(self, path: str) -> str:
        """The registered path this code may call by `path` (a handle is always allowed);
        refuses a call from a component to a function outside it."""
        resolved = self.qualify(path)
        if not path.startswith(HANDLE_PREFIX):
            self.check_callee(resolved)
        return resolved

    def check_callee(self, path: str) -> None:
        """Refuse a call from a component to a function outside it."""
        owner, _ = split_path(path)
        if self.component is not None and owner != self.component:
            raise ComponentBoundaryError(
                f"component {self.component!r} cannot call {path!r}: a component calls only"
                " its own functions")


def _not_yours(operation: str, what: str, owner: str) -> ComponentBoundaryError:
    return ComponentBoundaryError(
        f"{operation}: {what} belongs to component {owner!r}; the app cannot read or write a"
        f" component's tables: call its functions (components.{owner}.<module>.<function>)")


APP_SCOPE = Scope()
SYSTEM_SCOPE = Scope(sees_everything=True)
