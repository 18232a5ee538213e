"""A dead letter always fits on the topic: the original is kept up to a bound, its size and hash
always (SPEC §2)."""

import base64
import hashlib
import json
from datetime import UTC, datetime

from consumers.events import MAX_DEAD_KEY_BYTES, DeadLetter, Record

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
