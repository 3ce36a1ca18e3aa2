from reactor import cron_jobs

crons = cron_jobs()
crons.interval("tidy items", "items:secret", {"title": "from cron"}, hours=1)
