"""glibc's `malloc_trim`: giving the C heap's free pages back to the system.

CPython and numpy free memory into the C allocator, which keeps it: after a burst of
short-lived allocations (a server's closed subscriptions, a text index's bulk build)
the process stays as large as at the burst's peak until asked to trim.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable


def malloc_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)`, or None on other C libraries."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)
