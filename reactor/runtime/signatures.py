"""A handler's signature checked against its validators, or turned into them.

Runs when a function is decorated, that is when its module is loaded, so every
mistake here is reported with the handler's file and line before any call.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from reactor.errors import SchemaError
from reactor.values import (
    AnyValidator,
    ArrayValidator,
    BooleanValidator,
    BytesValidator,
    IdValidator,
    Int64Validator,
    IntegerValidator,
    LiteralValidator,
    NullValidator,
    NumberValidator,
    ObjectValidator,
    OptionalValidator,
    RecordValidator,
    StringValidator,
    UnionValidator,
    Validator,
)
from reactor.values.annotations import AnnotationError, Convert, to_plain, translate

Handler = Callable[..., Coroutine[Any, Any, Any]]
_NO_ANNOTATION = inspect.Parameter.empty
_BY_NAME = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class HandlerError(SchemaError):
    """A handler that cannot work with its declaration (reported when it is loaded)."""

    code = "InvalidFunction"


@dataclass(frozen=True)
class Declared:
    """What the decorator registers: the callable to run and its validators."""

    handler: Handler
    args: ObjectValidator | None
    returns: Validator | None


def location(fn: Callable[..., Any]) -> str:
    """`file:line: qualname` of a handler, the prefix of every load-time error about it."""
    code = getattr(fn, "__code__", None)
    name = getattr(fn, "__qualname__", repr(fn))
    if code is None:
        return name
    return f"{code.co_filename}:{code.co_firstlineno}: {name}"


def declare(fn: Handler, kind: str, args: ObjectValidator | None,
            returns: Validator | None) -> Declared:
    """Check `fn` against `args=`/`returns=`, or derive them from its annotations."""
    where = location(fn)
    if not inspect.iscoroutinefunction(fn):
        hint = " (a `def` that returns a coroutine is not enough)" if callable(fn) else ""
        raise HandlerError(f"{where}: a {kind} handler must be `async def`{hint}")
    params = _parameters(fn, where)
    hints = _annotations(fn, params, where)
    if args is not None:
        _check_fit(params, args, where)
        _check_agreement(hints, args.fields, where, "args=")
        derived_args: ObjectValidator | None = args
        converters: dict[str, Convert] = {}
    else:
        derived_args, converters = _derive_args(params, hints, where)
    plain = False
    returns_hint = hints.get("return", _NO_ANNOTATION)
    if returns is not None:
        if returns_hint is not _NO_ANNOTATION:
            _check_agreement({"return": returns_hint}, {"return": returns}, where, "returns=")
    elif returns_hint is not _NO_ANNOTATION and returns_hint is not Any:
        translated = translate(returns_hint, f"{where}: return annotation")
        returns, plain = translated.validator, translated.convert is not None
    # Enum members and Structs are turned into plain values on the way out when the
    # function uses them at all (it may return what it received).
    handler = _converting(fn, converters, plain or bool(converters)) \
        if converters or plain else fn
    return Declared(handler, derived_args, returns)


def _parameters(fn: Handler, where: str) -> list[inspect.Parameter]:
    """The parameters after `ctx`; refuses shapes arguments cannot be passed to."""
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                            inspect.Parameter.POSITIONAL_OR_KEYWORD):
        raise HandlerError(f"{where}: the handler's first parameter must be `ctx`")
    rest = params[1:]
    for param in rest:
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise HandlerError(f"{where}: parameter {param.name!r} is positional-only;"
                               " arguments are passed by name")
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            raise HandlerError(f"{where}: *{param.name} cannot receive arguments;"
                               " they are passed by name")
    return rest


def _annotations(fn: Handler, params: list[inspect.Parameter], where: str) -> dict[str, Any]:
    """Evaluated annotations of the parameters after `ctx` and of the return.

    Evaluated one by one, so that an annotation only a type checker can resolve
    (an import under `TYPE_CHECKING`) is reported by its parameter's name, and
    `ctx`'s annotation, which is for editors only, is never evaluated.
    """
    namespace = getattr(fn, "__globals__", {})
    raw = {param.name: param.annotation for param in params}
    raw["return"] = inspect.signature(fn).return_annotation
    hints: dict[str, Any] = {}
    for name, annotation in raw.items():
        if annotation is _NO_ANNOTATION or annotation is inspect.Signature.empty:
            continue
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # the module's own annotation text
            except Exception as error:
                what = "the return" if name == "return" else f"parameter {name!r}"
                raise HandlerError(f"{where}: cannot evaluate the annotation of {what}"
                                   f" ({type(error).__name__}: {error})") from None
        hints[name] = annotation
    return hints


def _check_fit(params: list[inspect.Parameter], args: ObjectValidator, where: str) -> None:
    """Every argument has a parameter, and a parameter without a default always gets one."""
    by_name = {param.name: param for param in params if param.kind in _BY_NAME}
    any_keyword = any(param.kind is inspect.Parameter.VAR_KEYWORD for param in params)
    for name, validator in args.fields.items():
        param = by_name.get(name)
        if param is None:
            if not any_keyword:
                raise HandlerError(f"{where}: args= declares {name!r} but the handler has no"
                                   f" parameter {name!r}")
            continue
        if validator.is_optional and param.default is inspect.Parameter.empty:
            raise HandlerError(
                f"{where}: optional argument {name!r} has no default: a caller may leave it"
                f" out, and then the handler's default applies; write `{name}=None` (or"
                " another default)")
    for name, param in by_name.items():
        if name not in args.fields and param.default is inspect.Parameter.empty:
            raise HandlerError(f"{where}: parameter {name!r} is not in args= and has no"
                               " default, so no call could fill it")


def _derive_args(params: list[inspect.Parameter], hints: dict[str, Any], where: str
                 ) -> tuple[ObjectValidator | None, dict[str, Convert]]:
    """`args=` from the annotations, when any parameter after `ctx` has one.

    Without annotations (or with `**kwargs`) any arguments are accepted, as before
    validators from annotations existed: values are only checked to be values.
    """
    annotated = [param for param in params if param.name in hints]
    if not annotated or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None, {}
    fields: dict[str, Validator] = {}
    converters: dict[str, Convert] = {}
    for param in params:
        if param.name in hints:
            translated = translate(hints[param.name], f"{where}: parameter {param.name!r}")
            validator, convert = translated.validator, translated.convert
        else:
            validator, convert = AnyValidator(), None
        if param.default is not inspect.Parameter.empty:
            validator = _optional(validator)
        fields[param.name] = validator
        if convert is not None:
            converters[param.name] = convert
    return ObjectValidator(fields), converters


def _optional(validator: Validator) -> Validator:
    return validator if validator.is_optional else OptionalValidator(validator)


def _converting(fn: Handler, converters: Mapping[str, Convert], plain: bool) -> Handler:
    """`fn` receiving enum members and Structs, and returning them as plain values."""

    @functools.wraps(fn)
    async def handler(ctx: Any, **kwargs: Any) -> Any:
        for name, convert in converters.items():
            if name in kwargs:
                kwargs[name] = convert(kwargs[name])
        value = await fn(ctx, **kwargs)
        return to_plain(value) if plain else value

    return handler


# Agreement of annotations with explicit validators -----------------------------------


def _check_agreement(hints: Mapping[str, Any], validators: Mapping[str, Validator], where: str,
                     declared_by: str) -> None:
    """Annotations next to `args=`/`returns=` are for editors; they must not contradict.

    A parameter annotated `str` whose validator is `v.number()` would receive
    floats while the editor promises strings: that is refused. Annotations
    Reactor cannot translate are left to the type checker.
    """
    for name, validator in validators.items():
        if name not in hints or hints[name] is Any:
            continue
        try:
            annotated = translate(hints[name], "")
        except AnnotationError:
            continue
        admitted = kinds(annotated.validator)
        if "number" in admitted:
            admitted |= {"int64"}  # an int is a fine float to a type checker (Int64 too)
        missing = kinds(validator) - admitted
        if missing:
            what = "the return" if name == "return" else f"parameter {name!r}"
            shown = getattr(hints[name], "__name__", None) or repr(hints[name])
            raise HandlerError(
                f"{where}: {what} is annotated {shown} but {declared_by} declares"
                f" {validator.describe()}, which also admits {', '.join(sorted(missing))};"
                " declare the type once (drop the validator or fix the annotation)")


_KINDS = {StringValidator: "string", IdValidator: "string", NumberValidator: "number",
          Int64Validator: "int64", BooleanValidator: "boolean", NullValidator: "null",
          BytesValidator: "bytes", ArrayValidator: "array", ObjectValidator: "object",
          RecordValidator: "object"}
ALL_KINDS = frozenset({"string", "number", "int64", "boolean", "null", "bytes", "array",
                       "object"})


def kinds(validator: Validator) -> frozenset[str]:
    """The value types (`string`, `number`, ...) a validator can let through."""
    if isinstance(validator, OptionalValidator):
        return kinds(validator.inner)
    if isinstance(validator, UnionValidator):
        return frozenset().union(*(kinds(member) for member in validator.members))
    if isinstance(validator, AnyValidator):
        return ALL_KINDS
    if isinstance(validator, IntegerValidator):
        return frozenset({"number", "int64"})
    if isinstance(validator, LiteralValidator):
        value = validator.value
        if isinstance(value, bool):
            return frozenset({"boolean"})
        if isinstance(value, str):
            return frozenset({"string"})
        return frozenset({"number" if isinstance(value, float) else "int64"})
    kind = _KINDS.get(type(validator))
    return ALL_KINDS if kind is None else frozenset({kind})
