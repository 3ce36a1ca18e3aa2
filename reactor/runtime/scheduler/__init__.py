"""Scheduled functions and crons: the job worker, cron schedules and the clock they run on."""

from reactor.runtime.scheduler.clock import Clock, ManualClock, SystemClock
from reactor.runtime.scheduler.cron_schedule import (
    CronError,
    CronExpression,
    IntervalSchedule,
    Schedule,
    parse_schedule,
)
from reactor.runtime.scheduler.crons import CronJob, CronJobs, cron_jobs
from reactor.runtime.scheduler.worker import JobHost, Scheduler, SchedulerOptions

__all__ = [
    "Clock",
    "CronError",
    "CronExpression",
    "CronJob",
    "CronJobs",
    "IntervalSchedule",
    "JobHost",
    "ManualClock",
    "Schedule",
    "Scheduler",
    "SchedulerOptions",
    "SystemClock",
    "cron_jobs",
    "parse_schedule",
]
