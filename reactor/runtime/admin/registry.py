"""The table of system functions, by path, and the refusal non-admin callers get."""

from __future__ import annotations

from collections.abc import Callable

from reactor.errors import ReactorError
from reactor.runtime.admin import data, overview
from reactor.runtime.functions import FunctionDefinition
from reactor.runtime.scope import SYSTEM_SCOPE

SYSTEM_PREFIX = "_system/"


class AdminOnlyError(ReactorError):
    code = "AdminOnly"


class SystemFunctions:
    """Every `_system/` function; `app_functions` lists the app's (for the Functions page)."""

    def __init__(self, app_functions: Callable[[], dict[str, FunctionDefinition]]) -> None:
        found: dict[str, FunctionDefinition] = {}
        for module, definitions in (("dashboard", data.FUNCTIONS),
                                    ("dashboard", overview.functions(app_functions))):
            for name, fn in definitions.items():
                fn.path = f"{SYSTEM_PREFIX}{module}:{name}"
                fn.movable = False
                fn.scope = SYSTEM_SCOPE  # an admin's view: components' tables too
                found[fn.path] = fn
        self.functions = found

    @staticmethod
    def is_system(path: str) -> bool:
        return path.startswith(SYSTEM_PREFIX)

    def get(self, path: str, *, admin: bool) -> FunctionDefinition | None:
        """The system function at `path` (None if there is none); refused unless `admin`."""
        fn = self.functions.get(path)
        if fn is not None and not admin:
            raise AdminOnlyError(f"{path} is a system function: it needs the admin key"
                                 " (`Authorization: Convex <key>`)")
        return fn
