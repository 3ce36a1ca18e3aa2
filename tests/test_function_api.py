"""The app author's function API: defaults, validators from annotations, names, hints."""

from __future__ import annotations

import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reactor import Int64, mutation, query, v
from reactor.errors import SchemaError
from reactor.runtime import Engine, FunctionKind, Outcome
from reactor.runtime.loader import AppLoadError, load_app
from reactor.schema.indexes import index_id
from reactor.server.outgoing import error_data_json

SCHEMA = '''
from reactor import define_schema, define_table, v

schema = define_schema({
    "notes": define_table({"title": v.string(), "color": v.optional(v.string())}),
})
'''

DEFAULTS = '''
import datetime

from reactor import AppError, Int64, action, mutation, query, v


@mutation
async def refuse(ctx, kind: str):
    if kind == "keyword":
        raise AppError("Too high", data={"limit": Int64(3), "raw": b"x"})
    if kind == "legacy":
        raise AppError({"code": "X"}, "legacy message")
    if kind == "string":
        raise AppError("just text")
    raise AppError("when", data={"at": [datetime.datetime(2026, 1, 1)]})


@mutation
async def later(ctx, how: str):
    if how == "timedelta":
        job = await ctx.scheduler.run_after(datetime.timedelta(minutes=15), add, {"title": "a"})
    elif how == "seconds":
        job = await ctx.scheduler.run_after(90, add, {"title": "b"})
    elif how == "datetime":
        at = datetime.datetime(2030, 1, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
        job = await ctx.scheduler.run_at(at, add, {"title": "c"})
    else:
        job = await ctx.scheduler.run_at(datetime.datetime(2030, 1, 1), add, {"title": "d"})
    doc = await ctx.db.system.get(job)
    return {"at": doc["scheduledTime"], "now": ctx.now()}


@action
async def uses_db(ctx):
    return await ctx.db.insert("notes", {"title": "x"})


@query(args={"limit": v.optional(v.number()), "tag": v.optional(v.union(v.string(), v.null()))})
async def echo(ctx, limit=10, tag="absent"):
    return {"limit": limit, "tag": tag}


@mutation(args={"title": v.string(), "color": v.optional(v.string())})
async def add(ctx, title, color=None):
    doc = {"title": title} if color is None else {"title": title, "color": color}
    return await ctx.db.insert("notes", doc)


@query(args={})
async def forgot_await(ctx):
    return ctx.db.query("notes").collect()


@query(name="byTitle")
async def by_title(ctx, title: str) -> list:
    return await ctx.db.query("notes").filter(lambda doc: doc["title"] == title).collect()
'''

ANNOTATED = '''
from __future__ import annotations

import enum
from typing import Any, Literal, TypedDict, NotRequired

import msgspec

from reactor import Id, Int64, MutationCtx, QueryCtx, mutation, query


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Filter(TypedDict):
    title: str
    colors: NotRequired[list[Color]]


class Range(msgspec.Struct):
    start: int
    end: int = 100


@mutation
async def add(ctx: MutationCtx, title: str, color: Color | None = None) -> Id["notes"]:
    doc: dict[str, Any] = {"title": title}
    if color is not None:
        assert isinstance(color, Color)
        doc["color"] = color.value
    return await ctx.db.insert("notes", doc)


@query
async def kinds(ctx: QueryCtx, s: str, f: float, i: int, big: Int64, b: bool, raw: bytes,
                names: list[str], scores: dict[str, float], mode: Literal["a", "b"],
                note: Id["notes"], anything: Any, untyped, maybe: str | None = None,
                limit: int = 10) -> dict[str, Any]:
    return {"types": [type(x).__name__ for x in (s, f, i, big, b, raw, names, scores, mode,
                                                 note, anything, untyped, maybe, limit)]}


@query
async def shapes(ctx: QueryCtx, where: Filter, span: Range, color: Color) -> dict[str, Any]:
    return {"where": where, "span": [span.start, span.end], "isRange": isinstance(span, Range),
            "color": color.name, "colors": [c.name for c in where.get("colors", [])]}


@query
async def paint(ctx: QueryCtx, color: Color) -> Color:
    return color


@query
async def wrong(ctx: QueryCtx) -> str:
    return 42  # type: ignore[return-value]


@query
async def untyped(ctx, a, b=2):
    return [a, b]
'''


BULK = '''
from reactor import internal_mutation, internal_query, query


@internal_mutation
async def fill(ctx, start: int, n: int):
    for i in range(start, start + n):
        await ctx.db.insert("notes", {"title": f"n{i}"})


@query
async def first_three(ctx):
    seen = []
    async for doc in ctx.db.query("notes"):
        seen.append(doc["title"])
        if len(seen) == 3:
            break
    return seen


@query
async def matching(ctx, suffix: str):
    return [doc["title"] async for doc in ctx.db.query("notes").order("desc")
            .filter(lambda doc: doc["title"].endswith(suffix))]


@internal_query
async def everything(ctx):
    return await ctx.db.query("notes").take(5_000)
'''


def write_app(root: Path, **modules: str) -> Path:
    (root / "functions").mkdir(parents=True)
    (root / "schema.py").write_text(textwrap.dedent(SCHEMA))
    for name, source in modules.items():
        (root / "functions" / f"{name}.py").write_text(textwrap.dedent(source))
    return root


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    app = write_app(tmp_path / "app", notes=DEFAULTS, typed=ANNOTATED, bulk=BULK)
    async with Engine(app, tmp_path / "data", durability="normal") as running:
        yield running


def failed(outcome: Outcome, code: str) -> str:
    """Why a call failed with `code`: its message without Convex's framing (the request
    id line, `Uncaught <Class>: `, a validation error's `Value does not match` lines)."""
    assert outcome.error is not None, outcome.value
    assert outcome.error.code == code, outcome.error.message
    return re.sub(r"^Uncaught \w+: ", "", outcome.error.summary.splitlines()[-1])


def load_error(tmp_path: Path, source: str) -> str:
    app = write_app(tmp_path / "bad", bad=source)
    with pytest.raises(AppLoadError) as raised:
        load_app(app)
    return raised.value.message


# Omitted optional arguments ------------------------------------------------------


async def test_an_omitted_optional_argument_takes_the_handlers_default(engine: Engine) -> None:
    assert (await engine.run_query("notes:echo", {})).unwrap() == {"limit": 10, "tag": "absent"}
    sent = await engine.run_query("notes:echo", {"limit": 3, "tag": None})
    assert sent.unwrap() == {"limit": 3.0, "tag": None}  # null stays null, not absent
    note = (await engine.run_mutation("notes:add", {"title": "x"})).unwrap()
    docs = (await engine.run_query("notes:byTitle", {"title": "x"})).unwrap()
    assert [doc["_id"] for doc in docs] == [note] and "color" not in docs[0]


def test_an_optional_argument_without_a_default_is_refused_at_load(tmp_path: Path) -> None:
    message = load_error(tmp_path, '''
        from reactor import query, v

        @query(args={"title": v.string(), "limit": v.optional(v.number())})
        async def page(ctx, title, limit):
            return []
    ''')
    assert "bad.py:4: page: optional argument 'limit' has no default" in message
    assert "limit=None" in message


@pytest.mark.parametrize(("source", "expected"), [
    ("def page(ctx, title):\n    return []", "bad.py:4: page: a query handler must be `async def`"),
    ("async def page(ctx, name):\n    return []",
     "bad.py:4: page: args= declares 'title' but the handler has no parameter 'title'"),
    ("async def page(ctx, title, limit):\n    return []",
     "bad.py:4: page: parameter 'limit' is not in args= and has no default"),
    ("async def page(ctx, title: int):\n    return []",
     "bad.py:4: page: parameter 'title' is annotated int but args= declares string"),
    ("async def page(ctx, *, title):\n    return ctx.nope", None),
])
def test_handlers_that_cannot_fit_their_args_are_refused_with_file_and_line(
        tmp_path: Path, source: str, expected: str | None) -> None:
    module = f'''
        from reactor import query, v

        @query(args={{"title": v.string()}})
{textwrap.indent(source, " " * 8)}
    '''
    if expected is None:
        load_app(write_app(tmp_path / "ok", fine=module))
        return
    assert expected in load_error(tmp_path, module)


# Validators from annotations ----------------------------------------------------


async def test_annotations_become_validators_and_errors_name_the_parameter(
        engine: Engine) -> None:
    note = (await engine.run_mutation("typed:add", {"title": "t", "color": "red"})).unwrap()
    args = {"s": "s", "f": 1, "i": 3.0, "big": 5, "b": True, "raw": b"\x00",
            "names": ["a"], "scores": {"x": 1}, "mode": "a", "note": note,
            "anything": [1], "untyped": {"k": None}}
    value = (await engine.run_query("typed:kinds", args)).unwrap()
    assert value["types"] == ["str", "float", "int", "Int64", "bool", "bytes", "list", "dict",
                              "str", "str", "list", "dict", "NoneType", "int"]
    for field, bad, expected in [
        ("i", 3.5, "args.i: expected integer, got 3.5"),
        ("mode", "c", 'args.mode: expected "a" | "b", got "c"'),
        ("note", "nope", 'args.note: expected Id<"notes">, got "nope"'),
        ("names", [1], "args.names[0]: expected string, got 1"),
        ("scores", {"x": "y"}, 'args.scores.x: expected number, got "y"'),
    ]:
        message = failed(await engine.run_query("typed:kinds", {**args, field: bad}),
                         "ArgsValidation")
        assert message == f"typed:kinds: {expected}"
    missing = failed(await engine.run_query("typed:kinds", {"s": "s"}), "ArgsValidation")
    assert missing == "typed:kinds: args.f: required field is missing"
    color = failed(await engine.run_mutation("typed:add", {"title": "t", "color": "green"}),
                   "ArgsValidation")
    assert color == 'typed:add: args.color: expected "red" | "blue" | null, got "green"'


async def test_enums_typed_dicts_and_structs_arrive_as_python_types(engine: Engine) -> None:
    value = (await engine.run_query("typed:shapes", {
        "where": {"title": "x", "colors": ["blue"]}, "span": {"start": 5}, "color": "red",
    })).unwrap()
    assert value == {"where": {"title": "x", "colors": ["blue"]}, "span": [5.0, 100.0],
                     "isRange": True, "color": "RED", "colors": ["BLUE"]}
    refused = failed(await engine.run_query("typed:shapes", {
        "where": {"title": "x"}, "span": {"start": 5, "stop": 1}, "color": "red"}),
        "ArgsValidation")
    assert refused == "typed:shapes: args.span.stop: unexpected field (expected one of:" \
                      " start, end)"
    assert (await engine.run_query("typed:paint", {"color": "blue"})).unwrap() == "blue"


async def test_the_return_annotation_checks_the_result(engine: Engine) -> None:
    message = failed(await engine.run_query("typed:wrong", {}), "ReturnsValidation")
    assert message == "typed:wrong: returns: expected string, got 42"


async def test_unannotated_parameters_accept_any_value(engine: Engine) -> None:
    assert (await engine.run_query("typed:untyped", {"a": "x"})).unwrap() == ["x", 2.0]
    assert (await engine.run_query("typed:untyped", {"a": [1], "b": None})).unwrap() \
        == [[1.0], None]


def test_an_annotation_reactor_cannot_check_is_refused_naming_the_parameter() -> None:
    with pytest.raises(SchemaError) as raised:
        @query
        async def bad(ctx: Any, when: complex) -> None: ...
    assert "parameter 'when': cannot check values of type complex" in raised.value.message
    assert "test_function_api.py:" in raised.value.message


def test_declaring_args_and_contradicting_annotations_is_an_error() -> None:
    with pytest.raises(SchemaError, match="parameter 'n' is annotated str but args= declares"
                                          " number"):
        @mutation(args={"n": v.number()})
        async def bad(ctx: Any, n: str) -> None: ...

    with pytest.raises(SchemaError, match="the return is annotated str but returns= declares"
                                          " number"):
        @query(returns=v.number())
        async def wrong(ctx: Any) -> str:
            return ""

    with pytest.raises(SchemaError, match="parameter 'n' is annotated Int64 but args= declares"
                                          " number"):
        @mutation(args={"n": v.number()})
        async def floats(ctx: Any, n: Int64) -> None: ...

    @mutation(args={"n": v.number(), "big": v.int64(), "tag": v.optional(v.string())})
    async def fine(ctx: Any, n: float, big: float, tag: str | None = None) -> None: ...

    assert fine.args is not None and set(fine.args.fields) == {"n", "big", "tag"}


# Names and hints ----------------------------------------------------------------


async def test_name_exposes_a_function_under_its_wire_name(engine: Engine) -> None:
    assert (await engine.run_query("notes:byTitle", {"title": "none"})).unwrap() == []
    failed(await engine.run_query("notes:by_title", {"title": "none"}), "FunctionNotFound")


def test_two_functions_with_one_wire_name_are_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, '''
        from reactor import query

        @query(name="one")
        async def first(ctx):
            return 1

        @query
        async def one(ctx):
            return 2
    ''')
    assert "functions/bad.py: two functions are named 'one'" in message
    with pytest.raises(SchemaError, match="name= must be an identifier"):
        query(name="by title")(_noop)


async def _noop(ctx: Any) -> None:
    return None


async def test_a_returned_coroutine_asks_about_await(engine: Engine) -> None:
    message = failed(await engine.run_query("notes:forgot_await", {}), "ReturnsValidation")
    assert message.endswith("did you forget `await`?")


async def test_ctx_db_in_an_action_points_to_run_query_and_run_mutation(engine: Engine) -> None:
    message = failed(await engine.run_action("notes:uses_db", {}), "NotAllowed")
    assert "ctx.run_query(...)" in message and "ctx.run_mutation(...)" in message


async def test_app_error_data_reaches_the_client_as_the_value(engine: Engine) -> None:
    outcome = await engine.run_mutation("notes:refuse", {"kind": "keyword"})
    assert failed(outcome, "AppError") == "Too high"
    assert outcome.error is not None and outcome.error.data == {"limit": 3, "raw": b"x"}
    assert type(outcome.error.data["limit"]) is Int64
    assert error_data_json(outcome.error.data) == \
        b'{"limit":{"$integer":"AwAAAAAAAAA="},"raw":{"$bytes":"eA=="}}'
    legacy = await engine.run_mutation("notes:refuse", {"kind": "legacy"})
    assert failed(legacy, "AppError") == "legacy message"
    assert legacy.error is not None and legacy.error.data == {"code": "X"}
    text = await engine.run_mutation("notes:refuse", {"kind": "string"})
    assert failed(text, "AppError") == "just text"
    assert text.error is not None and text.error.data == "just text"
    dated = await engine.run_mutation("notes:refuse", {"kind": "datetime"})
    message = failed(dated, "InvalidAppErrorData")
    assert message.startswith("notes:refuse: AppError data.at[0]: datetime is not a Reactor"
                              " value; convert it first")


async def test_the_scheduler_takes_timedeltas_and_aware_datetimes(engine: Engine) -> None:
    after = (await engine.run_mutation("notes:later", {"how": "timedelta"})).unwrap()
    assert after["at"] == after["now"] + 15 * 60 * 1000
    seconds = (await engine.run_mutation("notes:later", {"how": "seconds"})).unwrap()
    assert seconds["at"] == seconds["now"] + 90_000
    at = (await engine.run_mutation("notes:later", {"how": "datetime"})).unwrap()
    assert at["at"] == 1_893_456_000_000  # 2030-01-01T00:00:00Z
    naive = failed(await engine.run_mutation("notes:later", {"how": "naive"}), "InvalidValue")
    assert "run_at: datetime.datetime(2030, 1, 1, 0, 0) has no time zone" in naive


async def test_breaking_out_of_async_for_stops_reading(engine: Engine) -> None:
    for start in range(0, 10_000, 2_500):
        filled = await engine.call(FunctionKind.MUTATION, "bulk:fill",
                                   {"start": start, "n": 2_500}, admin=True)
        filled.unwrap()
    first = await engine.run_query("bulk:first_three", {})
    assert first.unwrap() == ["n0", "n1", "n2"]
    docs = (await engine.call(FunctionKind.QUERY, "bulk:everything", {}, admin=True)).unwrap()
    assert len(docs) == 5_000
    index = engine.database.catalog.require("notes").indexes["by_creation_time"]
    assert first.read_set is not None
    covered = [doc for doc in docs
               if first.read_set.overlaps(index_id("notes", "by_creation_time"),
                                          index.key_for(doc))]
    assert 3 <= len(covered) <= 8, len(covered)  # the first batch, not 10,000
    matched = (await engine.run_query("bulk:matching", {"suffix": "77"})).unwrap()
    assert matched == [f"n{i}" for i in range(9_999, -1, -1) if str(i).endswith("77")]


def test_annotations_only_a_type_checker_can_resolve(tmp_path: Path) -> None:
    """`ctx`'s annotation is for editors and never evaluated; a parameter's must resolve."""
    message = load_error(tmp_path, '''
        from __future__ import annotations

        from typing import TYPE_CHECKING

        from reactor import query

        if TYPE_CHECKING:
            from decimal import Decimal

            from reactor import QueryCtx

        @query
        async def fine(ctx: QueryCtx, n: int) -> int:
            return n

        @query
        async def amount(ctx: QueryCtx, n: Decimal) -> int:
            return 1
    ''')
    assert message.endswith("bad.py:17: amount: cannot evaluate the annotation of parameter"
                            " 'n' (NameError: name 'Decimal' is not defined)")
