"""The bystander benchmark's attackers: a query and an action that compute forever in pure
Python."""

from reactor import ActionCtx, QueryCtx, action, query


@query(args={})
async def forever(ctx: QueryCtx) -> None:
    count = 0
    while True:
        count += 1


@action(args={})
async def forever_action(ctx: ActionCtx) -> None:
    count = 0
    while True:
        count += 1
