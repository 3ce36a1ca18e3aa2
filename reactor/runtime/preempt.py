"""Preempting user code on the event-loop thread.

A handler coroutine is driven step by step by `drive`: each step (from one
`await` that really waits to the next) is user code running synchronously on
the loop. While a step runs, a one-shot SIGALRM timer is armed for the moment
its budget ends. Python runs signal handlers in the main thread between
bytecodes, and the regular-expression engine checks for signals while it
matches, so the handler raises `Preempted` inside a spinning loop or a
catastrophic regex alike. It raises only while a step is running and never
inside this module's own frames, so the loop's and the runner's code are never
interrupted; nor, for up to FINALIZER_GRACE_S, are the finalizers and `gc.callbacks` a
garbage collection runs meanwhile: a timer that fires in them is put off until the
code returns to the user's frames (a profile hook sees it at once, even when the code
spends nearly all its time collecting). C code that does not return to the
interpreter (one huge `json.loads`) is not interrupted: the worker processes
(`workers.py`) are for that.

Preemption needs the loop on the main thread (signals are delivered there);
elsewhere (`install()` was not called from the main thread) the limits are
checked between steps only.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time
import types
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any

# Once the handler has raised, it raises again this often if user code swallows it.
REPEAT_S = 0.01
# The longest the handler puts off raising while the garbage collector runs finalizers.
FINALIZER_GRACE_S = 0.1


class Preempted(BaseException):
    """Raised into user code by the timer; a BaseException, so `except Exception` in a
    handler does not swallow it."""


@dataclass(slots=True)
class Budget:
    """How long one execution's user code may run, and what stopped it.

    Time in a step is the CPU time of the thread running it, so a step is not
    charged for the moments the operating system gave the core to another process.
    `limit_s` bounds the sum of its steps (queries and mutations); `deadline`
    is a `perf_counter` time it must not run past (an action's timeout);
    `slice_s` bounds one step (past it the execution moves to a worker
    process); `step_cap_s` also bounds one step, but fails the execution.
    """

    limit_s: float = float("inf")
    deadline: float = float("inf")
    slice_s: float = float("inf")
    step_cap_s: float = float("inf")
    used_s: float = 0.0
    # "limit", "deadline", "slice" or "step" once the budget ran out; None while it lasts.
    reason: str | None = None
    longest_step_s: float = 0.0

    def remaining(self, now: float, step_started: float) -> float:
        """Seconds until the running step (started at CPU time `step_started`; `now` is
        CPU time too) could break a bound."""
        in_step = now - step_started
        left = min(self.limit_s - self.used_s - in_step, self.slice_s - in_step,
                   self.step_cap_s - in_step)
        if self.deadline != float("inf"):
            left = min(left, self.deadline - time.perf_counter())
        return left

    def breach(self, now: float, step_started: float) -> str | None:
        in_step = now - step_started
        if self.used_s + in_step >= self.limit_s:
            return "limit"
        if self.deadline != float("inf") and time.perf_counter() >= self.deadline:
            return "deadline"
        if in_step >= self.step_cap_s:
            return "step"
        if in_step >= self.slice_s:
            return "slice"
        return None


class _Slot:
    """The step running now (innermost first): an action's step encloses the steps of
    the queries it runs. Only the event-loop thread touches it; the signal handler
    runs on that same thread, between its bytecodes, so there is no race."""

    __slots__ = ("budget", "deferred", "outer", "started")

    def __init__(self, budget: Budget, started: float, outer: _Slot | None) -> None:
        self.budget = budget
        self.started = started
        self.outer = outer
        # When the handler first put off raising (a collection was running), or None.
        self.deferred: float | None = None


_running: _Slot | None = None
_enabled = False
# True while the garbage collector runs (its finalizers: `__del__`, weakref callbacks,
# any object's, a library's too). Preempted raised in a finalizer, or in a callback in
# `gc.callbacks`, is printed and dropped ("Exception ignored in ...") and leaves it half
# done — a weak set keeping a dead entry, a transport left open — so the handler puts
# it off until the collection ends.
_collecting = False
_lock = threading.Lock()
# CPU time of the calling thread: the user code's own time. The timer is a wall-clock
# one (CPU time <= wall time, so it never fires late); when it fires early, because the
# thread was waiting for a core, the handler re-arms it for what is left.
_clock = time.thread_time
_timer = signal.ITIMER_REAL


def install() -> bool:
    """Install the timer's signal handler; True if preemption is on (main thread only)."""
    global _enabled
    with _lock:
        if _enabled:
            return True
        if threading.current_thread() is not threading.main_thread():
            return False
        signal.signal(signal.SIGALRM, _on_alarm)
        gc.callbacks.insert(0, _on_gc)  # first: the others' "start" calls are covered
        _enabled = True
        return True


def enabled() -> bool:
    return _enabled


def _arm(seconds: float) -> None:
    signal.setitimer(_timer, max(seconds, 1e-5) if seconds != float("inf") else 0)


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _collecting
    _collecting = phase == "start"


def _on_alarm(signum: int, frame: types.FrameType | None) -> None:
    slot = _running
    if slot is None:
        return
    now = _clock()
    in_gc = _collecting or _in_gc_callback(frame)
    if not in_gc and frame is not None and frame.f_code in _OWN_CODE:
        _arm(REPEAT_S / 10)  # between steps: the step's own end will judge it
        return
    reason = slot.budget.breach(now, slot.started)
    if reason is None:
        _arm(slot.budget.remaining(now, slot.started))
        return
    if in_gc:
        # Put off while finalizers and callbacks run; bounded, since a user's `__del__`
        # may spin too (then it is cut short, its exception dropped by Python, and the
        # hook stops the code once it is back in its own frames).
        # Raise at the first call or return of the user's own code: a timer alone could
        # land in a collection every time (`while True: gc.collect()` spends all but a
        # microsecond of each turn in one). The step's end puts back what this displaces.
        sys.setprofile(_on_profile_event)
        if slot.deferred is None:
            slot.deferred = now
        waited = now - slot.deferred
        if waited < FINALIZER_GRACE_S or (frame is not None and frame.f_code is _ON_GC_CODE):
            _arm(min(REPEAT_S / 10, max(FINALIZER_GRACE_S - waited, 0.0)))
            return
    slot.budget.reason = slot.budget.reason or reason
    _arm(REPEAT_S)
    raise Preempted


def _on_profile_event(frame: types.FrameType, event: str, arg: Any) -> None:
    slot = _running
    if slot is None or _collecting or frame.f_code in _OWN_CODE or _in_gc_callback(frame):
        return
    slot.budget.reason = slot.budget.reason or slot.budget.breach(_clock(), slot.started)
    if slot.budget.reason is None:
        return
    _arm(REPEAT_S)
    raise Preempted


def _in_gc_callback(frame: types.FrameType | None) -> bool:
    """Whether `frame` runs in a callback of `gc.callbacks` (a library's: hypothesis
    times collections so), called by a collection the code below it set off. Ours runs
    first, so the others' "stop" calls come after it has cleared `_collecting`."""
    callbacks = {getattr(getattr(cb, "__func__", cb), "__code__", None)
                 for cb in gc.callbacks}
    while frame is not None and frame.f_code is not _DRIVE_CODE:
        if frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False


@types.coroutine
def drive(coro: Coroutine[Any, Any, Any], budget: Budget) -> Generator[Any, Any, Any]:
    """Run `coro` to completion under `budget`; raises `Preempted` when it ran out
    (`budget.reason` says why). Each step's time is added to `budget.used_s`."""
    global _running
    value: Any = None
    error: BaseException | None = None
    try:
        while True:
            outer = _running
            started = _clock()
            slot = _Slot(budget, started, outer)
            profile = sys.getprofile()
            _running = slot
            if _enabled:
                _arm(budget.remaining(started, started))
            done = False
            result: Any = None
            try:
                try:
                    yielded = coro.send(value) if error is None else coro.throw(error)
                finally:
                    _running = outer
                    _end_step(budget, started, outer, profile)
            except StopIteration as stop:
                done, result = True, stop.value
            except Preempted:
                pass  # budget.reason says why; the finally above closed the step
            if budget.reason is None:
                budget.reason = budget.breach(0.0, 0.0)  # the steps so far, in sum
            if budget.reason is not None:
                raise Preempted
            if done:
                return result
            try:
                value, error = (yield yielded), None
            except BaseException as thrown:
                value, error = None, thrown
    finally:
        coro.close()


def _end_step(budget: Budget, started: float, outer: _Slot | None, profile: Any) -> None:
    """Charge the step, hand the timer back to the enclosing step, if any, and put back
    the profile function the step started with (Python drops one that `Preempted` was
    raised in, and the hook may have displaced it)."""
    if _enabled:
        signal.setitimer(_timer, 0)
        if sys.getprofile() is not profile:
            sys.setprofile(profile)
    now = _clock()
    elapsed = now - started
    budget.used_s += elapsed
    if elapsed > budget.longest_step_s:
        budget.longest_step_s = elapsed
    if outer is not None and _enabled:
        _arm(outer.budget.remaining(now, outer.started))


_DRIVE_CODE = drive.__code__
_ON_GC_CODE = _on_gc.__code__
_OWN_CODE = frozenset(f.__code__ for f in (
    drive, _end_step, _arm, _on_alarm, _in_gc_callback, _on_profile_event,
    Budget.remaining, Budget.breach))
