"""WAL checkpoints on their own thread, so that commits mostly just append and fsync.

SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold
(1,000 pages): that commit copies the WAL into the database file, and every
mutation in its group-commit batch waits. Here a separate connection runs a
PASSIVE checkpoint (it never blocks the writer or readers) after writes, so the
copying happens beside the commits. How often follows how fast the WAL grows:
each checkpoint aims to copy about CHECKPOINT_FRAMES frames, the pause between
them kept within MIN_INTERVAL_S..MAX_INTERVAL_S. A page rewritten by many commits
(an index's newest leaf, the globals) is copied once per checkpoint, so fewer,
larger checkpoints copy less and fsync the database file less often (measured
under bench 12's load: this thread's CPU per mutation 0.055 ms at a fixed 0.05 s,
0.026 ms at 0.25 s, 0.012 ms at 1 s).

The writer keeps an automatic checkpoint, at WRITER_AUTOCHECKPOINT_PAGES: under
continuous writes a checkpoint from another connection never quite catches up
with the last frame, and only a complete one lets the next write restart the WAL
from its beginning. By the time the writer's triggers, this thread has copied
nearly everything, so it only finishes the job; the higher threshold makes that
rare (measured with 8 clients inserting: commit p90 14 ms with SQLite's default
alone, 10 ms with this thread and the default, 6.6 ms with both as set here).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

logger = logging.getLogger("reactor.storage")

# About 4 MiB of 4 KiB pages per checkpoint, whatever the write rate (within the bounds).
CHECKPOINT_FRAMES = 1_000
MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 1.0
# The writer's own threshold: the WAL grows to at most about this many 4 KiB pages.
WRITER_AUTOCHECKPOINT_PAGES = 10_000


class Checkpointer:
    """A daemon thread with its own connection; `wrote()` tells it there is work."""

    def __init__(self, db_path: Path, synchronous: str) -> None:
        self.db_path = db_path
        self.synchronous = synchronous
        self.checkpoints = 0
        self._pending = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="reactor-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wrote(self) -> None:
        self._pending.set()

    def stop(self) -> None:
        """Finish the checkpoint in progress, if any, and end the thread."""
        self._stopping = True
        self._pending.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.db_path, isolation_level=None, check_same_thread=False)
        interval, frames = MIN_INTERVAL_S, 0
        try:
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            while True:
                self._pending.wait()
                if self._stopping:
                    return
                self._pending.clear()
                try:
                    _, wal_frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    # Fewer frames than before: the writer started the WAL over meanwhile.
                    grown = wal_frames - frames if wal_frames >= frames else wal_frames
                    interval, frames = next_interval(interval, grown), max(wal_frames, 0)
                except sqlite3.Error as error:
                    logger.warning("%s: checkpoint failed (will retry): %s", self.db_path, error)
                time.sleep(interval)
        finally:
            conn.close()


def next_interval(interval: float, grown: int) -> float:
    """The pause before the next checkpoint, after one that found the WAL `grown` frames
    longer than the one before: scaled towards CHECKPOINT_FRAMES a checkpoint, by at
    most 2x a step so that a burst does not swing it from one bound to the other."""
    if grown <= 0:
        return interval
    factor = min(2.0, max(0.5, CHECKPOINT_FRAMES / grown))
    return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, interval * factor))
