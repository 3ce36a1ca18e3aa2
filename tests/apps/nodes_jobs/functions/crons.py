from reactor import cron_jobs

from .jobs import tick

crons = cron_jobs()
crons.interval("tick", tick, seconds=1)
