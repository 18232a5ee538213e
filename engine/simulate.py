"""`flows simulate`: a flow run over events in memory, through the engine's own `Batch`.

The clock is the events' `occurred_at`: before each event, timers due by then fire (in time
order); after the last event the remaining timers fire too, so every path runs to its end.
A repeated event id is skipped, as the worker does.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.batch import Batch, CustomerState, FlowSet
from engine.model import Event, MembershipView
from engine.step import CompiledFlow, Step
from schemas.events import InputEvent
from schemas.flow import Flow

SIMULATED_VERSION = 1


@dataclass(frozen=True, slots=True)
class Traced:
    email: str
    trigger: str
    """The input event id, or "timer"."""
    at: datetime
    step: Step


def simulate(
    flow: Flow | Sequence[Flow],
    events: Iterable[InputEvent],
    members: Mapping[str, Iterable[str]],
    *,
    fire_remaining_timers: bool = True,
) -> list[Traced]:
    """Run the flows (all of one store) over that store's `events`; `members` maps segment -> emails."""
    together = [flow] if isinstance(flow, Flow) else list(flow)
    store_id = together[0].store_id
    flows = FlowSet()
    referenced: set[str] = set()
    for one in together:
        compiled = CompiledFlow.of(one, SIMULATED_VERSION)
        flows.add(compiled, "active", latest=True)
        referenced |= compiled.segments  # deploy guarantees they exist, so the simulator assumes it too
    view = MembershipView()
    for name in sorted(referenced | set(members)):
        view.create(name)
    for name, emails in members.items():
        for email in emails:
            view.add(email.strip().lower(), name)
    batch = Batch(store_id, flows, view)
    customers: dict[str, CustomerState] = {}
    seen: set[str] = set()
    trace: list[Traced] = []
    trace_trigger, trace_at = "", datetime.min

    timers: list[tuple[datetime, str, str]] = []  # (wake_at, run key, email): a heap, earliest first

    def record(email: str, step: Step) -> None:
        trace.append(Traced(email, trace_trigger, trace_at, step))
        if step.run.status == "waiting" and step.run.wake_at is not None:
            heapq.heappush(timers, (step.run.wake_at, step.run.key, email))

    def fire_timers(until: datetime | None) -> None:
        nonlocal trace_trigger, trace_at
        while timers and (until is None or timers[0][0] <= until):
            at, key, email = heapq.heappop(timers)
            trace_trigger, trace_at = "timer", at
            step = batch.on_timer(customers[email], key, at)  # None when the run moved on meanwhile
            if step is not None:
                record(email, step)

    for event in events:
        if event.store_id != store_id or event.event_id in seen:
            continue
        seen.add(event.event_id)
        fire_timers(event.occurred_at)
        customer = event.customer
        state = customers.setdefault(customer.email, CustomerState(customer.email, {"email": customer.email}))
        state.fields.update(customer.known_fields())
        driving = Event(event.event_id, event.type, event.occurred_at, event.data)
        trace_trigger, trace_at = event.event_id, event.occurred_at
        for step in batch.on_event(state, driving, event.occurred_at):
            record(state.email, step)
    if fire_remaining_timers:
        fire_timers(None)
    return trace
