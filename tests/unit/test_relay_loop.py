"""The relay's loop survives whatever one tick raises, and drains before it stops."""

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from segflow.infra import failures
from segflow.worker.relay import RelayLoop


class EventWake:
    def __init__(self) -> None:
        self.event = threading.Event()

    def drain(self) -> None:
        self.event.clear()

    def wait(self, timeout: float) -> None:
        self.event.wait(timeout)


class FlakyRelay:
    """Raises each of `failures` once, then publishes 3 events, then has nothing left."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = list(failures)
        self.results = [3, 0]
        self.ticks = 0
        self.conn = SimpleNamespace(broken=False, closed=False)

    def tick(self) -> int:
        self.ticks += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.results.pop(0)


@pytest.mark.parametrize("failure", [ValueError("a bug"), ConnectionResetError("the socket went away")])
def test_a_failing_tick_is_retried_and_the_loop_goes_on_to_drain(failure, monkeypatch):
    monkeypatch.setattr(failures, "FIRST_DELAY_S", 0.0)  # no real back-off waits
    relay = FlakyRelay([failure])
    published: list[int] = []
    # Asked to stop from the start: the loop still publishes what is queued first.
    loop = RelayLoop(relay, lambda conn: conn, EventWake(), lambda: True)  # type: ignore[arg-type]

    def after(loop_: Any) -> None:
        published.append(loop_.last)

    loop.run(after)
    assert 3 == relay.ticks
    assert [-1, 3, 0] == published  # failed, published 3, nothing left: stopped
