"""Crons from `functions/crons.py`: firing on a manual clock, missed runs, overlap, hot reload."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from reactor import ReactorError
from reactor.runtime.scheduler import ManualClock
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "scheduler"
START_MS = 1_714_564_800_000.0  # 2024-05-01 12:00:00 UTC, a Wednesday
MINUTE = 60.0

CRONS = '''
from reactor import cron_jobs

from .jobs import bump

crons = cron_jobs()
crons.interval("every minute", bump, {"name": "minutely"}, minutes=1)
crons.cron("every five minutes", "*/5 * * * *", bump, {"name": "five"})
crons.daily("nightly", "jobs:bump", {"name": "nightly"}, hour_utc=3, minute_utc=30)
'''


def app_with_crons(tmp_path: Path, source: str) -> Path:
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", ".reactor"))
    (app / "functions" / "crons.py").write_text(source)
    return app


async def counters(t: ReactorTest) -> dict[str, float]:
    return await t.query("jobs:all_counters", {})  # type: ignore[no-any-return]


async def cron_rows(t: ReactorTest) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in await t.query("jobs:crons", {})}


async def test_crons_fire_on_a_manual_clock(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    async with ReactorTest(app_with_crons(tmp_path, CRONS), clock=clock) as t:
        rows = await cron_rows(t)
        assert {name: (row["schedule"], row["nextRunTime"]) for name, row in rows.items()} == {
            "every minute": ("@every 60s", START_MS + 60_000),
            "every five minutes": ("*/5 * * * *", START_MS + 5 * 60_000),
            "nightly": ("30 3 * * *", START_MS + 15.5 * 3_600_000),
        }
        assert await t.run_scheduled() == 0
        clock.advance(MINUTE)
        assert await t.run_scheduled() == 1
        assert await counters(t) == {"minutely": 1}
        clock.advance(4 * MINUTE)
        assert await t.run_scheduled() == 2
        assert await counters(t) == {"minutely": 2, "five": 1}, "a late interval runs once"
        clock.set(START_MS + 15.5 * 3_600_000)
        await t.run_scheduled()
        assert await counters(t) == {"minutely": 3, "five": 2, "nightly": 1}
        assert await t.query("jobs:runs", {"name": "nightly"}) == [START_MS + 15.5 * 3_600_000]
        row = (await cron_rows(t))["nightly"]
        assert row["nextRunTime"] == START_MS + (15.5 + 24) * 3_600_000
        assert row["lastRunTime"] == START_MS + 15.5 * 3_600_000
        job = await t.query("jobs:job", {"jobId": row["lastJobId"]})
        assert (job["name"], job["args"], job["state"]) == (
            "jobs:bump", [{"name": "nightly"}], {"kind": "success"})


async def test_the_background_worker_fires_crons_as_the_clock_moves(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    async with ReactorTest(app_with_crons(tmp_path, CRONS), clock=clock,
                           run_scheduler=True) as t, \
            t.subscribe("jobs:counter", {"name": "minutely"}) as sub:
        assert await sub.next(timeout=5) == 0
        for expected in (1, 2, 3):
            clock.advance(MINUTE)
            assert await sub.next(timeout=5) == expected


async def test_a_missed_cron_runs_once_after_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    app = app_with_crons(tmp_path, CRONS)
    data = tmp_path / "data"
    async with ReactorTest(app, data, clock=clock):
        pass
    clock.advance(60 * MINUTE)
    async with ReactorTest(app, data, clock=clock) as t:
        assert await t.run_scheduled() == 2
        assert await counters(t) == {"minutely": 1, "five": 1}
        rows = await cron_rows(t)
        assert rows["every minute"]["nextRunTime"] == clock.now() + 60_000
        assert rows["every five minutes"]["nextRunTime"] == clock.now() + 5 * 60_000


async def test_one_run_of_a_cron_at_a_time(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    source = ('from reactor import cron_jobs\n\ncrons = cron_jobs()\n'
              'crons.interval("slow", "jobs:slow_action", {"name": "slow"}, minutes=1)\n')
    async with ReactorTest(app_with_crons(tmp_path, source), clock=clock) as t:
        hooks = t.engine.app.module("jobs").hooks  # type: ignore[union-attr]
        gate, started = asyncio.Event(), asyncio.Event()
        hooks.update(gate=gate, started=started)
        clock.advance(MINUTE)
        running = asyncio.create_task(t.run_scheduled())
        await asyncio.wait_for(started.wait(), 5)
        clock.advance(MINUTE)
        await t.engine.scheduler.crons.schedule_due()
        assert [job["state"]["kind"] for job in await t.query("jobs:jobs", {})] == [
            "inProgress"], "the second run started while the first was still running"
        assert (await cron_rows(t))["slow"]["nextRunTime"] == clock.now() + 60_000
        gate.set()
        assert await running == 1
        clock.advance(MINUTE)
        assert await t.run_scheduled() == 1
        assert await counters(t) == {"slow:start": 2, "slow:end": 2}


async def test_changes_to_crons_take_effect_on_reload(tmp_path: Path) -> None:
    clock = ManualClock(START_MS)
    app = app_with_crons(tmp_path, CRONS)
    async with ReactorTest(app, clock=clock) as t:
        before = await cron_rows(t)
        clock.advance(30)
        (app / "functions" / "crons.py").write_text(
            CRONS.replace('crons.interval("every minute", bump, {"name": "minutely"},'
                          ' minutes=1)\n', "")
            .replace('"*/5 * * * *"', '"*/10 * * * *"')
            + 'crons.hourly("hourly", bump, {"name": "hourly"}, minute_utc=15)\n')
        report = await t.engine.reload()
        assert "3 crons (1 new, 1 changed, 1 removed)" in report
        after = await cron_rows(t)
        assert set(after) == {"every five minutes", "nightly", "hourly"}
        assert after["nightly"] == before["nightly"], "an unchanged cron keeps its state"
        assert after["every five minutes"]["schedule"] == "*/10 * * * *"
        assert after["every five minutes"]["nextRunTime"] == START_MS + 10 * 60_000
        assert after["hourly"]["nextRunTime"] == START_MS + 15 * 60_000
        clock.set(START_MS + 15 * 60_000)
        await t.run_scheduled()
        assert await counters(t) == {"five": 1, "hourly": 1}


@pytest.mark.parametrize(("source", "message"), [
    ('from reactor import cron_jobs\ncrons = cron_jobs()\n'
     'crons.interval("q", "jobs:counter", {"name": "x"}, minutes=1)\n',
     "functions/crons.py: cron 'q': jobs:counter is a query"),
    ('from reactor import cron_jobs\ncrons = cron_jobs()\n'
     'crons.interval("m", "jobs:missing", minutes=1)\n',
     "functions/crons.py: cron 'm': no function 'jobs:missing'"),
    ('from reactor import cron_jobs\ncrons = cron_jobs()\n'
     'crons.cron("bad", "61 * * * *", "jobs:bump")\n',
     'cron "61 * * * *": minute field: 61 is out of range 0-59'),
])
async def test_invalid_crons_stop_the_app_from_loading(tmp_path: Path, source: str,
                                                       message: str) -> None:
    with pytest.raises(ReactorError) as caught:
        async with ReactorTest(app_with_crons(tmp_path, source)):
            pass
    assert caught.value.code in ("AppLoadError", "FunctionNotFound", "WrongFunctionKind",
                                 "InvalidCronExpression")
    assert message in caught.value.message
    assert "crons" in caught.value.message
