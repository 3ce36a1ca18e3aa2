"""Tools: Python functions the model may call, their JSON schema taken from the signature.

    @tool
    async def read_file(ctx: ToolContext, path: str, limit: int = 200) -> str:
        '''Read a file of the workspace.

        Args:
            path: the file's path, relative to the workspace
            limit: how many lines at most
        '''

The first parameter is the `ToolContext`; every other parameter needs a type
hint, read with the same machinery as function arguments
(`reactor.values.annotations`), so `int`, `str`, `Literal[...]`, `list[T]`,
`TypedDict`s, `X | None` and the rest all work. A parameter with a default is
optional. The docstring's first paragraph describes the tool; an `Args:`
section describes the parameters. A tool's failure (bad arguments, an
exception) is returned to the model as `{"error": "..."}`: the run goes on.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable
from typing import Any, overload

from reactor.errors import ReactorError, SchemaError
from reactor.values.annotations import Translated, to_plain, translate
from reactor.values.compound_validators import (
    ArrayValidator,
    ObjectValidator,
    OptionalValidator,
    RecordValidator,
    UnionValidator,
)
from reactor.values.scalar_validators import (
    AnyValidator,
    BooleanValidator,
    BytesValidator,
    IdValidator,
    Int64Validator,
    IntegerValidator,
    LiteralValidator,
    NullValidator,
    NumberValidator,
    StringValidator,
)
from reactor.values.validator_base import Validator

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
MAX_RESULT_CHARS = 64_000


class ToolContext:
    """What a tool receives: the action's calls, the thread, and the app's own `state`.

    `state` is whatever the caller passed to the run (a workspace path, a task
    id, ...). `ctx` is the action context itself, for anything else.
    """

    def __init__(self, ctx: Any, *, thread_id: str | None = None, state: Any = None,
                 tool_call_id: str = "", step: int = 0) -> None:
        self.ctx = ctx
        self.thread_id = thread_id
        self.state = state
        self.tool_call_id = tool_call_id
        self.step = step

    async def run_query(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        return await self.ctx.run_query(fn, args)

    async def run_mutation(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        return await self.ctx.run_mutation(fn, args)

    async def run_action(self, fn: Any, args: dict[str, Any] | None = None) -> Any:
        return await self.ctx.run_action(fn, args)

    def for_call(self, tool_call_id: str, step: int) -> ToolContext:
        return ToolContext(self.ctx, thread_id=self.thread_id, state=self.state,
                           tool_call_id=tool_call_id, step=step)


Handler = Callable[..., Awaitable[Any]]


def json_schema(validator: Validator) -> dict[str, Any]:
    """A validator as JSON Schema, the dialect tool definitions use."""
    if isinstance(validator, OptionalValidator):
        return json_schema(validator.inner)
    simple: list[tuple[type[Validator], dict[str, Any]]] = [
        (StringValidator, {"type": "string"}), (NumberValidator, {"type": "number"}),
        (IntegerValidator, {"type": "integer"}), (Int64Validator, {"type": "integer"}),
        (BooleanValidator, {"type": "boolean"}), (NullValidator, {"type": "null"}),
        (AnyValidator, {})]
    for kind, schema in simple:
        if isinstance(validator, kind):
            return dict(schema)
    if isinstance(validator, IdValidator):
        return {"type": "string", "description": f"an id of the {validator.table} table"}
    if isinstance(validator, LiteralValidator):
        return {"enum": [validator.value]}
    if isinstance(validator, UnionValidator):
        if all(isinstance(m, LiteralValidator) for m in validator.members):
            return {"enum": [m.value for m in validator.members  # type: ignore[attr-defined]
                             ]}
        return {"anyOf": [json_schema(member) for member in validator.members]}
    if isinstance(validator, ArrayValidator):
        return {"type": "array", "items": json_schema(validator.item)}
    if isinstance(validator, RecordValidator):
        return {"type": "object", "additionalProperties": json_schema(validator.values)}
    if isinstance(validator, ObjectValidator):
        return {"type": "object",
                "properties": {name: json_schema(f) for name, f in validator.fields.items()},
                "required": [name for name, f in validator.fields.items() if not f.is_optional],
                "additionalProperties": False}
    if isinstance(validator, BytesValidator):
        raise SchemaError("tool parameters cannot be bytes: a model sends JSON")
    raise SchemaError(f"no JSON schema for {validator.describe()}")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """`(description, {param: description})` from a docstring with an optional `Args:`."""
    text = inspect.cleandoc(doc or "")
    description: list[str] = []
    params: dict[str, str] = {}
    current: str | None = None
    in_args = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args:
            match = re.match(r"^(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", stripped)
            if match and line.startswith((" ", "\t")) and not line.startswith(" " * 8):
                current = match.group(1)
                params[current] = match.group(2)
            elif stripped and current is not None and line.startswith((" ", "\t")):
                params[current] = f"{params[current]} {stripped}".strip()
            elif stripped and not line.startswith((" ", "\t")):
                in_args = False
                current = None
                if stripped.endswith(":"):
                    continue
                description.append(stripped)
            continue
        description.append(line)
    return "\n".join(description).strip(), params


class Tool:
    """A tool as the model sees it (`spec()`) and as the loop runs it (`call`)."""

    def __init__(self, handler: Handler, *, name: str | None = None,
                 description: str | None = None) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise SchemaError(f"@tool {getattr(handler, '__name__', handler)!r}: expected an"
                              " `async def` function")
        self.handler = handler
        self.name = name or handler.__name__
        if not NAME.match(self.name):
            raise SchemaError(f"@tool {self.name!r}: a tool name is letters, digits, _ and -"
                              " (at most 64)")
        summary, param_docs = parse_docstring(handler.__doc__)
        self.description = description or summary
        if not self.description:
            raise SchemaError(f"@tool {self.name}: give it a docstring (the model reads it to"
                              " decide when to call the tool)")
        # ToolContext is known even where the tool's module has not imported it by name.
        hints = typing.get_type_hints(handler, localns={"ToolContext": ToolContext},
                                      include_extras=True)
        parameters = list(inspect.signature(handler).parameters.values())
        if not parameters:
            raise SchemaError(f"@tool {self.name}: the first parameter must be the ToolContext")
        fields: dict[str, Validator] = {}
        self._converters: dict[str, Translated] = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for parameter in parameters[1:]:
            where = f"@tool {self.name}: parameter {parameter.name!r}"
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise SchemaError(f"{where}: *args and **kwargs cannot be described to a model")
            if parameter.name not in hints:
                raise SchemaError(f"{where} needs a type hint")
            translated = translate(hints[parameter.name], where)
            self._converters[parameter.name] = translated
            schema = json_schema(translated.validator)
            if parameter.name in param_docs:
                schema["description"] = param_docs[parameter.name]
            properties[parameter.name] = schema
            validator = translated.validator
            if parameter.default is parameter.empty:
                required.append(parameter.name)
            elif not validator.is_optional:
                validator = OptionalValidator(validator)
            fields[parameter.name] = validator
        self.validator = ObjectValidator(fields)
        self.parameters: dict[str, Any] = {"type": "object", "properties": properties,
                                           "required": required, "additionalProperties": False}

    def spec(self) -> dict[str, Any]:
        """`{"name", "description", "parameters"}`: what providers send to the model."""
        return {"name": self.name, "description": self.description,
                "parameters": self.parameters}

    async def call(self, ctx: ToolContext, args: dict[str, Any]) -> tuple[Any, bool]:
        """`(result, failed)`; a failure's result is `{"error": text}` for the model."""
        try:
            checked = self.validator.validate(args, f"{self.name} arguments")
            assert isinstance(checked, dict)
        except ReactorError as error:
            return {"error": f"invalid arguments: {error.message}"}, True
        kwargs = {}
        for name, value in checked.items():
            convert = self._converters[name].convert
            kwargs[name] = convert(value) if convert is not None else value
        try:
            result = await self.handler(ctx, **kwargs)
        except Exception as error:
            text = error.message if isinstance(error, ReactorError) else str(error)
            return {"error": f"{type(error).__name__}: {text}"}, True
        return plain_result(result), False

    async def __call__(self, ctx: ToolContext, *args: Any, **kwargs: Any) -> Any:
        """Calling the tool directly runs the function itself (handy in tests)."""
        return await self.handler(ctx, *args, **kwargs)


def plain_result(result: Any) -> Any:
    """A tool's return value as JSON data (long text shortened, odd types as text)."""
    plain = json.loads(json.dumps(to_plain(result), default=str))
    if isinstance(plain, str) and len(plain) > MAX_RESULT_CHARS:
        return plain[:MAX_RESULT_CHARS] + f"\n… ({len(plain) - MAX_RESULT_CHARS} more characters)"
    return plain


@overload
def tool(handler: Handler) -> Tool: ...


@overload
def tool(*, name: str | None = None, description: str | None = None
         ) -> Callable[[Handler], Tool]: ...


def tool(handler: Handler | None = None, *, name: str | None = None,
         description: str | None = None) -> Tool | Callable[[Handler], Tool]:
    """Make an `async def` function a tool (`@tool` or `@tool(name=..., description=...)`)."""
    if handler is not None:
        return Tool(handler)

    def wrap(fn: Handler) -> Tool:
        return Tool(fn, name=name, description=description)

    return wrap
