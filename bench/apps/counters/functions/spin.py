"""The bystander benchmark's attacker: a query that computes forever in pure Python."""

from reactor import query


@query(args={})
async def forever(ctx):
    count = 0
    while True:
        count += 1
