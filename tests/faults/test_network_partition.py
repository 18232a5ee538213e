"""A network partition between the worker and PostgreSQL (SPEC §5, never wedged): packets of the
worker's open connections dropped for good by nftables while new connections get through. The
worker notices within 30 s by itself (TCP keepalives and user timeout), /healthz says 503 while it
is stalled, and it reconnects and applies every event exactly once. tests/faults/partition.py runs
the scenario in a private network namespace, so the rules touch nothing else on the machine."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.worker_process import ROOT


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root for a private network namespace and nftables"
    for tool in ("unshare", "nft", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install nftables iproute2 util-linux)"
    probe = subprocess.run([shutil.which("unshare") or "unshare", "-n", shutil.which("nft") or "nft", "list", "ruleset"],
                           capture_output=True)  # fmt: skip
    if probe.returncode != 0:
        return f"cannot use nftables in a network namespace here: {probe.stderr.decode().strip()[:200]}"
    return None


@pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")
def test_connections_cut_for_good_are_noticed_and_replaced(tmp_path):
    report_path = tmp_path / "partition.json"

    run = subprocess.run(
        [shutil.which("unshare") or "unshare", "-n", sys.executable, "-m", "tests.faults.partition", str(report_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )  # fmt: skip

    log = report_path.with_suffix(".log")
    assert 0 == run.returncode, run.stderr[-3000:] + (log.read_text()[-3000:] if log.exists() else "")
    report = json.loads(report_path.read_text())
    assert report["connections_cut"] >= 2  # the loop's and the relay's at least
    assert report["exactly_once"] and 0 == report["worker_exit"]
    assert 0 == report["summary"]["dead_lettered"]
    # Noticed within 30 s (TCP_USER_TIMEOUT, keepalives), and a new connection made at once.
    assert report["first_reconnect_after_s"] is not None and report["first_reconnect_after_s"] <= 35, report
    assert report["healthz_503_after_s"] is not None, report  # the stalled loop said so
    assert report["healthz_200_again_after_s"] is not None, report
