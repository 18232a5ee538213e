"""A long run at a steady input rate, plotted: `python -m benchmarks --soak MINUTES --rate N`.

One `segflow worker --metrics-port` runs while events arrive at N per second. Every few seconds
the benchmark reads the worker's own /metrics (consumer lag, outbox backlog, worker RSS,
PostgreSQL's bytes by kind) and the relay child's RSS; afterwards it reads the output topic and
matches each output event to its cause, for produce-to-publish latency by the minute. What an operator would watch on a
dashboard, over long enough to see a leak or a backlog that creeps.

Writes a PNG (matplotlib, the `bench` extra) and the figures as JSON beside it.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.__main__ import STORE, _producer, _start_worker, new_topic, send_paced, wait_assigned
from consumers.kafka import read_all
from segflow import sample
from segflow.infra.embedded import free_port

SAMPLE_EVERY_S = 5.0
LATENCY_WINDOW_S = 30.0
DRAIN_TIMEOUT_S = 120.0


@dataclass
class Sample:
    at_s: float
    produced: int
    lag: float
    outbox: float
    outbox_oldest_s: float
    worker_rss_mb: float
    relay_rss_mb: float
    batches: float
    batch_seconds: float
    """Cumulative: transactions applied, and the seconds they took."""
    broker_cpu_s: float
    """Cumulative CPU seconds of the embedded broker (tansu) on this machine, if it runs here."""
    database_bytes: dict[str, float] = field(default_factory=dict)
    """PostgreSQL's bytes on disk by kind (`segflow_database_bytes`)."""


@dataclass
class Soak:
    rate: int
    minutes: float
    windows: str | None = None
    """Every retention window of the run (SEGFLOW_*_RETENTION, the dedup window), when shortened."""
    samples: list[Sample] = field(default_factory=list)
    latency: list[dict[str, float]] = field(default_factory=list)
    """Per LATENCY_WINDOW_S of publish time: p50 and p99 produce-to-publish in ms."""
    events: int = 0
    output_events: int = 0


WINDOW_SETTINGS = (
    "SEGFLOW_DEDUP_WINDOW", "SEGFLOW_RUN_RETENTION", "SEGFLOW_JOURNEY_RETENTION", "SEGFLOW_OUTBOX_RETENTION",
)  # fmt: skip


def window_env(windows: str | None) -> dict[str, str]:
    """`windows` (ISO-8601): every retention that short, pruned every 30 s, so a soak of minutes
    shows storage reach its steady state. No windows: the defaults."""
    if windows is None:
        return {}
    return {**dict.fromkeys(WINDOW_SETTINGS, windows), "SEGFLOW_PRUNE_EVERY": "PT30S"}


def run_soak(
    env: dict[str, str], bootstrap: str, customers: list[str], rate: int, minutes: float, windows: str | None = None
) -> Soak:
    """`env` is the worker's, with `window_env(windows)` in it."""
    soak = Soak(rate=rate, minutes=minutes, windows=windows)
    topic = new_topic(bootstrap, "soak")
    port = free_port()
    sent: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "worker.log"
        # Runs until stopped here: the idle exit the other runs use would end it before the drain is seen.
        worker = _start_worker(env, topic, log_path, "--metrics-port", str(port), "--stop-when-idle", "3600")
        try:
            wait_assigned(worker, log_path)
            producer = _producer(bootstrap)
            started = time.time()
            next_sample = started
            second = 0
            duration = minutes * 60
            while (now := time.time()) < started + duration:
                events = sample.events(STORE, customers, rate, seed=second, prefix=f"s{second:05d}")
                send_paced(producer, topic, events, rate, started + second, sent)
                second += 1
                if now >= next_sample:
                    soak.samples.append(_sample(port, worker.pid, now - started, len(sent)))
                    next_sample += SAMPLE_EVERY_S
            producer.close()
            drain_until = time.time() + DRAIN_TIMEOUT_S
            while time.time() < drain_until:  # until the backlog is gone, still sampling
                last = _sample(port, worker.pid, time.time() - started, len(sent))
                soak.samples.append(last)
                if last.lag == 0 and last.outbox == 0:
                    break
                time.sleep(SAMPLE_EVERY_S)
        finally:
            worker.terminate()
            worker.wait(60)
        if worker.returncode != 0:
            raise SystemExit(f"the soak worker failed:\n{log_path.read_text()[-2000:]}")
    soak.events = len(sent)
    by_window: dict[int, list[float]] = {}
    for record in read_all(bootstrap, f"{topic}-out", "bench-soak"):
        cause = json.loads(record.value).get("cause", {}).get("event_id")
        if cause in sent:
            soak.output_events += 1
            published = record.timestamp / 1000
            by_window.setdefault(int((published - started) // LATENCY_WINDOW_S), []).append(
                (published - sent[cause]) * 1000
            )
    for window, latencies in sorted(by_window.items()):
        latencies.sort()
        soak.latency.append(
            {
                "at_s": (window + 0.5) * LATENCY_WINDOW_S,
                "p50_ms": round(latencies[len(latencies) // 2], 1),
                "p99_ms": round(latencies[int(len(latencies) * 0.99)], 1),
            }
        )
    return soak


def _sample(port: int, worker_pid: int, at_s: float, produced: int) -> Sample:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    database_bytes: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for metric in family.samples:
            # Summed over labels: lag over partitions; the histogram's count and sum are single.
            values[metric.name] = values.get(metric.name, 0.0) + metric.value
            if metric.name == "segflow_database_bytes":
                database_bytes[metric.labels["kind"]] = metric.value
    children = psutil.Process(worker_pid).children()
    return Sample(
        at_s=round(at_s, 1),
        produced=produced,
        lag=values.get("segflow_consumer_lag", 0.0),
        outbox=values.get("segflow_outbox_unpublished", 0.0),
        outbox_oldest_s=values.get("segflow_outbox_oldest_unpublished_seconds", 0.0),
        worker_rss_mb=round(values.get("segflow_process_rss_bytes", 0.0) / 2**20, 1),
        relay_rss_mb=round(sum(child.memory_info().rss for child in children) / 2**20, 1),
        batches=values.get("segflow_batch_apply_seconds_count", 0.0),
        batch_seconds=values.get("segflow_batch_apply_seconds_sum", 0.0),
        broker_cpu_s=_broker_cpu_s(),
        database_bytes=database_bytes,
    )


def _broker_cpu_s() -> float:
    used = 0.0
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info["cpu_times"]
        if (process.info["name"] or "").startswith("tansu") and times is not None:
            used += times.user + times.system
    return used


def figures(soak: Soak) -> dict[str, Any]:
    """The run's summary and its series, for the JSON file."""
    steady = [s for s in soak.samples if s.at_s >= 60]  # after the first minute's warm-up
    first, last = soak.samples[0], soak.samples[-1]
    p99s = [w["p99_ms"] for w in soak.latency]
    return {
        "rate_per_s": soak.rate,
        "minutes": soak.minutes,
        "windows": soak.windows,
        "events": soak.events,
        "output_events": soak.output_events,
        "p50_ms_median_window": statistics.median(w["p50_ms"] for w in soak.latency) if soak.latency else None,
        "p99_ms_worst_window": max(p99s) if p99s else None,
        "max_lag": max((s.lag for s in soak.samples), default=0),
        "max_outbox": max((s.outbox for s in soak.samples), default=0),
        "database_mb_by_minute": {
            f"{s.at_s / 60:.0f}": round(sum(s.database_bytes.values()) / 2**20, 1)
            for s in soak.samples
            if s.at_s % 60 < SAMPLE_EVERY_S
        },
        "worker_rss_mb_first_last": [steady[0].worker_rss_mb, steady[-1].worker_rss_mb] if steady else None,
        "relay_rss_mb_first_last": [steady[0].relay_rss_mb, steady[-1].relay_rss_mb] if steady else None,
        "batch_apply_ms_mean": round(
            (last.batch_seconds - first.batch_seconds) / max(last.batches - first.batches, 1) * 1000, 1
        ),
        "samples": [asdict(s) for s in soak.samples],
        "latency": soak.latency,
    }


def _cpu_percent_at_ends(samples: list[Sample]) -> list[float] | None:
    """The broker's CPU over the first and the last minute of input."""
    inputs = [s for s in samples if s.produced > 0]
    if len(inputs) < 2 or inputs[-1].at_s - inputs[0].at_s < 120:
        return None

    def over(a: Sample, b: Sample) -> float:
        return round((b.broker_cpu_s - a.broker_cpu_s) / (b.at_s - a.at_s) * 100, 1)

    start = next(s for s in inputs if s.at_s >= inputs[0].at_s + 60)
    end = next(s for s in reversed(inputs) if s.at_s <= inputs[-1].at_s - 60)
    return [over(inputs[0], start), over(end, inputs[-1])]


def plot(soak: Soak, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display here
    import matplotlib.pyplot as plt

    minutes = [s.at_s / 60 for s in soak.samples]
    pairs = list(zip(soak.samples, soak.samples[1:], strict=False))
    fig, axes = plt.subplots(6, 1, figsize=(9, 14), sharex=True)
    rates = [0.0] + [(b.produced - a.produced) / (b.at_s - a.at_s) for a, b in pairs]
    axes[0].plot(minutes, rates, label="input events/s")
    axes[0].set_ylabel("events/s")
    axes[1].plot([w["at_s"] / 60 for w in soak.latency], [w["p50_ms"] for w in soak.latency], label="p50")
    axes[1].plot([w["at_s"] / 60 for w in soak.latency], [w["p99_ms"] for w in soak.latency], label="p99")
    axes[1].set_ylabel("produce → publish, ms")
    axes[2].plot(minutes, [s.lag for s in soak.samples], label="consumer lag (records)")
    axes[2].plot(minutes, [s.outbox for s in soak.samples], label="outbox unpublished (events)")
    axes[2].set_ylabel("records")
    apply_ms = [0.0] + [
        (b.batch_seconds - a.batch_seconds) / (b.batches - a.batches) * 1000 if b.batches > a.batches else 0.0
        for a, b in pairs
    ]
    broker = [0.0] + [(b.broker_cpu_s - a.broker_cpu_s) / (b.at_s - a.at_s) * 100 for a, b in pairs]
    axes[3].plot(minutes, apply_ms, label="worker: ms per batch (apply + commit)")
    axes[3].plot(minutes, broker, label="embedded broker (tansu): CPU %")
    axes[3].set_ylabel("ms  /  %")
    axes[4].plot(minutes, [s.worker_rss_mb for s in soak.samples], label="worker")
    axes[4].plot(minutes, [s.relay_rss_mb for s in soak.samples], label="relay child")
    axes[4].set_ylabel("RSS, MB")
    kinds = sorted({kind for s in soak.samples for kind in s.database_bytes})
    axes[5].stackplot(
        minutes, [[s.database_bytes.get(kind, 0.0) / 2**20 for s in soak.samples] for kind in kinds], labels=kinds
    )
    axes[5].set_ylabel("PostgreSQL, MB")
    axes[5].set_xlabel("minutes")
    for axis in axes:
        axis.legend(loc="upper left", fontsize="small")
        axis.grid(alpha=0.3)
    axes[4].set_ylim(bottom=0)
    windows = f", retention windows {soak.windows}" if soak.windows else ""
    fig.suptitle(
        f"segflow worker soak: {soak.rate:,} events/s for {soak.minutes:g} min, {soak.events:,} events{windows}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
