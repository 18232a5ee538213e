"""How a batch's events are split into groups for overlapping reads, engine and writes."""

import random
from datetime import UTC, datetime

from consumers.events import GROUP_EVENTS, customer_groups
from schemas.events import InputCustomer, InputEvent


def event(n: int, email: str) -> InputEvent:
    return InputEvent(
        event_id=f"e{n}", type="order.processed", store_id="acme",
        occurred_at=datetime(2026, 11, 26, tzinfo=UTC), customer=InputCustomer(email=email),
    )  # fmt: skip


def test_groups_hold_whole_customers_in_email_order_and_each_customers_events_in_order():
    rng = random.Random(7)
    emails = [f"c{i:05d}@example.com" for i in range(900)]
    events = [event(n, rng.choice(emails)) for n in range(3 * GROUP_EVENTS + 17)]
    groups = customer_groups(events)
    assert len(groups) >= 3
    flat = [email for g in groups for email in g.emails]
    assert flat == sorted(set(flat)) == sorted({e.customer.email for e in events})  # each customer once, in order
    for g in groups[:-1]:
        assert GROUP_EVENTS <= len(g.events) < GROUP_EVENTS + 50  # closed at the first customer past the size
    for g in groups:
        assert {e.customer.email for e in g.events} == set(g.emails)
        for email in g.emails:
            mine = [e.event_id for e in events if e.customer.email == email]
            assert mine == [e.event_id for e in g.events if e.customer.email == email]  # offset order kept
    assert sorted(e.event_id for g in groups for e in g.events) == sorted(e.event_id for e in events)


def test_a_small_batch_is_one_group():
    groups = customer_groups([event(1, "b@example.com"), event(2, "a@example.com"), event(3, "b@example.com")])
    assert [(["a@example.com", "b@example.com"], ["e2", "e1", "e3"])] == [
        (g.emails, [e.event_id for e in g.events]) for g in groups
    ]
