"""The partition grid (db.maintenance): widths from retentions, and buckets that line up."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from db.maintenance import (
    WIDTHS,
    Partition,
    Retention,
    bucket,
    dedup_grace,
    dedup_width,
    expired,
    partition_width,
)


@pytest.mark.parametrize(
    ("keep", "width"),
    [
        (timedelta(days=8), timedelta(days=2)),
        (timedelta(days=31), timedelta(days=4)),
        (timedelta(hours=1), timedelta(minutes=15)),
        (timedelta(minutes=2), timedelta(minutes=1)),
        (timedelta(0), timedelta(minutes=1)),
    ],
)
def test_a_partition_is_at_most_a_quarter_of_its_retention(keep, width):
    assert width == partition_width(keep)


def test_dedup_partitions_are_half_a_window_wide():
    """Every claim probes each dedup partition before its bucket: few partitions, cheap claims."""
    assert timedelta(days=4) == dedup_width(timedelta(days=8))


def test_every_width_divides_the_next_so_grids_nest():
    assert all(wider % narrower == timedelta(0) for narrower, wider in itertools.pairwise(WIDTHS))


def test_buckets_start_on_the_grid_from_the_epoch():
    at = datetime(2026, 12, 2, 19, 7, 31, tzinfo=UTC)
    assert datetime(2026, 12, 2, 19, 5, tzinfo=UTC) == bucket(at, timedelta(minutes=5))
    assert datetime(2026, 12, 1, tzinfo=UTC) == bucket(at, timedelta(days=2))  # 20,423 days after the epoch


def test_the_grace_for_claims_at_a_boundary_is_short_but_never_zero():
    assert timedelta(minutes=10) == dedup_grace(timedelta(days=2))
    assert timedelta(seconds=30) == dedup_grace(timedelta(minutes=1))


def test_a_partition_off_the_grid_waits_one_width_longer():
    """claim_events files an id under its bucket's start, up to a width before it was claimed:
    in a partition ending off the grid (the first ones, made at migration time) that row may
    have been written up to a width after the partition's end."""
    keep = timedelta(days=8)  # width: 2 days
    policy = Retention("journey_steps", "journeys", keep)
    on_grid = Partition("processed_events", "p", None, datetime(2026, 12, 1, tzinfo=UTC))
    off_grid = Partition("processed_events", "p0", None, datetime(2026, 12, 2, 19, 8, tzinfo=UTC))
    assert expired(on_grid, policy, on_grid.upper + keep)
    assert not expired(off_grid, policy, off_grid.upper + keep)
    assert expired(off_grid, policy, off_grid.upper + keep + timedelta(days=2))
