"""Declaring cron jobs in `functions/crons.py`: `crons = cron_jobs()`, then one call per job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reactor.errors import InvalidValueError, NotFoundError, SchemaError
from reactor.runtime.components import ComponentReferences
from reactor.runtime.context import FunctionRef, function_path
from reactor.runtime.functions import FunctionDefinition, FunctionKind
from reactor.runtime.paths import canonical_path
from reactor.runtime.scheduler.cron_schedule import (
    WEEKDAY_NAMES,
    CronExpression,
    IntervalSchedule,
    Schedule,
)
from reactor.runtime.timeunits import Duration, seconds_of
from reactor.values import canonicalize

_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass(frozen=True, slots=True)
class CronJob:
    """One declared job: run `function` with `args` on `schedule`."""

    name: str
    schedule: Schedule
    function: FunctionRef
    args: dict[str, Any]

    @property
    def path(self) -> str:
        return canonical_path(function_path(self.function))


def _time_of_day(where: str, hour_utc: int, minute_utc: int) -> tuple[int, int]:
    for label, value, high in (("hour_utc", hour_utc, 23), ("minute_utc", minute_utc, 59)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
            raise InvalidValueError(f"{where}: {label} must be an integer 0-{high},"
                                    f" got {value!r}")
    return hour_utc, minute_utc


class CronJobs:
    """The jobs of one app; names are unique and identify a job across reloads."""

    def __init__(self) -> None:
        self.jobs: dict[str, CronJob] = {}

    def interval(self, name: str, fn: FunctionRef, args: dict[str, Any] | None = None, *,
                 every: Duration = 0, seconds: float = 0, minutes: float = 0,
                 hours: float = 0) -> None:
        """Every so often, the first time one interval after the job is declared.

        The interval is `every` (seconds or a `timedelta`) plus the `seconds`,
        `minutes` and `hours` given.
        """
        total = seconds_of(every, f"cron {name!r}: every") + seconds + minutes * 60 + hours * 3600
        self._add(name, IntervalSchedule(float(total)), fn, args)

    def hourly(self, name: str, fn: FunctionRef, args: dict[str, Any] | None = None, *,
               minute_utc: int = 0) -> None:
        _, minute = _time_of_day(f"cron {name!r}", 0, minute_utc)
        self._add(name, CronExpression.parse(f"{minute} * * * *"), fn, args)

    def daily(self, name: str, fn: FunctionRef, args: dict[str, Any] | None = None, *,
              hour_utc: int = 0, minute_utc: int = 0) -> None:
        hour, minute = _time_of_day(f"cron {name!r}", hour_utc, minute_utc)
        self._add(name, CronExpression.parse(f"{minute} {hour} * * *"), fn, args)

    def weekly(self, name: str, fn: FunctionRef, args: dict[str, Any] | None = None, *,
               day_of_week: str, hour_utc: int = 0, minute_utc: int = 0) -> None:
        """`day_of_week` is an English day name ("monday" or "mon")."""
        day = str(day_of_week).lower()
        if day not in _WEEKDAYS and day not in WEEKDAY_NAMES:
            raise InvalidValueError(f"cron {name!r}: day_of_week must be a day name such as"
                                    f" 'monday', got {day_of_week!r}")
        hour, minute = _time_of_day(f"cron {name!r}", hour_utc, minute_utc)
        number = (_WEEKDAYS.index(day) if day in _WEEKDAYS else WEEKDAY_NAMES.index(day))
        self._add(name, CronExpression.parse(f"{minute} {hour} * * {number}"), fn, args)

    def monthly(self, name: str, fn: FunctionRef, args: dict[str, Any] | None = None, *,
                day: int, hour_utc: int = 0, minute_utc: int = 0) -> None:
        """On `day` (1-31) of each month; months without that day are skipped."""
        if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 31:
            raise InvalidValueError(f"cron {name!r}: day must be an integer 1-31, got {day!r}")
        hour, minute = _time_of_day(f"cron {name!r}", hour_utc, minute_utc)
        self._add(name, CronExpression.parse(f"{minute} {hour} {day} * *"), fn, args)

    def cron(self, name: str, expression: str, fn: FunctionRef,
             args: dict[str, Any] | None = None) -> None:
        """A 5-field cron expression in UTC, e.g. `"*/15 9-17 * * mon-fri"`."""
        self._add(name, CronExpression.parse(expression), fn, args)

    def _add(self, name: str, schedule: Schedule, fn: FunctionRef,
             args: dict[str, Any] | None) -> None:
        if not isinstance(name, str) or not name.strip():
            raise InvalidValueError(f"cron job name must be a non-empty string, got {name!r}")
        if name in self.jobs:
            raise SchemaError(f"cron job {name!r} is declared twice", code="DuplicateCronJob")
        if args is not None and not isinstance(args, dict):
            raise InvalidValueError(f"cron {name!r}: args must be a dict, got"
                                    f" {type(args).__name__}")
        if not isinstance(fn, FunctionDefinition | str | ComponentReferences):
            raise InvalidValueError(f"cron {name!r}: expected a function or a path string,"
                                    f" got {type(fn).__name__}")
        checked: dict[str, Any] = canonicalize(dict(args or {}), f"cron {name!r} args")  # type: ignore[assignment]
        self.jobs[name] = CronJob(name, schedule, fn, checked)

    def check(self, functions: dict[str, FunctionDefinition]) -> None:
        """Every job names a registered mutation or action (run when `functions/` loads)."""
        for job in self.jobs.values():
            try:
                path = job.path
            except NotFoundError as error:
                raise SchemaError(f"cron {job.name!r}: {error.message}",
                                  code="FunctionNotFound") from None
            fn = functions.get(path)
            if fn is None:
                raise SchemaError(f"cron {job.name!r}: no function {path!r}",
                                  code="FunctionNotFound")
            if fn.kind is FunctionKind.QUERY:
                raise SchemaError(f"cron {job.name!r}: {path} is a query; crons run mutations"
                                  " and actions", code="WrongFunctionKind")


def cron_jobs() -> CronJobs:
    """A new, empty set of cron jobs for `functions/crons.py`."""
    return CronJobs()
