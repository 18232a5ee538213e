"""A dead letter always fits on the topic: the original is kept up to a bound, its size and hash
always (SPEC §2)."""

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from consumers.events import MAX_DEAD_KEY_BYTES, DeadLetter, Record
from segflow.services import dlq

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def letter(value: bytes | None, key: bytes | None = b"acme:ann@example.com") -> DeadLetter:
    return DeadLetter(Record("in", 2, 41, key, value), "the value is not JSON (UTF-8 encoded): ...")


def test_a_small_original_is_kept_whole():
    document = json.loads(letter(b"{not json").value(AT, max_original=512 * 1024))
    assert b"{not json" == base64.b64decode(document["original"])
    assert (9, hashlib.sha256(b"{not json").hexdigest(), False) == (
        document["original_size"], document["original_sha256"], document["original_truncated"]
    )  # fmt: skip
    assert {"topic": "in", "partition": 2, "offset": 41} == document["source"]
    assert document["failed_at"].startswith("2026-11-29T09:00:00")


def test_a_large_original_is_cut_to_the_bound_and_described_whole():
    original = bytes(range(256)) * 16_000  # 4 MB
    value = letter(original).value(AT, max_original=512 * 1024)
    document = json.loads(value)
    assert original[: 512 * 1024] == base64.b64decode(document["original"])
    assert (len(original), hashlib.sha256(original).hexdigest(), True) == (
        document["original_size"], document["original_sha256"], document["original_truncated"]
    )  # fmt: skip
    assert len(value) < 1_000_000  # under Apache Kafka's default max.message.bytes


def test_without_the_original_only_its_description_remains():
    document = json.loads(letter(b"x" * 100).value(AT, max_original=0))
    assert ("", 100, True) == (document["original"], document["original_size"], document["original_truncated"])


def test_an_oversized_key_is_cut_and_described():
    key = b"k" * (MAX_DEAD_KEY_BYTES + 10)
    dead = letter(b"{}", key=key)
    assert key[:MAX_DEAD_KEY_BYTES] == dead.key()
    document = json.loads(dead.value(AT, max_original=1024))
    assert (len(key), hashlib.sha256(key).hexdigest()) == (document["key_size"], document["key_sha256"])
    assert "key_size" not in json.loads(letter(b"{}").value(AT, max_original=1024))


# What `segflow dlq` reads back is what the worker wrote: one model for both sides.


def read_back(dead: DeadLetter, max_original: int = 1024) -> dlq.Letter:
    return dlq.parse(0, 7, dead.key(), dead.value(AT, max_original))


def test_a_letter_reads_back_as_written_and_can_be_replayed():
    event = b'{"event_id": "e1"}'
    got = read_back(letter(event))
    assert got.source is not None
    assert (event, "in", 2, 41) == (got.original, got.source.topic, got.source.partition, got.source.offset)
    assert (letter(event).reason, AT.isoformat(), None) == (got.reason, got.failed_at, got.unreplayable)


@pytest.mark.parametrize(
    ("dead", "max_original", "why"),
    [
        (letter(b"x" * 100), 10, "its original was not kept whole"),
        (letter(b"x" * 100), 0, "its original was not kept whole"),
        (letter(b"{}", key=b"k" * (MAX_DEAD_KEY_BYTES + 1)), 1024, "its key was cut"),
    ],
)
def test_a_letter_without_its_whole_original_or_key_is_not_replayed(dead, max_original, why):
    got = read_back(dead, max_original)
    assert (None, why) == (got.original, got.unreplayable)


@pytest.mark.parametrize(
    "value", [None, b"", b"not json", b"[1, 2]", b'{"reason": "no other field"}', b'{"reason": 1, "extra": true}']
)
def test_what_is_not_a_segflow_dead_letter_is_listed_as_such(value):
    got = dlq.parse(0, 3, b"k", value)
    assert ("not a segflow dead letter", "it is not a dead letter") == (got.reason, got.unreplayable)


def test_an_original_that_is_not_base64_is_not_replayed():
    document = json.loads(letter(b"{}").value(AT, 1024))
    document["original"] = "not base64!"
    got = dlq.parse(0, 3, b"k", json.dumps(document).encode())
    assert (None, "its original is not base64") == (got.original, got.unreplayable)
