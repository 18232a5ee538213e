"""Configuration (SPEC §8), read from the environment once, here and nowhere else."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import isodate

from segflow.errors import InvalidInput

LogFormat = Literal["console", "json"]

DEFAULT_KAFKA_BOOTSTRAP = "localhost:9092"
DEFAULT_GROUP_ID = "segflow-worker"
DEFAULT_INPUT_TOPIC = "segflow.customer-events"
DEFAULT_OUTPUT_TOPIC = "segflow.flow-events"
DEFAULT_DLQ_TOPIC = "segflow.dead-letter"
DEFAULT_KLAVIYO_BASE_URL = "https://a.klaviyo.com"
# How much of an invalid message a dead letter keeps. 512 KiB is 683 KiB in base64: with the
# envelope, well under Apache Kafka's default max.message.bytes (1 MB). A longer original is cut
# and its size and SHA-256 recorded; at most 2 MiB, under the producer's 4 MiB request limit.
DEFAULT_DLQ_MAX_ORIGINAL_BYTES = 512 * 1024
MAX_DLQ_MAX_ORIGINAL_BYTES = 2 * 1024 * 1024

# Retention (SPEC §8, §11): how long what grows with events is kept, as ISO-8601 durations.
DEFAULT_DEDUP_WINDOW = timedelta(days=8)
DEDUP_WINDOW_PROMISED = timedelta(days=7)
"""SPEC §2: ids are remembered at least this long unless an operator shortens it (with a warning)."""
DEFAULT_RUN_RETENTION = timedelta(days=31)
DEFAULT_JOURNEY_RETENTION = timedelta(days=31)
DEFAULT_OUTBOX_RETENTION = timedelta(hours=1)
DEFAULT_PRUNE_EVERY = timedelta(minutes=5)
DEFAULT_STATEMENT_TIMEOUT = timedelta(seconds=60)

# Every variable segflow reads; docker-compose.yml is checked against this list by a test.
ENV_VARS = (
    "SEGFLOW_DATABASE_URL",
    "SEGFLOW_HOME",
    "SEGFLOW_KAFKA_BOOTSTRAP",
    "SEGFLOW_GROUP_ID",
    "SEGFLOW_INPUT_TOPIC",
    "SEGFLOW_OUTPUT_TOPIC",
    "SEGFLOW_DLQ_TOPIC",
    "SEGFLOW_LOG_FORMAT",
    "SEGFLOW_KLAVIYO_BASE_URL",
    "SEGFLOW_DLQ_MAX_ORIGINAL_BYTES",
    "SEGFLOW_DEDUP_WINDOW",
    "SEGFLOW_RUN_RETENTION",
    "SEGFLOW_JOURNEY_RETENTION",
    "SEGFLOW_OUTBOX_RETENTION",
    "SEGFLOW_PRUNE_EVERY",
    "SEGFLOW_STATEMENT_TIMEOUT",
)


@dataclass(frozen=True, slots=True)
class Config:
    database_url: str | None
    """None means: use the embedded PostgreSQL kept under `home`."""
    home: Path
    kafka_bootstrap: str
    group_id: str
    input_topic: str
    output_topic: str
    dlq_topic: str
    log_format: LogFormat
    klaviyo_base_url: str
    dlq_max_original_bytes: int = DEFAULT_DLQ_MAX_ORIGINAL_BYTES
    """Bytes of an invalid message's value a dead letter keeps (the rest is cut, its size and hash kept)."""
    dedup_window: timedelta = DEFAULT_DEDUP_WINDOW
    """How long an input event id is remembered (duplicates within it are skipped)."""
    run_retention: timedelta = DEFAULT_RUN_RETENTION
    """Finished runs older than this are removed (what re-entry needs is kept)."""
    journey_retention: timedelta = DEFAULT_JOURNEY_RETENTION
    """Journey steps (`customers explain`) older than this are removed."""
    outbox_retention: timedelta = DEFAULT_OUTBOX_RETENTION
    """Published outbox rows older than this are removed (0: as soon as published)."""
    prune_every: timedelta = DEFAULT_PRUNE_EVERY
    """How often a worker removes what is past its retention."""
    statement_timeout: timedelta = DEFAULT_STATEMENT_TIMEOUT
    """A statement of the worker's running longer is cancelled, and counts as an outage."""

    @property
    def embedded_pgdata(self) -> Path:
        return self.home / "pgdata"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        raw_format = env.get("SEGFLOW_LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")
        log_format: LogFormat
        if raw_format == "console":
            log_format = "console"
        elif raw_format == "json":
            log_format = "json"
        else:
            raise InvalidInput(f"SEGFLOW_LOG_FORMAT must be console or json, not {raw_format!r}")
        home = env.get("SEGFLOW_HOME") or str(Path("~/.local/share/segflow").expanduser())
        return cls(
            database_url=env.get("SEGFLOW_DATABASE_URL") or None,
            home=Path(home).expanduser().resolve(),
            kafka_bootstrap=env.get("SEGFLOW_KAFKA_BOOTSTRAP") or DEFAULT_KAFKA_BOOTSTRAP,
            group_id=env.get("SEGFLOW_GROUP_ID") or DEFAULT_GROUP_ID,
            input_topic=env.get("SEGFLOW_INPUT_TOPIC") or DEFAULT_INPUT_TOPIC,
            output_topic=env.get("SEGFLOW_OUTPUT_TOPIC") or DEFAULT_OUTPUT_TOPIC,
            dlq_topic=env.get("SEGFLOW_DLQ_TOPIC") or DEFAULT_DLQ_TOPIC,
            log_format=log_format,
            klaviyo_base_url=(env.get("SEGFLOW_KLAVIYO_BASE_URL") or DEFAULT_KLAVIYO_BASE_URL).rstrip("/"),
            dlq_max_original_bytes=_dlq_bound(env.get("SEGFLOW_DLQ_MAX_ORIGINAL_BYTES")),
            dedup_window=_duration(env, "SEGFLOW_DEDUP_WINDOW", DEFAULT_DEDUP_WINDOW),
            run_retention=_duration(env, "SEGFLOW_RUN_RETENTION", DEFAULT_RUN_RETENTION),
            journey_retention=_duration(env, "SEGFLOW_JOURNEY_RETENTION", DEFAULT_JOURNEY_RETENTION),
            outbox_retention=_duration(env, "SEGFLOW_OUTBOX_RETENTION", DEFAULT_OUTBOX_RETENTION),
            prune_every=_duration(env, "SEGFLOW_PRUNE_EVERY", DEFAULT_PRUNE_EVERY, positive=True),
            statement_timeout=_duration(env, "SEGFLOW_STATEMENT_TIMEOUT", DEFAULT_STATEMENT_TIMEOUT, positive=True),
        )


def _duration(env: Mapping[str, str], name: str, default: timedelta, *, positive: bool = False) -> timedelta:
    """An ISO-8601 duration (`PT30S`, `P8D`); months and years count from 2000-01-01."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        parsed = isodate.parse_duration(raw.strip())
    except (isodate.ISO8601Error, ValueError):
        parsed = None
    if isinstance(parsed, isodate.Duration):
        parsed = parsed.totimedelta(start=datetime(2000, 1, 1))
    if not isinstance(parsed, timedelta) or parsed < timedelta(0) or (positive and parsed == timedelta(0)):
        wanted = "a positive" if positive else "an"
        raise InvalidInput(f"{name} must be {wanted} ISO-8601 duration such as PT30S or P8D, not {raw!r}")
    return parsed


def _dlq_bound(raw: str | None) -> int:
    if not raw:
        return DEFAULT_DLQ_MAX_ORIGINAL_BYTES
    value = int(raw) if raw.strip().isascii() and raw.strip().isdigit() else -1
    if not 0 <= value <= MAX_DLQ_MAX_ORIGINAL_BYTES:
        raise InvalidInput(
            f"SEGFLOW_DLQ_MAX_ORIGINAL_BYTES must be a whole number of bytes from 0 to {MAX_DLQ_MAX_ORIGINAL_BYTES}, "
            f"not {raw!r}"
        )
    return value
