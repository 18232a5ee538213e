"""Time `segments import` of an 8,900-row CSV into a store with 100,000 customers.

    .venv/bin/python -m benchmarks.import_csv [--customers 100000] [--rows 8900] [--repeat 5] [--json]

Uses a throw-away database on the configured PostgreSQL (SEGFLOW_DATABASE_URL, or the embedded
server under SEGFLOW_HOME), created and dropped here. Each repeat imports into a fresh segment,
so every run adds all rows; the time covers what the CLI does: parse, validate, resolve,
insert members and outbox rows, commit.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from benchmarks.common import scratch_database
from db import Conn
from db.customers import CustomerFields, upsert
from segflow.infra.config import Config
from segflow.infra.database import database_url
from segflow.services import segments, stores


@contextmanager
def store_and_file(customers: int, rows: int, admin_url: str | None = None) -> Iterator[tuple[str, Conn, Path]]:
    """A scratch database with store `bench` of `customers` customers, and a CSV of `rows` of their
    emails (mixed case, as people type them): (database url, connection, file)."""
    with (
        scratch_database(admin_url or database_url(Config.from_env())) as url,
        psycopg.connect(url, autocommit=True) as conn,
        tempfile.TemporaryDirectory() as tmp,
    ):
        stores.create(conn, "bench", "pro")
        with conn.transaction():
            upsert(conn, "bench", [CustomerFields(email=f"c{i}@example.com", first_name="C") for i in range(customers)])
        conn.execute("ANALYZE")
        path = Path(tmp) / "import.csv"
        step = max(1, customers // rows)
        path.write_text(
            "email,first_name,last_name,phone\n" + "".join(f"C{i * step}@Example.com,,,\n" for i in range(rows)),
            encoding="utf-8",
        )
        yield url, conn, path


def time_import(customers: int, rows: int, repeat: int, admin_url: str | None = None) -> dict[str, float | int]:
    """Import `rows` emails into a fresh segment `repeat` times; timings in seconds."""
    with store_and_file(customers, rows, admin_url) as (_url, conn, path):
        timings = []
        for run in range(repeat):
            started = time.perf_counter()
            _segment, report = segments.import_csv(conn, "bench", f"Bench {run}", path, create=True)
            timings.append(time.perf_counter() - started)
            assert report.added == rows, report
    return summary(customers, rows, timings)


def summary(customers: int, rows: int, timings: list[float]) -> dict[str, float | int]:
    return {
        "customers": customers,
        "rows": rows,
        "runs": len(timings),
        "median_s": round(statistics.median(timings), 3),
        "min_s": round(min(timings), 3),
        "max_s": round(max(timings), 3),
    }


def import_arguments(description: str) -> argparse.Namespace:
    """--customers, --rows, --repeat and --json, as every import benchmark takes them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=8_900)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = import_arguments(__doc__.splitlines()[0])
    figures = time_import(args.customers, args.rows, args.repeat)
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"segments import: {args.rows:,} rows into a store of {args.customers:,} customers")
        print(
            f"  median {figures['median_s']:.3f} s, min {figures['min_s']:.3f} s, max {figures['max_s']:.3f} s"
            f" over {args.repeat} runs"
        )


if __name__ == "__main__":
    main()
