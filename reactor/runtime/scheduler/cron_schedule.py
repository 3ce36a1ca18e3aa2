"""Cron schedules: fixed intervals and 5-field cron expressions (UTC), and their next fire time."""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from reactor.errors import InvalidValueError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE_MS = 60_000
# The sparsest reachable expression (Feb 29 only) fires at least every 8 years.
_SEARCH_YEARS = 12

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
               "dec")
WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_INTERVAL = re.compile(r"^@every (\d+(?:\.\d+)?)s$")


class CronError(InvalidValueError):
    code = "InvalidCronExpression"


class Schedule(Protocol):
    """When a cron job fires; `spec` is the text stored in `_cron_jobs`."""

    @property
    def spec(self) -> str: ...

    def next_after(self, ms: float) -> float:
        """The first fire time strictly after `ms` (both in ms since the epoch)."""
        ...


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    """Every `seconds`, counted from the previous run."""

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds >= 1:
            raise CronError(f"interval: expected at least 1 second, got {self.seconds!r} s")

    @property
    def spec(self) -> str:
        whole = int(self.seconds)
        return f"@every {whole if whole == self.seconds else self.seconds}s"

    def next_after(self, ms: float) -> float:
        return ms + self.seconds * 1000


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, MONTH_NAMES, 1),
    _Field("day of week", 0, 7, WEEKDAY_NAMES, 0),
)


def _number(text: str, spec: _Field, expression: str) -> int:
    lowered = text.lower()
    if lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if not text.isdigit():
        raise CronError(f'cron "{expression}": {spec.name} field: {text!r} is not a number'
                        f" ({spec.low}-{spec.high}"
                        f"{' or a name like ' + spec.names[0].upper() if spec.names else ''})")
    value = int(text)
    if not spec.low <= value <= spec.high:
        raise CronError(f'cron "{expression}": {spec.name} field: {value} is out of range'
                        f" {spec.low}-{spec.high}")
    return value


def _parse_field(text: str, spec: _Field, expression: str) -> frozenset[int]:
    """One field: `*`, `5`, `1-5`, `*/15`, `10-50/10`, `3/4`, and comma lists of those."""
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f'cron "{expression}": {spec.name} field: step in {item!r}'
                                " must be a positive integer")
            step = int(step_text)
        if base == "*":
            low, high = spec.low, spec.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _number(first, spec, expression), _number(last, spec, expression)
            if low > high:
                raise CronError(f'cron "{expression}": {spec.name} field: range {base!r}'
                                " runs backwards")
        elif base:
            low = _number(base, spec, expression)
            high = spec.high if slash else low
        else:
            raise CronError(f'cron "{expression}": {spec.name} field: empty item in {text!r}')
        values.update(range(low, high + 1, step))
    return frozenset(values)


@dataclass(frozen=True, slots=True)
class CronExpression:
    """`minute hour day-of-month month day-of-week`, evaluated in UTC.

    As in classic cron, when both day fields are restricted (neither starts
    with `*`) a day matches if either matches; otherwise both must.
    """

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    either_day: bool

    @property
    def spec(self) -> str:
        return self.text

    @classmethod
    def parse(cls, expression: str) -> CronExpression:
        if not isinstance(expression, str):
            raise CronError(f"cron expression must be a string, got {type(expression).__name__}")
        parts = expression.split()
        if len(parts) != 5:
            raise CronError(f'cron "{expression}": expected 5 fields (minute hour day-of-month'
                            f" month day-of-week), got {len(parts)}")
        minutes, hours, days, months, weekdays = (
            _parse_field(part, spec, expression) for part, spec in zip(parts, _FIELDS,
                                                                         strict=True))
        weekdays = frozenset(day % 7 for day in weekdays)
        either_day = not parts[2].startswith("*") and not parts[4].startswith("*")
        parsed = cls(" ".join(parts).lower(), tuple(sorted(minutes)), tuple(sorted(hours)),
                     days, months, weekdays, either_day)
        if not parsed.either_day and not any(
                day <= _longest_month(month) for month in months for day in days):
            raise CronError(f'cron "{expression}": no month among {sorted(months)} has a day'
                            f" {sorted(days)}, so it would never fire")
        return parsed

    def day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.days
        in_week = moment.isoweekday() % 7 in self.weekdays
        return in_month or in_week if self.either_day else in_month and in_week

    def matches(self, moment: datetime) -> bool:
        """Whether the minute starting at `moment` (UTC) is a fire time."""
        return (moment.month in self.months and self.day_matches(moment)
                and moment.hour in self.hours and moment.minute in self.minutes)

    def next_after(self, ms: float) -> float:
        moment = _EPOCH + timedelta(minutes=int(ms // _MINUTE_MS) + 1)
        last_year = moment.year + _SEARCH_YEARS
        while moment.year <= last_year:
            if moment.month not in self.months:
                moment = _first_of_next_month(moment)
            elif not self.day_matches(moment):
                moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
            else:
                hour_at = bisect_left(self.hours, moment.hour)
                if hour_at == len(self.hours):
                    moment = moment.replace(hour=0, minute=0) + timedelta(days=1)
                    continue
                if self.hours[hour_at] != moment.hour:
                    moment = moment.replace(hour=self.hours[hour_at], minute=0)
                minute_at = bisect_left(self.minutes, moment.minute)
                if minute_at == len(self.minutes):
                    moment = moment.replace(minute=0) + timedelta(hours=1)
                    continue
                moment = moment.replace(minute=self.minutes[minute_at])
                return float((moment - _EPOCH) // timedelta(milliseconds=1))
        raise CronError(f'cron "{self.text}": no fire time within {_SEARCH_YEARS} years')


def _longest_month(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


def _first_of_next_month(moment: datetime) -> datetime:
    if moment.month == 12:
        return moment.replace(year=moment.year + 1, month=1, day=1, hour=0, minute=0)
    return moment.replace(month=moment.month + 1, day=1, hour=0, minute=0)


def parse_schedule(spec: str) -> Schedule:
    """The schedule a stored `spec` names: `@every <n>s` or a cron expression."""
    match = _INTERVAL.match(spec)
    if match:
        return IntervalSchedule(float(match.group(1)))
    return CronExpression.parse(spec)
