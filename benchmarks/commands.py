"""Time commands as a user waits for them: whole `segflow` processes, start-up included.

    .venv/bin/python -m benchmarks.commands [--customers 100000] [--rows 8900] [--repeat 5] [--json]

`segflow --help`; `segflow segments import` of an 8,900-row CSV into a store of 100,000
customers (a throw-away database on the configured PostgreSQL, as benchmarks.import_csv);
`segflow segments list` of that store (its segments the imports made); and `segflow worker
--stop-when-idle 1` on an empty topic of the embedded broker (or SEGFLOW_KAFKA_BOOTSTRAP's).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.import_csv import import_arguments, store_and_file, summary
from segflow.infra.embedded import EmbeddedBroker, free_port

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "segflow", *args], env=env, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def time_commands(customers: int, rows: int, repeat: int) -> dict[str, object]:
    env = dict(os.environ)
    help_s = [timed(["--help"], env) for _ in range(repeat)]
    with store_and_file(customers, rows) as (url, _conn, path), _broker() as bootstrap:
        env = {**env, "SEGFLOW_DATABASE_URL": url, "SEGFLOW_LOG_FORMAT": "json", "SEGFLOW_KAFKA_BOOTSTRAP": bootstrap}
        imports = [
            timed(["segments", "import", f"Bench {run}", str(path), "--store", "bench", "--create"], env)
            for run in range(repeat)
        ]
        lists = [timed(["segments", "list", "--store", "bench"], env) for _ in range(repeat)]
        workers = []
        for run in range(repeat):  # a topic of its own each time: empty, as a fresh deployment's
            topics = {f"SEGFLOW_{t}_TOPIC": f"b{run}-{t.lower()}-{os.getpid()}" for t in ("INPUT", "OUTPUT", "DLQ")}
            worker_env = {**env, **topics, "SEGFLOW_GROUP_ID": f"bench-{run}-{os.getpid()}"}
            workers.append(timed(["worker", "--stop-when-idle", "1"], worker_env))
    return {
        "help_median_s": round(statistics.median(help_s), 3),
        "import_command": summary(customers, rows, imports),
        "segments_list_median_s": round(statistics.median(lists), 3),
        "worker_idle_median_s": round(statistics.median(workers), 3),
    }


@contextmanager
def _broker() -> Iterator[str]:
    configured = os.environ.get("SEGFLOW_KAFKA_BOOTSTRAP")
    if configured:
        yield configured
        return
    broker = EmbeddedBroker(port=free_port()).start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def main() -> None:
    args = import_arguments(__doc__.splitlines()[0])
    figures = time_commands(args.customers, args.rows, args.repeat)
    if args.json:
        print(json.dumps(figures))
        return
    imports = figures["import_command"]
    assert isinstance(imports, dict)
    print(f"segflow --help: median {figures['help_median_s']:.3f} s over {args.repeat} runs")
    print(f"segflow segments import, {args.rows:,} rows into a store of {args.customers:,} customers, whole process:")
    print(f"  median {imports['median_s']:.3f} s, min {imports['min_s']:.3f} s, max {imports['max_s']:.3f} s")
    print(f"segflow segments list: median {figures['segments_list_median_s']:.3f} s")
    print(f"segflow worker --stop-when-idle 1, empty topic: median {figures['worker_idle_median_s']:.3f} s")


if __name__ == "__main__":
    main()
