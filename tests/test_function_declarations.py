"""The function API without an engine: AppError's spellings, ready validators, docstrings,
cron durations, generated types, and validators from annotations against msgspec."""

from __future__ import annotations

import datetime
import importlib
import inspect
from typing import Any, Literal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor import AppError, Id, cron_jobs, query, v
from reactor.errors import InvalidValueError, ValidationError
from reactor.runtime.codegen import validator_type
from reactor.runtime.scheduler.cron_schedule import IntervalSchedule
from reactor.values.annotations import translate


def test_app_error_spellings() -> None:
    assert (AppError("m").message, AppError("m").data) == ("m", "m")
    keyword = AppError(message="m", data={"a": 1})
    assert (keyword.message, keyword.data, str(keyword)) == ("m", {"a": 1}, "m")
    assert AppError("m", {"a": 1}).data == {"a": 1}
    assert AppError({"a": 1}).message == '{"a": 1}'
    with pytest.raises(TypeError, match="either by position or by keyword"):
        AppError("m", {"a": 1}, data=2)

def test_pagination_opts_accepts_both_clients_shapes() -> None:
    opts = v.pagination_opts()
    official = {"numItems": 10, "cursor": None, "id": 3, "endCursor": "abc",
                "maximumRowsRead": 100, "maximumBytesRead": 1000}
    assert opts.validate(official)["endCursor"] == "abc"
    assert opts.validate({"numItems": 5, "cursor": "c1", "id": 1}) == \
        {"numItems": 5.0, "cursor": "c1", "id": 1.0}
    assert opts.validate({"numItems": 5, "cursor": None, "endCursor": None})["endCursor"] is None
    with pytest.raises(ValidationError, match=r"args\.cursor: required field is missing"):
        opts.validate({"numItems": 5}, "args")


@pytest.mark.parametrize("cls", [
    "reactor.runtime.database_ctx:DatabaseReader", "reactor.runtime.database_ctx:DatabaseWriter",
    "reactor.runtime.database_ctx:SystemReader", "reactor.runtime.context:Auth",
    "reactor.runtime.context:TransactionScheduler", "reactor.runtime.context:QueryCtx",
    "reactor.runtime.context:MutationCtx", "reactor.runtime.actions:ActionCtx",
    "reactor.runtime.actions:ActionScheduler", "reactor.transactions.query:QueryBuilder",
    "reactor.transactions.index_range:IndexRange",
])
def test_every_public_method_app_code_calls_has_a_docstring(cls: str) -> None:
    module_name, class_name = cls.split(":")
    target = getattr(importlib.import_module(module_name), class_name)
    undocumented = [name for name, member in inspect.getmembers(target)
                    if not name.startswith("_") and (callable(member) or
                                                     isinstance(member, property))
                    and not (getattr(member, "__doc__", None) or "").strip()]
    assert undocumented == []


def test_cron_intervals_take_timedeltas() -> None:
    crons = cron_jobs()
    crons.interval("sweep", "notes:add", every=datetime.timedelta(minutes=2), seconds=30)
    schedule = crons.jobs["sweep"].schedule
    assert isinstance(schedule, IntervalSchedule) and schedule.seconds == 150
    with pytest.raises(InvalidValueError, match="cron 'bad': every: expected a non-negative"):
        crons.interval("bad", "notes:add", every=datetime.timedelta(seconds=-5))


def test_generated_client_types_come_from_annotations() -> None:
    @query
    async def pick(ctx: Any, limit: int, mode: Literal["a", "b"] = "a",
                   owner: Id[Literal["users"]] | None = None) -> list[str]:
        return []

    assert validator_type(pick.args) == \
        '{ limit: number; mode?: "a" | "b"; owner?: Id<"users"> | null }'
    assert validator_type(pick.returns) == "Array<string>"


# msgspec reads annotations too: for these types (no numbers, whose float64 rules differ)
# the validator an annotation becomes must accept exactly what msgspec's strict mode does.
ORACLE_TYPES = [str, bool, bytes, None, list[str], dict[str, bool], Literal["a", "b"],
                str | None, list[bool] | None, dict[str, list[str]], list[Literal["a"] | bool]]
VALUES = st.recursive(
    st.none() | st.booleans() | st.sampled_from(["a", "b", "c"]) | st.binary(max_size=3)
    | st.integers(-3, 3) | st.floats(allow_nan=False, width=32),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2),
    max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(annotation=st.sampled_from(ORACLE_TYPES), value=VALUES)
def test_annotation_validators_accept_what_msgspec_accepts(annotation: Any, value: Any) -> None:
    validator = translate(annotation, "args.x").validator
    try:
        msgspec.convert(value, annotation, strict=True)
        expected = True
    except msgspec.ValidationError:
        expected = False
    try:
        validator.validate(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected, (annotation, value)
