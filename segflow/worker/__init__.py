"""`segflow worker` (SPEC §5): consume customer events, advance flows, publish flow events.

loop.py         the main thread: input partitions sought from PostgreSQL, batches applied and
                committed with their offsets (or split to find a bad message), waits woken
parts.py        the owner of what runs beside the loop: started in order, stopped in reverse,
                a part that died replaced
relay.py        the outbox relay in a child process (consumers.relay is the relay itself)
maintenance.py  pruning past retention, on a thread (the Klaviyo sync loop is in services)
metrics.py      /metrics, /healthz and /readyz, on a thread
process.py      what the processes share: the cycle collector's settings, memory figures
"""

from segflow.worker.loop import Summary, Worker, vars_of
from segflow.worker.process import tune_gc

__all__ = ["Summary", "Worker", "tune_gc", "vars_of"]
