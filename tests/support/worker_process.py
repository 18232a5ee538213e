"""A `segflow worker` subprocess, as an operator runs it, for tests that kill or starve it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
started: list[subprocess.Popen[bytes]] = []
"""Every worker started, so the suite can kill what a failed test left running."""


def worker_env(database_url: str, bootstrap: str, group_id: str, topics: object, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SEGFLOW_DATABASE_URL": database_url,
        "SEGFLOW_KAFKA_BOOTSTRAP": bootstrap,
        "SEGFLOW_GROUP_ID": group_id,
        "SEGFLOW_INPUT_TOPIC": topics.input,  # type: ignore[attr-defined]
        "SEGFLOW_OUTPUT_TOPIC": topics.output,  # type: ignore[attr-defined]
        "SEGFLOW_DLQ_TOPIC": topics.dlq,  # type: ignore[attr-defined]
        "SEGFLOW_LOG_FORMAT": "json",
        **extra,
    }


def start_worker(env: Mapping[str, str], log_path: Path, idle_s: float | None = 3.0) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "segflow", "worker", "--json", *(["--stop-when-idle", str(idle_s)] if idle_s else [])],
        env=dict(env), cwd=ROOT, stdout=subprocess.PIPE, stderr=log,
    )  # fmt: skip
    started.append(process)
    return process


def kill_leftovers() -> None:
    while started:
        process = started.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
