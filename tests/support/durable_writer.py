"""Appends journal entries one mutation at a time, printing `acked <id> <ts>` after each.

Run as `durable_writer.py <data_dir>`; the durability test SIGKILLs it mid-stream.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from reactor.runtime import Engine

APP = Path(__file__).parents[1] / "apps" / "journal"


def payload(seq: int) -> str:
    """The value entry `seq` must have after any crash."""
    return f"entry {seq};" * (seq % 7 + 1)


async def main(data_dir: Path) -> None:
    async with Engine(APP, data_dir, durability="full") as engine:
        seq = 0
        while True:
            outcome = await engine.run_mutation("journal:append",
                                                {"seq": seq, "payload": payload(seq)})
            print(f"acked {outcome.unwrap()} {outcome.ts}", flush=True)
            seq += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
