from reactor import components, cron_jobs

crons = cron_jobs()
crons.interval("app tick", components.second.lib.add, {"name": "app ticks"}, minutes=1)
