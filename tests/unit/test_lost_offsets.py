"""When a stored offset no longer points into its partition (SPEC §5, offsets_out_of_range)."""

import uuid

from consumers.input import _lost
from consumers.kafka import Bounds
from db.offsets import Stored

TOPIC = uuid.uuid4()


def test_an_offset_inside_the_partition_of_the_same_topic_is_kept():
    assert _lost(Stored(50, TOPIC), Bounds(0, 50), TOPIC) is None
    assert _lost(Stored(0, None), Bounds(0, 0), TOPIC) is None  # no id kept yet: bounds decide
    assert _lost(Stored(7, TOPIC), Bounds(0, 9), None) is None  # a broker without ids


def test_beyond_the_end_before_the_beginning_or_another_topic_is_lost():
    assert "beyond the partition's end" in str(_lost(Stored(51, TOPIC), Bounds(0, 50), TOPIC))
    assert "before the partition's beginning" in str(_lost(Stored(3, TOPIC), Bounds(10, 50), TOPIC))
    assert "deleted and created again" in str(_lost(Stored(5, uuid.uuid4()), Bounds(0, 50), TOPIC))
