from datetime import timedelta
from pathlib import Path

import pytest

from segflow.errors import InvalidInput
from segflow.infra.config import Config


def test_defaults_follow_the_spec():
    config = Config.from_env({"HOME": "/home/u", "SEGFLOW_LOG_FORMAT": "json"})
    assert (None, "localhost:9092", "segflow-worker") == (config.database_url, config.kafka_bootstrap, config.group_id)
    assert ("segflow.customer-events", "segflow.flow-events", "segflow.dead-letter") == (
        config.input_topic,
        config.output_topic,
        config.dlq_topic,
    )
    assert "https://a.klaviyo.com" == config.klaviyo_base_url
    assert config.home.parts[-3:] == (".local", "share", "segflow")


def test_environment_overrides(tmp_path):
    config = Config.from_env(
        {
            "SEGFLOW_DATABASE_URL": "postgresql://db/segflow",
            "SEGFLOW_HOME": str(tmp_path),
            "SEGFLOW_KAFKA_BOOTSTRAP": "kafka:9092",
            "SEGFLOW_GROUP_ID": "g",
            "SEGFLOW_LOG_FORMAT": "console",
            "SEGFLOW_KLAVIYO_BASE_URL": "http://127.0.0.1:8000/",
        }
    )
    assert "postgresql://db/segflow" == config.database_url
    assert Path(tmp_path) / "pgdata" == config.embedded_pgdata
    assert ("kafka:9092", "g", "console") == (config.kafka_bootstrap, config.group_id, config.log_format)
    assert "http://127.0.0.1:8000" == config.klaviyo_base_url


def test_bad_log_format_is_named():
    with pytest.raises(InvalidInput, match="SEGFLOW_LOG_FORMAT must be console or json, not 'xml'"):
        Config.from_env({"SEGFLOW_LOG_FORMAT": "xml"})


def test_the_dead_letter_bound_defaults_under_kafkas_message_limit_and_is_checked():
    assert 512 * 1024 == Config.from_env({"SEGFLOW_LOG_FORMAT": "json"}).dlq_max_original_bytes
    assert 1000 == Config.from_env({"SEGFLOW_DLQ_MAX_ORIGINAL_BYTES": "1000"}).dlq_max_original_bytes
    for bad in ("-1", "lots", "²", str(4 * 1024 * 1024)):
        with pytest.raises(InvalidInput, match="SEGFLOW_DLQ_MAX_ORIGINAL_BYTES must be a whole number of bytes"):
            Config.from_env({"SEGFLOW_DLQ_MAX_ORIGINAL_BYTES": bad})


def test_retention_defaults_follow_the_spec():
    config = Config.from_env({"SEGFLOW_LOG_FORMAT": "json"})
    assert (timedelta(days=8), timedelta(days=31), timedelta(days=31), timedelta(hours=1), timedelta(minutes=5)) == (
        config.dedup_window,
        config.run_retention,
        config.journey_retention,
        config.outbox_retention,
        config.prune_every,
    )


def test_retentions_are_iso_8601_durations():
    config = Config.from_env(
        {"SEGFLOW_OUTBOX_RETENTION": "PT0S", "SEGFLOW_DEDUP_WINDOW": "P1W", "SEGFLOW_PRUNE_EVERY": "PT30S"}
    )
    assert (timedelta(0), timedelta(days=7), timedelta(seconds=30)) == (
        config.outbox_retention,
        config.dedup_window,
        config.prune_every,
    )


@pytest.mark.parametrize(
    ("name", "raw"),
    [("SEGFLOW_RUN_RETENTION", "31 days"), ("SEGFLOW_JOURNEY_RETENTION", "-P1D"), ("SEGFLOW_PRUNE_EVERY", "PT0S")],
)
def test_a_bad_duration_is_named(name, raw):
    with pytest.raises(InvalidInput, match=f"^{name} must be .*ISO-8601 duration such as PT30S or P8D, not '{raw}'$"):
        Config.from_env({name: raw})
