from reactor import cron_jobs

from .sessions import purge_expired

crons = cron_jobs()
crons.interval("purge sessions", purge_expired, minutes=10)
