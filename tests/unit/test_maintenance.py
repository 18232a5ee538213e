"""The partition grid (db.maintenance): widths from retentions, and buckets that line up."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from db.maintenance import WIDTHS, bucket, dedup_grace, partition_width


@pytest.mark.parametrize(
    ("keep", "width"),
    [
        (timedelta(days=8), timedelta(days=2)),
        (timedelta(days=31), timedelta(days=2)),
        (timedelta(hours=1), timedelta(minutes=15)),
        (timedelta(minutes=2), timedelta(minutes=1)),
        (timedelta(0), timedelta(minutes=1)),
    ],
)
def test_a_partition_is_at_most_a_quarter_of_its_retention(keep, width):
    assert width == partition_width(keep)


def test_every_width_divides_the_next_so_grids_nest():
    assert all(wider % narrower == timedelta(0) for narrower, wider in itertools.pairwise(WIDTHS))


def test_buckets_start_on_the_grid_from_the_epoch():
    at = datetime(2026, 12, 2, 19, 7, 31, tzinfo=UTC)
    assert datetime(2026, 12, 2, 19, 5, tzinfo=UTC) == bucket(at, timedelta(minutes=5))
    assert datetime(2026, 12, 1, tzinfo=UTC) == bucket(at, timedelta(days=2))  # 20,423 days after the epoch


def test_the_grace_for_claims_at_a_boundary_is_short_but_never_zero():
    assert timedelta(minutes=10) == dedup_grace(timedelta(days=2))
    assert timedelta(seconds=30) == dedup_grace(timedelta(minutes=1))
