"""What the worker's processes share: the cycle collector's settings, memory figures."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import resource
import signal
from datetime import UTC, datetime
from pathlib import Path

import structlog

log = structlog.get_logger()

# A batch allocates hundreds of thousands of short-lived objects (parsed events, runs, output
# events, producer records) that reference counting frees, almost none in cycles. With the
# default threshold (700) the cycle collector ran so often that it took half of the engine's
# time: the engine alone went from ~20,000 to ~36,000 events/s with this one.
GC_GEN0_THRESHOLD = 50_000


def utc_now() -> datetime:
    return datetime.now(UTC)


def tune_gc() -> None:
    """Collect cycles less often (see GC_GEN0_THRESHOLD), and never scan what startup loaded."""
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def die_with_parent() -> None:
    """Linux: the kernel kills this process when the worker dies, even by kill -9."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def current_rss_mb() -> float:
    """Resident memory now (Linux /proc), falling back to the peak elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return peak_rss_mb()
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def peak_rss_mb() -> float:
    """The process's high-water RSS. /proc's VmHWM first: getrusage's ru_maxrss came out several
    times higher than any VmHWM sampled during the same runs (it seems to count the relay child's
    spawn), so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux
