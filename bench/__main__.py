"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks, print Markdown tables.

Each benchmark measures its baseline in the same run and reports the ratio, because
the machines are shared and noisy; docs/performance.md records the figures.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.procstat import machine
from bench.report import Table
from bench.settings import Settings

BENCHMARKS = ["commit_throughput", "push_latency", "invalidation", "fanout", "memory",
              "read_throughput", "files", "bystander", "search", "postgres", "import_speed",
              "official_client", "execution_log", "idle_push", "nodes", "workers"]


def run_one(name: str, settings: Settings) -> Table:
    """One benchmark's table; a failure becomes a table saying so, and the run goes on."""
    try:
        return importlib.import_module(f"bench.{name}").run(settings)  # type: ignore[no-any-return]
    except Exception as error:
        traceback.print_exc()
        failed = Table(f"{name}: FAILED")
        failed.note(f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[-1]}")
        return failed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (~4 min in all)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=BENCHMARKS)
    parser.add_argument("--durability", choices=["full", "normal"], default="full")
    parser.add_argument("--output", type=Path, help="also write the Markdown here")
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    header = ["## Run of " + machine()["date"], ""]
    header += [f"- {name}: {value}" for name, value in machine().items() if name != "date"]
    header += [f"- mode: {'quick' if arguments.quick else 'full'},"
               f" durability={arguments.durability}", ""]
    print("\n".join(header), flush=True)
    sections = ["\n".join(header)]
    with tempfile.TemporaryDirectory(prefix="reactor-bench-") as workdir:
        settings = Settings(arguments.quick, arguments.durability, Path(workdir))
        for name in arguments.only:
            text = run_one(name, settings).markdown()
            print(text, flush=True)
            sections.append(text)
    footer = f"Total time: {time.monotonic() - started:.0f} s.\n"
    print(footer)
    if arguments.output is not None:
        arguments.output.write_text("\n".join([*sections, footer]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
