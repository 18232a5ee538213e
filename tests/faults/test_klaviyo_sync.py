"""The worker's daily Klaviyo syncs survive a Klaviyo that answers nonsense: that segment's sync
fails and is logged, the others go on, and the worker still stops when idle (SPEC §6)."""

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from segflow.infra.config import Config
from segflow.worker import Worker
from tests.fakes.klaviyo import Group
from tests.support.klaviyo import import_list, profiles


def members(db, name):
    return db.execute(
        "SELECT count(*) FROM segment_members m JOIN segments s ON s.id = m.segment_id WHERE s.name = %s", (name,)
    ).fetchone()[0]


def test_malformed_replies_fail_their_segments_only(
    cli, db, fake, acme, database_url, kafka_bootstrap, topics, tmp_path
):
    for list_id, name in (("L1", "News"), ("G1", "Not JSON"), ("G2", "No data")):
        fake.lists[list_id] = Group(name, profiles(100))
        assert 0 == import_list(cli, "--external-id", list_id, name=name).code
    fake.lists["L1"].emails = profiles(60)
    fake.lists["G1"].garbled = b"<html>502 Bad Gateway</html>"
    fake.lists["G2"].garbled = b'{"links": {}}'
    config = replace(
        Config.from_env(), database_url=database_url, home=tmp_path, kafka_bootstrap=kafka_bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}", input_topic=topics.input, output_topic=topics.output, dlq_topic=topics.dlq,
    )  # fmt: skip
    later = datetime.now(UTC) + timedelta(hours=25)
    worker = Worker(config, database_url, clock=lambda: later, stop_when_idle=0.5)

    with capture_logs() as logs:
        thread = threading.Thread(target=worker.run)
        thread.start()
        thread.join(60)
        if thread.is_alive():  # a dead sync thread never reports idle: stop the worker to end the test
            worker.stop()
            thread.join(30)
            raise AssertionError("the worker did not stop when idle")

    synced = dict(db.execute("SELECT name, last_synced_at FROM segments").fetchall())
    assert later == synced["News"] and 60 == members(db, "News")
    assert (100, 100) == (members(db, "Not JSON"), members(db, "No data"))  # unchanged
    assert synced["Not JSON"] < later and synced["No data"] < later
    failures = sorted(line["reason"] for line in logs if line["event"] == "klaviyo_sync_failed")
    assert 2 == len(failures)
    assert any("not JSON" in reason for reason in failures)
    assert any("malformed reply" in reason for reason in failures)
