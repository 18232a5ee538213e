"""The owner of the worker's parts (segflow.worker.parts): started in order, stopped in reverse
whatever fails, and a part that died replaced, not more often than RESTART_EVERY_S."""

from __future__ import annotations

from functools import partial

import pytest
from prometheus_client import CollectorRegistry, Counter

from segflow.worker import parts as parts_module
from segflow.worker.parts import Parts

pytestmark = pytest.mark.unit


class Fake:
    def __init__(self, name: str, journal: list[str], fail_stop: bool = False) -> None:
        self.name = name
        self.journal = journal
        self.fail_stop = fail_stop
        self.alive = False

    def start(self) -> None:
        self.alive = True
        self.journal.append(f"start {self.name}")

    def stop(self) -> None:
        self.journal.append(f"stop {self.name}")
        self.alive = False
        if self.fail_stop:
            raise RuntimeError("stuck")


def test_parts_start_in_order_and_stop_in_reverse_even_when_one_stop_fails():
    journal: list[str] = []
    parts = Parts()
    for name in ("metrics", "relay", "sync"):
        parts.start(name, partial(Fake, name, journal, fail_stop=name == "relay"))
    parts.stop()
    assert ["start metrics", "start relay", "start sync", "stop sync", "stop relay", "stop metrics"] == journal
    parts.stop()  # nothing left to stop
    assert 6 == len(journal)


def test_a_dead_part_is_replaced_once_its_rest_is_over():
    clock = [100.0]
    journal: list[str] = []
    made: list[Fake] = []
    buried: list[Fake] = []

    def make() -> Fake:
        made.append(Fake(f"relay{len(made)}", journal))
        return made[-1]

    restarted = Counter("restarted", "", ["part"], registry=CollectorRegistry())
    parts = Parts(restarted, clock=lambda: clock[0])
    running = parts.start("relay", make, on_death=buried.append)
    parts.start("sync", lambda: Fake("sync", journal))
    assert 0 == parts.watch()  # all alive
    made[0].alive = False
    clock[0] += parts_module.RESTART_EVERY_S - 1
    assert 0 == parts.watch()  # died too soon after its start: not yet
    clock[0] += 1
    assert 1 == parts.watch()
    assert (made[0],) == tuple(buried)
    assert running.part is made[1] and made[1].alive and running.deaths == 1
    assert ["start relay0", "start sync", "stop relay0", "start relay1"] == journal
    assert 1 == restarted.labels("relay")._value.get()
    assert 0 == parts.watch()
    parts.stop()
    assert ["stop sync", "stop relay1"] == journal[-2:]  # the replacement keeps its place in the order


def test_a_replacement_that_cannot_start_is_tried_again_and_the_dead_one_counted_once():
    clock = [0.0]
    journal: list[str] = []
    buried: list[Fake] = []
    attempts: list[int] = []

    def make() -> Fake:
        attempts.append(len(attempts))
        if len(attempts) == 2:  # the first replacement: its port was taken meanwhile, say
            raise OSError("address already in use")
        return Fake(f"metrics{len(attempts)}", journal)

    parts = Parts(clock=lambda: clock[0])
    running = parts.start("metrics", make, on_death=buried.append)
    first = running.part
    first.alive = False
    clock[0] += parts_module.RESTART_EVERY_S
    assert 0 == parts.watch()  # the replacement failed: logged, not raised
    assert ([first], running.part, 1) == (buried, first, running.deaths)
    assert 0 == parts.watch()  # resting again before the next try
    clock[0] += parts_module.RESTART_EVERY_S
    assert 1 == parts.watch()
    assert running.part.alive and ([first], 1) == (buried, running.deaths)
    assert ["start metrics1", "stop metrics1", "start metrics3"] == journal
