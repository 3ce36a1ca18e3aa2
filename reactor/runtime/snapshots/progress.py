"""Import progress: a bar on a terminal (tqdm), plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Never, TextIO

from tqdm import tqdm

# Without a terminal, one line at most this often (and one per table).
LINE_EVERY_S = 5.0


class Progress:
    """Counts documents as an import goes; silent unless `enabled`."""

    def __init__(self, *, enabled: bool = True, stream: TextIO | None = None,
                 bar: bool | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if bar is None else bar
        self.done = 0
        self._tqdm: tqdm[Never] | None = None
        self._last_line = time.monotonic()

    def note(self, text: str) -> None:
        if self.enabled:
            self.stream.write(f"import: {text}\n")

    def advance(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        if self.bar:
            if self._tqdm is None:
                self._tqdm = tqdm(file=self.stream, unit=" docs", desc="import",
                                  unit_scale=True)
            self._tqdm.update(count)
        elif time.monotonic() - self._last_line >= LINE_EVERY_S:
            self._last_line = time.monotonic()
            self.stream.write(f"import: {self.done} documents read\n")

    def table_done(self, table: str, count: int) -> None:
        if self.enabled and not self.bar:
            self.stream.write(f"import: {table}: {count} documents\n")

    def finish(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None
