"""Another store's requests while one store's Klaviyo is slow (SPEC §10, "never blocked by a
third party").

    .venv/bin/python -m benchmarks.console_syncs [--syncs 40] [--hold 40] [--requests 50] [--json]

One store has 40 Klaviyo segments and a Klaviyo that takes `--hold` seconds to answer each
request (the local fake, held); it clicks "Sync now" on all 40 through the API. Meanwhile
another store lists its segments through the API and a browser loads the sign-in page, and
each answer is timed. The console is `segflow serve`'s application on a free port, with its
background syncs running, on a throw-away database.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import psycopg
import uvicorn

from benchmarks.common import scratch_database
from db import segments as segment_rows
from segflow.infra.config import Config
from segflow.infra.database import database_url
from segflow.services import access, klaviyo, stores
from segflow.web.app import create_app
from tests.fakes.klaviyo import FakeKlaviyo, Group


def measure(syncs: int, hold_s: float, requests: int) -> dict[str, float | int]:
    config = Config.from_env()
    fake = FakeKlaviyo(api_key="pk_bench").start()
    release = threading.Event()

    def hold(_path: str) -> None:
        release.wait(hold_s)

    fake.on_request = hold
    try:
        with scratch_database(database_url(config)) as url, psycopg.connect(url, autocommit=True) as conn:
            stores.create(conn, "slow", "pro")
            stores.create(conn, "calm", "pro")
            klaviyo.set_key(conn, "slow", "pk_bench")
            fake.lists["L1"] = Group("Readers", ["a@example.com"])
            now = datetime.now(UTC)
            for n in range(syncs):
                segment_rows.insert_external(conn, "slow", f"List {n}", ("list", "L1", "Readers"), True, now)
            slow = {"Authorization": f"Bearer {access.new_token(conn, 'slow').token}"}
            calm = {"Authorization": f"Bearer {access.new_token(conn, 'calm').token}"}
            run_config = replace(config, database_url=url, klaviyo_base_url=fake.base_url)
            with _Serving(run_config) as base, httpx.Client(base_url=base, timeout=120) as http:
                clicks = [
                    _timed(lambda n=n: http.post(f"/api/v1/segments/List%20{n}/sync", headers=slow))  # type: ignore[misc]
                    for n in range(syncs)
                ]
                time.sleep(1)  # one of them is with Klaviyo now, held
                lists = [_timed(lambda: http.get("/api/v1/segments", headers=calm)) for _ in range(requests)]
                logins = [_timed(lambda: http.get("/login")) for _ in range(requests)]
                held = conn.execute(
                    "SELECT count(*) FROM segments WHERE sync_state IN ('queued', 'running')"
                ).fetchone()
                release.set()
    finally:
        release.set()
        fake.stop()
    return {
        "syncs_queued": syncs, "klaviyo_hold_s": hold_s, "still_queued_or_running": int(held[0]) if held else 0,
        "sync_click_max_s": round(max(clicks), 3),
        "other_store_list_p50_s": round(statistics.median(lists), 4), "other_store_list_max_s": round(max(lists), 4),
        "login_p50_s": round(statistics.median(logins), 4), "login_max_s": round(max(logins), 4),
    }  # fmt: skip


def _timed(call: Callable[[], httpx.Response]) -> float:
    started = time.perf_counter()
    answer = call()
    assert answer.status_code in (200, 202), answer.text
    return time.perf_counter() - started


class _Serving:
    """The console on a free port, background syncs running, until the block ends."""

    def __init__(self, config: Config) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        app = create_app(config)
        self._server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._listener]}, daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        while not self._server.started:
            time.sleep(0.02)
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(60)
        self._listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syncs", type=int, default=40)
    parser.add_argument("--hold", type=float, default=40.0, help="Seconds Klaviyo takes to answer each request.")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.syncs, args.hold, args.requests)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.syncs} syncs queued by one store against a Klaviyo that takes {args.hold:.0f} s per request")
    print(f"  each Sync now click answered in at most {figures['sync_click_max_s']:.3f} s")
    print(
        f"  another store's GET /api/v1/segments: median {figures['other_store_list_p50_s'] * 1000:.1f} ms, "
        f"max {figures['other_store_list_max_s'] * 1000:.1f} ms over {args.requests} requests"
    )
    print(f"  GET /login: median {figures['login_p50_s'] * 1000:.1f} ms, max {figures['login_max_s'] * 1000:.1f} ms")
    print(f"  syncs still queued or running meanwhile: {figures['still_queued_or_running']}")


if __name__ == "__main__":
    main()
