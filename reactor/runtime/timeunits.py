"""The one unit rule of the Python API: durations in seconds, times in ms since the epoch.

A `timedelta` is accepted wherever a duration is and an aware `datetime`
wherever a time is; milliseconds remain only where the wire and Convex fix
them (`ctx.now()`, `_creationTime`, `run_at` numbers).
"""

from __future__ import annotations

import datetime

from reactor.errors import InvalidValueError

Duration = float | datetime.timedelta
Instant = float | datetime.datetime


def seconds_of(duration: object, where: str) -> float:
    """A non-negative duration in seconds, from a number of seconds or a `timedelta`."""
    if isinstance(duration, datetime.timedelta):
        seconds = duration.total_seconds()
    elif isinstance(duration, int | float) and not isinstance(duration, bool):
        seconds = float(duration)
    else:
        raise InvalidValueError(f"{where}: expected a number of seconds or a timedelta,"
                                f" got {duration!r}")
    if not seconds >= 0:
        raise InvalidValueError(f"{where}: expected a non-negative duration, got {duration!r}")
    return seconds


def epoch_ms_of(instant: object, where: str) -> float:
    """A time in ms since the epoch, from such a number or a time-zone-aware `datetime`."""
    if isinstance(instant, datetime.datetime):
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise InvalidValueError(
                f"{where}: {instant!r} has no time zone, so it could mean any instant; pass"
                " an aware datetime (datetime.now(timezone.utc), or .replace(tzinfo=...))")
        return instant.timestamp() * 1000
    if isinstance(instant, int | float) and not isinstance(instant, bool):
        return float(instant)
    raise InvalidValueError(f"{where}: expected a datetime or a time in ms since the epoch,"
                            f" got {instant!r}")
