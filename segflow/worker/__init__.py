"""`segflow worker` (SPEC §5): consume customer events, advance flows, publish flow events.

loop.py     the main thread: input partitions sought from PostgreSQL, batches applied and
            committed with their offsets (or split to find a bad message), waits woken,
            the relay process watched
relay.py    the outbox relay in a child process (consumers.relay is the relay itself)
sync.py     daily Klaviyo syncs on a thread
process.py  what the processes share: the cycle collector's settings, memory figures, back-off
"""

from segflow.worker.loop import Summary, Worker, vars_of
from segflow.worker.process import tune_gc

__all__ = ["Summary", "Worker", "tune_gc", "vars_of"]
