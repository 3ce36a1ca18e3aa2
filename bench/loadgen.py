"""Entry point of every load generator: `python -m bench.loadgen MODULE[.FUNCTION] JSON_ARGS`.

Runs `bench.MODULE.FUNCTION(**args)` (FUNCTION defaults to `generate`) on uvloop,
which costs less per message than the default loop, so the client takes less of
the machine's CPU from the server; prints its result, plus the CPU this process
used, as one JSON line.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

import uvloop


def main(argv: list[str]) -> None:
    module_name, _, function = argv[0].partition(".")
    generate = getattr(importlib.import_module(f"bench.{module_name}"), function or "generate")
    args = json.loads(argv[1])
    started = time.process_time()
    result = uvloop.run(generate(**args))
    result["loadgen_cpu_total_s"] = time.process_time() - started
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
