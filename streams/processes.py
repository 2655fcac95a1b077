"""What every long-running opswarden process sets up: its garbage collector, and its life tied to its parent's."""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import sys

#: Collector thresholds for a worker: its heap holds many long-lived objects (detector state, buffers) and
#: makes few reference cycles, so Python's default (a young collection every 700 allocations) spent about a
#: fifth of the worker's time collecting (`python -m bench.pipeline`); with these it is about a twentieth.
GC_THRESHOLDS = (50_000, 20, 100)

#: prctl option: the signal Linux sends a process when the thread that started it exits.
PR_SET_PDEATHSIG = 1


def tune_gc() -> None:
    """Collect rarely, and never scan what was loaded at start (modules, config) again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def die_with_parent(signum: int = signal.SIGTERM, parent: int | None = None) -> None:
    """In a child: Linux sends `signum` when the parent dies, even by SIGKILL. With `parent` (its pid, read
    before the child started), a parent already gone by now ends the child at once."""
    if sys.platform != "linux":
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signum)
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signum)
