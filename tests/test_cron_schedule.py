"""Cron expressions and intervals: parsing, errors, next fire times against a brute-force oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.errors import ReactorError
from reactor.runtime.scheduler import (
    CronError,
    CronExpression,
    IntervalSchedule,
    cron_jobs,
    parse_schedule,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(moment: datetime) -> float:
    return (moment - EPOCH) / timedelta(milliseconds=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def next_fire(expression: str, after: datetime) -> datetime:
    return EPOCH + timedelta(milliseconds=CronExpression.parse(expression).next_after(ms(after)))


@pytest.mark.parametrize(("expression", "after", "expected"), [
    ("*/15 * * * *", utc(2024, 5, 1, 12, 7, 30), utc(2024, 5, 1, 12, 15)),
    ("*/15 * * * *", utc(2024, 5, 1, 12, 15), utc(2024, 5, 1, 12, 30)),
    ("* * * * *", utc(2024, 12, 31, 23, 59, 59), utc(2025, 1, 1, 0, 0)),
    ("30 3 * * *", utc(2024, 5, 1, 3, 30), utc(2024, 5, 2, 3, 30)),
    ("0 9 * * mon-fri", utc(2024, 5, 3, 10, 0), utc(2024, 5, 6, 9, 0)),
    ("0 0 29 2 *", utc(2097, 3, 1), utc(2104, 2, 29)),
    ("0 0 31 * *", utc(2024, 4, 1), utc(2024, 5, 31)),
    # Both day fields restricted: the 13th OR any Friday.
    ("0 12 13 * fri", utc(2024, 9, 1), utc(2024, 9, 6, 12, 0)),
    ("0 12 13 * fri", utc(2024, 9, 6, 12, 0), utc(2024, 9, 13, 12, 0)),
    # A day field starting with * does not widen the other (AND).
    ("0 0 */2 * mon", utc(2024, 9, 1), utc(2024, 9, 9)),
    ("0 0 * * 7", utc(2024, 9, 2), utc(2024, 9, 8)),
    ("15 10 1 jan,jul *", utc(2024, 2, 1), utc(2024, 7, 1, 10, 15)),
    ("0-10/5 22-23 * * *", utc(2024, 1, 1, 23, 6), utc(2024, 1, 1, 23, 10)),
    ("5/20 * * * *", utc(2024, 1, 1, 0, 26), utc(2024, 1, 1, 0, 45)),
])
def test_next_fire_time(expression: str, after: datetime, expected: datetime) -> None:
    assert next_fire(expression, after) == expected


@pytest.mark.parametrize(("expression", "message"), [
    ("* * * *", "expected 5 fields"),
    ("* * * * * *", "expected 5 fields"),
    ("60 * * * *", "minute field: 60 is out of range 0-59"),
    ("* 24 * * *", "hour field: 24 is out of range 0-23"),
    ("* * 0 * *", "day of month field: 0 is out of range 1-31"),
    ("* * * 13 *", "month field: 13 is out of range 1-12"),
    ("* * * * 8", "day of week field: 8 is out of range 0-7"),
    ("*/0 * * * *", "step in '*/0' must be a positive integer"),
    ("5-1 * * * *", "range '5-1' runs backwards"),
    ("1,,2 * * * *", "empty item"),
    ("x * * * *", "'x' is not a number"),
    ("* * * foo *", "'foo' is not a number"),
    ("0 0 30 2 *", "would never fire"),
    ("0 0 31 4,6,9,11 *", "would never fire"),
])
def test_invalid_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(CronError) as caught:
        CronExpression.parse(expression)
    assert caught.value.code == "InvalidCronExpression"
    assert message in caught.value.message
    assert expression in caught.value.message


def test_specs_round_trip_through_storage_text() -> None:
    assert parse_schedule("@every 60s") == IntervalSchedule(60)
    assert IntervalSchedule(90).spec == "@every 90s"
    assert IntervalSchedule(1.5).spec == "@every 1.5s"
    assert parse_schedule(IntervalSchedule(1.5).spec) == IntervalSchedule(1.5)
    assert IntervalSchedule(60).next_after(1_000.0) == 61_000.0
    cron = CronExpression.parse("0  9 * *   MON-FRI")
    assert cron.spec == "0 9 * * mon-fri"
    assert parse_schedule(cron.spec) == cron
    with pytest.raises(CronError, match="at least 1 second"):
        IntervalSchedule(0.5)


def test_declaring_crons() -> None:
    crons = cron_jobs()
    crons.interval("a", "jobs:bump", minutes=1, seconds=30)
    crons.hourly("b", "jobs:bump", minute_utc=7)
    crons.daily("c", "jobs:bump", hour_utc=3, minute_utc=30)
    crons.weekly("d", "jobs:bump", day_of_week="Tuesday", hour_utc=8)
    crons.monthly("e", "jobs:bump", {"n": 1}, day=31)
    crons.cron("f", "*/5 * * * *", "jobs:bump")
    assert {name: job.schedule.spec for name, job in crons.jobs.items()} == {
        "a": "@every 90s", "b": "7 * * * *", "c": "30 3 * * *", "d": "0 8 * * 2",
        "e": "0 0 31 * *", "f": "*/5 * * * *"}
    assert crons.jobs["e"].args == {"n": 1.0}
    with pytest.raises(ReactorError, match="declared twice") as twice:
        crons.interval("a", "jobs:bump", hours=1)
    assert twice.value.code == "DuplicateCronJob"
    with pytest.raises(ReactorError, match="day_of_week"):
        crons.weekly("g", "jobs:bump", day_of_week="someday")
    with pytest.raises(ReactorError, match="hour_utc must be an integer 0-23"):
        crons.daily("h", "jobs:bump", hour_utc=24)
    with pytest.raises(ReactorError, match="day must be an integer 1-31"):
        crons.monthly("i", "jobs:bump", day=0)
    with pytest.raises(ReactorError, match="at least 1 second"):
        crons.interval("j", "jobs:bump")


# The oracle: fields as plain sets, matched minute by minute -----------------

FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


@st.composite
def fields(draw: st.DrawFn, low: int, high: int) -> tuple[str, set[int]]:
    """A field's text and the set of values it stands for."""
    form = draw(st.sampled_from(["star", "star_step", "list"]))
    if form == "star":
        return "*", set(range(low, high + 1))
    if form == "star_step":
        step = draw(st.integers(1, high - low + 1))
        return f"*/{step}", set(range(low, high + 1, step))
    items, values = [], set()
    for _ in range(draw(st.integers(1, 3))):
        first = draw(st.integers(low, high))
        last = draw(st.integers(first, min(high, first + 12)))
        step = draw(st.integers(1, 4))
        kind = draw(st.sampled_from(["one", "range", "range_step", "start_step"]))
        if kind == "one":
            items.append(str(first))
            values.add(first)
        elif kind == "range":
            items.append(f"{first}-{last}")
            values.update(range(first, last + 1))
        elif kind == "range_step":
            items.append(f"{first}-{last}/{step}")
            values.update(range(first, last + 1, step))
        else:
            items.append(f"{first}/{step}")
            values.update(range(first, high + 1, step))
    return ",".join(items), values


@st.composite
def expressions(draw: st.DrawFn) -> tuple[str, list[set[int]], bool]:
    parts = [draw(fields(low, high)) for low, high in FIELD_RANGES]
    text = " ".join(part for part, _ in parts)
    sets = [values for _, values in parts]
    sets[4] = {day % 7 for day in sets[4]}
    either = not parts[2][0].startswith("*") and not parts[4][0].startswith("*")
    return text, sets, either


def oracle(sets: list[set[int]], either: bool, after: datetime) -> datetime | None:
    """Walk forward one day at a time, then minute by minute through a matching day."""
    minutes, hours, days, months, weekdays = sets
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(366 * 12 + 3):
        in_month = day.day in days
        in_week = day.isoweekday() % 7 in weekdays
        day_ok = (in_month or in_week) if either else (in_month and in_week)
        if day.month in months and day_ok:
            moment = max(day, start)
            while moment.date() == day.date():
                if moment.hour in hours and moment.minute in minutes:
                    return moment
                moment += timedelta(minutes=1)
        day += timedelta(days=1)
    return None


@settings(max_examples=300, deadline=None)
@given(expressions(), st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)))
def test_next_fire_time_matches_a_brute_force_oracle(
        drawn: tuple[str, list[set[int]], bool], after_naive: datetime) -> None:
    text, sets, either = drawn
    after = after_naive.replace(tzinfo=UTC)
    expected = oracle(sets, either, after)
    try:
        cron = CronExpression.parse(text)
    except CronError as error:
        assert "never fire" in error.message
        assert expected is None
        return
    assert expected is not None, f"{text!r} parsed but never fires after {after}"
    got = EPOCH + timedelta(milliseconds=cron.next_after(ms(after)))
    assert got == expected
    assert cron.matches(got)
