"""Function decorators: what kind a function is, who may call it, how its args are checked."""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from reactor.errors import SchemaError
from reactor.runtime.scope import APP_SCOPE, Scope
from reactor.runtime.signatures import Handler, declare, location
from reactor.values import ObjectValidator, Validator, v

P = ParamSpec("P")
R = TypeVar("R")

# A function's name on the wire, as the frontend calls it (`messages:byTask`).
_WIRE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class FunctionKind(enum.Enum):
    QUERY = "query"
    MUTATION = "mutation"
    ACTION = "action"


class Visibility(enum.Enum):
    PUBLIC = "public"
    INTERNAL = "internal"


@dataclass(eq=False)
class FunctionDefinition:
    """A registered function; `path` is set when `functions/` is loaded.

    `handler` is what the runtime calls with `(ctx, **args)`; `function` is the
    decorated function itself, which calling the definition runs directly.
    `name` is the name on the wire when it differs from the Python name.
    """

    kind: FunctionKind
    visibility: Visibility
    handler: Handler
    args: ObjectValidator | None
    returns: Validator | None
    function: Handler
    name: str | None = None
    path: str = ""
    # Whether a call may move to a worker process (runtime/workers.py) when it holds
    # the event loop: workers load the app's functions, not the system functions.
    movable: bool = True
    # An internal mutation run once with `{}` when the engine starts, before any
    # client is served (a library marks this: reactor.agent recovers runs with it).
    on_startup: bool = False
    # Whose function it is: the app's, or an installed component's (set by the loader).
    scope: Scope = field(default=APP_SCOPE, repr=False)
    signature: inspect.Signature = field(init=False, repr=False)
    # The handler's keyword parameters after `ctx`, when `fits` can decide alone.
    _names: frozenset[str] | None = field(init=False, repr=False, default=None)
    _required: frozenset[str] = field(init=False, repr=False, default=frozenset())
    _any_keyword: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        # Read once: every call checks its arguments against it.
        self.signature = inspect.signature(self.function)
        params = list(self.signature.parameters.values())
        by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY,
                   inspect.Parameter.VAR_KEYWORD)
        if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                         inspect.Parameter.POSITIONAL_OR_KEYWORD) \
                and all(p.kind in by_name for p in params[1:]):
            named = [p for p in params[1:] if p.kind is not inspect.Parameter.VAR_KEYWORD]
            self._names = frozenset(p.name for p in named)
            self._required = frozenset(p.name for p in named if p.default is p.empty)
            self._any_keyword = len(named) < len(params) - 1

    def fits(self, args: Mapping[str, Any]) -> bool:
        """Whether the handler surely accepts `args` as keywords (`signature.bind` is
        the slow, thorough check, and the one that explains a mismatch)."""
        if self._names is None:
            return False
        keys = args.keys()
        return self._required <= keys and (self._any_keyword or keys <= self._names)

    @property
    def is_public(self) -> bool:
        """Whether clients may call it: a component's functions are reached only through
        the app's (or by admin tools), as in Convex."""
        return self.visibility is Visibility.PUBLIC and self.scope.component is None


@dataclass(eq=False)
class Function(FunctionDefinition, Generic[P, R]):
    """What `@query` and its siblings return: a definition that keeps the handler's
    signature, so editors and type checkers see `await create(ctx, title="x")` typed."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        """Calling the decorated object directly runs the bare function (handy in helpers)."""
        function: Callable[P, Coroutine[Any, Any, R]] = self.function
        return function(*args, **kwargs)


def _args_validator(args: Mapping[str, Validator] | Validator | None,
                    name: str) -> ObjectValidator | None:
    if args is None:
        return None
    if isinstance(args, ObjectValidator):
        return args
    if isinstance(args, Mapping):
        return v.object(dict(args))
    raise SchemaError(f"{name}: args= must be a dict of validators or v.object(...),"
                      f" got {type(args).__name__}")


class FunctionDecorator:
    """`@query`, `@mutation(args=..., returns=..., name=...)` and their siblings.

    Without `args=`, annotated parameters are validated by their annotations
    (`limit: int = 10`) and unannotated ones accept any value; without
    `returns=`, a return annotation checks the result. `name=` exposes the
    function under another name on the wire (`@query(name="byTask")` on
    `def by_task`).
    """

    def __init__(self, kind: FunctionKind, visibility: Visibility) -> None:
        self.kind = kind
        self.visibility = visibility

    @overload
    def __call__(self, handler: Callable[P, Coroutine[Any, Any, R]], /) -> Function[P, R]: ...

    @overload
    def __call__(self, *, args: Mapping[str, Validator] | Validator | None = None,
                 returns: Validator | None = None, name: str | None = None
                 ) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Function[P, R]]: ...

    def __call__(self, handler: Any = None, *,
                 args: Mapping[str, Validator] | Validator | None = None,
                 returns: Validator | None = None, name: str | None = None
                 ) -> Any:
        def wrap(fn: Callable[P, Coroutine[Any, Any, R]]) -> Function[P, R]:
            where = location(fn)
            if returns is not None and not isinstance(returns, Validator):
                raise SchemaError(f"{where}: returns= must be a validator")
            if name is not None and not (isinstance(name, str) and _WIRE_NAME.fullmatch(name)):
                raise SchemaError(f"{where}: name= must be an identifier such as \"byTask\","
                                  f" got {name!r}")
            declared = declare(fn, self.kind.value, _args_validator(args, where), returns)
            return Function(self.kind, self.visibility, declared.handler, declared.args,
                            declared.returns, fn, name)

        if handler is not None:
            return wrap(handler)
        return wrap


query = FunctionDecorator(FunctionKind.QUERY, Visibility.PUBLIC)
mutation = FunctionDecorator(FunctionKind.MUTATION, Visibility.PUBLIC)
action = FunctionDecorator(FunctionKind.ACTION, Visibility.PUBLIC)
internal_query = FunctionDecorator(FunctionKind.QUERY, Visibility.INTERNAL)
internal_mutation = FunctionDecorator(FunctionKind.MUTATION, Visibility.INTERNAL)
internal_action = FunctionDecorator(FunctionKind.ACTION, Visibility.INTERNAL)
