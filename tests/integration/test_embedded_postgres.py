"""The default path: no SEGFLOW_DATABASE_URL, an embedded server under SEGFLOW_HOME."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest


def segflow(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGFLOW_")}
    env.update(SEGFLOW_HOME=str(home), SEGFLOW_LOG_FORMAT="json")
    return subprocess.run(
        [sys.executable, "-m", "segflow", *args], env=env, capture_output=True, text=True, timeout=120
    )


def postmaster_pid(home: Path) -> int:
    return int((home / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    yield home
    segflow(home, "db", "stop")


def test_fresh_home_starts_one_server_that_later_commands_share(home):
    # Two processes racing on a fresh home: one initdb, one server, one schema.
    racing = [
        subprocess.Popen(
            [sys.executable, "-m", "segflow", "db", "migrate"],
            env={**os.environ, "SEGFLOW_HOME": str(home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outcomes = [(p.returncode, err.decode()[-2000:]) for p in racing for _out, err in [p.communicate(timeout=120)]]
    assert [0, 0] == [code for code, _ in outcomes], outcomes
    first = segflow(home, "stores", "create", "acme", "--plan", "pro")
    assert 0 == first.returncode, first.stderr
    listed = segflow(home, "stores", "list", "--json")
    assert 0 == listed.returncode, listed.stderr
    assert [("acme", "pro")] == [(s["id"], s["plan"]) for s in json.loads(listed.stdout)]
    postmasters = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if (p.info["cmdline"] or [""])[0].endswith("/bin/postgres") and str(home) in " ".join(p.info["cmdline"])
    ]
    assert [postmaster_pid(home)] == postmasters


def test_a_crashed_server_and_a_recycled_pid_are_recovered(home):
    assert 0 == segflow(home, "stores", "create", "acme", "--plan", "pro").returncode
    killed = postmaster_pid(home)
    os.kill(killed, signal.SIGKILL)
    # PostgreSQL refuses to start while the old pid exists at all, even as a zombie awaiting its reaper.
    deadline = time.monotonic() + 15
    while psutil.pid_exists(killed) and time.monotonic() < deadline:
        time.sleep(0.1)
    pidfile = home / "pgdata" / "postmaster.pid"
    lines = pidfile.read_text().splitlines()
    # The dead postmaster's pid now names a live, unrelated process: this test's own.
    pidfile.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
    listed = segflow(home, "stores", "list", "--json")
    assert 0 == listed.returncode, listed.stderr
    assert ["acme"] == [s["id"] for s in json.loads(listed.stdout)]
    assert psutil.Process(postmaster_pid(home)).name().startswith("postgres")


def test_db_stop_stops_the_server(home):
    assert 0 == segflow(home, "db", "migrate").returncode
    pid = postmaster_pid(home)
    stopped = segflow(home, "db", "stop")
    assert 0 == stopped.returncode
    assert "stopped the embedded PostgreSQL" in stopped.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_pidfile_held_by_another_commands_initdb_is_left_alone(tmp_path):
    # A standalone backend (initdb's bootstrap) writes its pid negated; it is not a stale file.
    from segflow.infra.embedded import _clear_stale_pidfile

    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "postmaster.pid").write_text(f"-{os.getpid()}\n{pgdata}\n")
    _clear_stale_pidfile(pgdata)
    assert (pgdata / "postmaster.pid").exists()
