"""An action for the action limits: it waits, and reports how many ran when it started."""

import asyncio

from reactor import action, v

_running = {"now": 0}


@action(args={"seconds": v.number()})
async def wait(ctx, seconds):
    """Waits `seconds`; returns how many of these actions were running once it started."""
    _running["now"] += 1
    started_with = _running["now"]
    try:
        await asyncio.sleep(seconds)
    finally:
        _running["now"] -= 1
    return started_with
