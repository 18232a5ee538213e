"""Time importing and syncing a 10,000-profile Klaviyo list against the local fake Klaviyo.

    .venv/bin/python -m benchmarks.klaviyo_sync [--profiles 10000] [--json]

The fake (tests/fakes/klaviyo.py) is a real HTTP server on localhost, paging 100 profiles per
request like Klaviyo. Uses a throw-away database on the configured or embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import psycopg
from pydantic import SecretStr

from benchmarks.common import scratch_database
from db import credentials
from db.customers import CustomerFields, upsert
from segflow.infra.config import Config
from segflow.infra.database import database_url
from segflow.services import klaviyo, stores
from tests.fakes.klaviyo import FakeKlaviyo, Group


def time_klaviyo(profiles: int, admin_url: str | None = None) -> dict[str, float | int]:
    config = Config.from_env()
    fake = FakeKlaviyo(api_key="pk_bench").start()
    try:
        with (
            scratch_database(admin_url or database_url(config)) as url,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            stores.create(conn, "bench", "pro")
            emails = [f"k{i}@example.com" for i in range(profiles)]
            with conn.transaction():
                upsert(conn, "bench", [CustomerFields(email=e) for e in emails])
                credentials.set_key(conn, "bench", "klaviyo", SecretStr("pk_bench"))
            fake.lists["L1"] = Group("Bench list", list(emails))
            run_config = replace(config, klaviyo_base_url=fake.base_url)
            started = time.perf_counter()
            _segment, imported = klaviyo.import_external(conn, run_config, "bench", "Bench", "list", external_id="L1")
            import_s = time.perf_counter() - started
            # A tenth of the list turns over before the sync.
            turned: list[str | None] = [
                *emails[profiles // 10 :],
                *(f"new{i}@example.com" for i in range(profiles // 10)),
            ]
            fake.lists["L1"].emails = turned
            started = time.perf_counter()
            synced = klaviyo.sync(conn, run_config, "bench", "Bench")
            sync_s = time.perf_counter() - started
    finally:
        fake.stop()
    assert imported.added == profiles and synced.removed == profiles // 10, (imported, synced)
    return {
        "profiles": profiles,
        "import_s": round(import_s, 3),
        "sync_s": round(sync_s, 3),
        "requests": len(fake.requests),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = time_klaviyo(args.profiles)
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"Klaviyo list of {args.profiles:,} profiles against the local fake ({figures['requests']} HTTP requests)"
        )
        print(f"  import {figures['import_s']:.3f} s, sync after 10% turnover {figures['sync_s']:.3f} s")


if __name__ == "__main__":
    main()
