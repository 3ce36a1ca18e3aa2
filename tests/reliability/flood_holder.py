"""Holds half-open sockets against a server from one source address, in its own process
(so a flood larger than one process's file limit can be spread over several).

`python flood_holder.py PORT SOURCE COUNT`: opens COUNT sockets that send nothing,
prints one JSON line {"opened", "refused"} once each has been answered or has waited
a second, then holds them until its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys


async def main(port: int, source: str, count: int) -> None:
    async def one() -> tuple[asyncio.StreamWriter, bool]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       local_addr=(source, 0))
        try:
            data = await asyncio.wait_for(reader.read(4096), 1.0)
        except TimeoutError:
            data = b""
        return writer, data.startswith(b"HTTP/1.1 503 ")

    opened = []
    for start in range(0, count, 1000):
        opened += await asyncio.gather(*(one() for _ in range(min(1000, count - start))))
    print(json.dumps({"opened": len(opened), "refused": sum(r for _, r in opened)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for writer, _ in opened:
        writer.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
