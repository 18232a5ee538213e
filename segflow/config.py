"""Configuration (SPEC §8), read from the environment once, here and nowhere else."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from segflow.errors import InvalidInput

LogFormat = Literal["console", "json"]

DEFAULT_KAFKA_BOOTSTRAP = "localhost:9092"
DEFAULT_GROUP_ID = "segflow-worker"
DEFAULT_INPUT_TOPIC = "segflow.customer-events"
DEFAULT_OUTPUT_TOPIC = "segflow.flow-events"
DEFAULT_DLQ_TOPIC = "segflow.dead-letter"
DEFAULT_KLAVIYO_BASE_URL = "https://a.klaviyo.com"

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
        )
