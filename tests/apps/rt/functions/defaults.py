"""A module whose default export is a query: path "defaults"."""

from reactor import query


async def _answer(ctx):
    return "default export"


default = query(_answer)
