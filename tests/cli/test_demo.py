import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def table_rows(out, header):
    """The rows of the table under `header` in the demo's output."""
    lines = out.split(header, 1)[1].splitlines()[2:]
    rows = []
    for line in lines:
        if not line.strip():
            break
        rows.append(line.split())
    return rows


def test_demo_runs_the_flows_and_reports_what_the_database_holds(cli, db):
    result = cli("demo")
    assert 0 == result.code, result.err
    out = result.out
    assert re.search(
        r"worker: 400 events applied, 0 duplicates skipped, 0 dead-lettered, \d+ flow events published", out
    )
    flows = {row[0]: list(map(int, row[1:])) for row in table_rows(out, "flows (all runs in the store):")}
    for flow_id, (entered, completed, waiting, exited, failed) in flows.items():
        in_db = dict(
            db.execute(
                "SELECT status, count(*) FROM runs WHERE store_id = 'demo' AND flow_id = %s GROUP BY 1", (flow_id,)
            ).fetchall()
        )
        assert (entered, completed, waiting) == (
            sum(in_db.values()),
            in_db.get("completed", 0),
            in_db.get("waiting", 0),
        )
        assert exited == failed == 0
    assert set(flows) == {"free-gift", "big-spender-credits", "winback-split"}
    assert "Free Gift         flow" in out.split("segments:", 1)[1]
    published = {row[0]: int(row[1]) for row in table_rows(out, "by type:")}
    queued = dict(db.execute("SELECT event_type, count(*) FROM outbox WHERE store_id = 'demo' GROUP BY 1").fetchall())
    assert published == queued
    assert "a few journeys:" in out and "stopped the embedded broker" in out
    assert 60 == db.execute("SELECT count(*) FROM customers WHERE store_id = 'demo'").fetchone()[0]


def test_demo_on_a_fresh_home_with_nothing_configured(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGFLOW_")}
    env["SEGFLOW_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-m", "segflow", "demo"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert 0 == result.returncode, result.stderr
    assert "PostgreSQL: started the embedded server" in result.stdout
    assert "worker: 400 events applied" in result.stdout
    assert "flows (all runs in the store):" in result.stdout
    assert "stopped the embedded PostgreSQL" in result.stdout


def test_demo_serve_ends_with_the_console_and_a_token_for_the_demo_store(database_url, tmp_path):
    import signal

    import httpx

    env = {**os.environ, "SEGFLOW_DATABASE_URL": database_url, "SEGFLOW_HOME": str(tmp_path)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "segflow", "demo", "--serve", "--port", "0"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert demo.stderr is not None
        said = []
        for line in demo.stderr:  # the console's address, then the token, on stderr
            said.append(line)
            if line.startswith("sign in with this access token: "):
                break
        url = re.search(r"console at (http://\S+)/login", "".join(said))
        assert url, "".join(said)
        token = said[-1].split(": ", 1)[1].strip()
        segments = httpx.get(f"{url.group(1)}/api/v1/segments", headers={"Authorization": f"Bearer {token}"})
        assert segments.status_code == 200
        assert "Big Spenders" in [s["name"] for s in segments.json()]
    finally:
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    assert demo.returncode == 0, err
    assert "worker: 400 events applied" in out
