"""The example app's housekeeping: expired sign-ups and delivered mail do not pile up."""

from __future__ import annotations

from reactor import cron_jobs

crons = cron_jobs()
crons.interval("prune expired sign-ups and old mail", "auth:pruneExpired", minutes=15)
