from reactor import cron_jobs

crons = cron_jobs()
crons.interval("tick", "lib:add", {"name": "ticks"}, minutes=1)
