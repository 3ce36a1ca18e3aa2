"""Function decorators: what kind a function is, who may call it, how its args are checked."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactor.errors import SchemaError
from reactor.values import ObjectValidator, Validator, v


class FunctionKind(enum.Enum):
    QUERY = "query"
    MUTATION = "mutation"
    ACTION = "action"


class Visibility(enum.Enum):
    PUBLIC = "public"
    INTERNAL = "internal"


Handler = Callable[..., Awaitable[Any]]


@dataclass(eq=False)
class FunctionDefinition:
    """A registered function; `path` is set when `functions/` is loaded."""

    kind: FunctionKind
    visibility: Visibility
    handler: Handler
    args: ObjectValidator | None
    returns: Validator | None
    path: str = ""
    signature: inspect.Signature = field(init=False, repr=False)
    # The handler's keyword parameters after `ctx`, when `fits` can decide alone.
    _names: frozenset[str] | None = field(init=False, repr=False, default=None)
    _required: frozenset[str] = field(init=False, repr=False, default=frozenset())
    _any_keyword: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        # Read once: every call checks its arguments against it.
        self.signature = inspect.signature(self.handler)
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

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling the decorated object directly runs the bare handler (handy in helpers)."""
        return await self.handler(*args, **kwargs)

    @property
    def is_public(self) -> bool:
        return self.visibility is Visibility.PUBLIC


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


def _make(kind: FunctionKind, visibility: Visibility) -> Callable[..., Any]:
    def decorator(handler: Handler | None = None, *,
                  args: Mapping[str, Validator] | Validator | None = None,
                  returns: Validator | None = None) -> Any:
        def wrap(fn: Handler) -> FunctionDefinition:
            name = getattr(fn, "__qualname__", repr(fn))
            if not inspect.iscoroutinefunction(fn):
                raise SchemaError(f"{name}: a {kind.value} handler must be `async def`")
            if returns is not None and not isinstance(returns, Validator):
                raise SchemaError(f"{name}: returns= must be a validator")
            return FunctionDefinition(kind, visibility, fn, _args_validator(args, name), returns)

        if handler is not None:
            return wrap(handler)
        return wrap

    return decorator


query = _make(FunctionKind.QUERY, Visibility.PUBLIC)
mutation = _make(FunctionKind.MUTATION, Visibility.PUBLIC)
action = _make(FunctionKind.ACTION, Visibility.PUBLIC)
internal_query = _make(FunctionKind.QUERY, Visibility.INTERNAL)
internal_mutation = _make(FunctionKind.MUTATION, Visibility.INTERNAL)
internal_action = _make(FunctionKind.ACTION, Visibility.INTERNAL)
