"""Applying a customer's events and timers across all of a store's flows (SPEC §4, §5).

`Batch` holds the in-memory state a batch needs (flows, each customer's live runs, the
membership view) and records every step, so one transaction can write them all. Used by the
worker (events and timers from Kafka and the scheduler) and by `flows simulate`, which is
how the simulator runs exactly the engine's code.

Per event, in order: waiting runs whose `until_event` this is resume first, then every
active flow triggered by the event type (and its `where`) starts a run if its re-entry rule
allows: `once` never again, `not_while_active` not while a run of the flow is live,
`always` every time. When a flow's trigger matched but it let the customer in not, the batch
records why (a `Refusal`): what `customers explain` needs to say why someone never was in a
flow. `journal` holds the steps and the refusals in the order they happened, for the journey.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine import step as steps
from engine.ids import run_key
from engine.model import Context, Emitted, Event, MembershipView, Run
from engine.step import CompiledFlow, MemberChange, Step
from nodes.condition import MissingSegment, why_false

VISITS = ""
"""The edge label under which `Batch.node_counts` counts a node's visits."""


@dataclass(slots=True)
class FlowSet:
    """A store's flows: the latest version of each by trigger, and every version runs are on."""

    latest: dict[str, CompiledFlow] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    versions: dict[tuple[str, int], CompiledFlow] = field(default_factory=dict)
    _triggered: dict[str, list[CompiledFlow]] = field(default_factory=dict)
    """Per event type, asked once per event: sorting the flows each time was a tenth of the engine."""

    def add(self, cf: CompiledFlow, status: str, latest: bool) -> None:
        self.versions[(cf.flow.id, cf.version)] = cf
        if latest:
            self.latest[cf.flow.id] = cf
            self.status[cf.flow.id] = status
        self._triggered.clear()

    def segment_names(self) -> set[str]:
        """The lower-cased names of the segments these versions refer to (SPEC §6: by name, in
        nodes and rules): all a batch of them can look up."""
        return {name.lower() for cf in self.versions.values() for name in cf.segments}

    def triggered_by(self, event_type: str) -> list[CompiledFlow]:
        """The latest versions whose trigger is this event type, paused and archived ones too
        (they let nobody in, and say so)."""
        flows = self._triggered.get(event_type)
        if flows is None:
            flows = self._triggered[event_type] = [
                cf for _flow_id, cf in sorted(self.latest.items()) if cf.flow.trigger.event == event_type
            ]
        return flows


@dataclass(frozen=True, slots=True)
class Refusal:
    """An event that matched a flow's trigger but let the customer in not, and why."""

    email: str
    flow_id: str
    flow_version: int
    event: Event
    reason: str


@dataclass(slots=True)
class CustomerState:
    email: str
    fields: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    """Live runs (active or waiting)."""
    entered: set[str] = field(default_factory=set)
    """Flows the customer has ever entered (for `reentry: once`)."""


@dataclass(slots=True)
class Batch:
    store_id: str
    flows: FlowSet
    members: MembershipView
    steps: list[Step] = field(default_factory=list)
    journal: list[Step | Refusal] = field(default_factory=list)
    """Steps and refusals in the order they happened (the writer empties it)."""

    def on_event(self, customer: CustomerState, event: Event, now: datetime) -> list[Step]:
        taken: list[Step] = []
        for run in list(customer.runs):
            if run.status == "waiting" and run.waiting_for == event.type:
                taken.append(self._resume(customer, run, event, now))
        for cf in self.flows.triggered_by(event.type):
            failure = None
            try:
                refused = self._refused(customer, cf, event, now)
            except MissingSegment as missing:  # the trigger cannot be judged: the run fails, visibly
                refused, failure = None, f"trigger: {missing}"
            if refused is not None:
                self.journal.append(Refusal(customer.email, cf.flow.id, cf.version, event, refused))
            else:
                key = run_key(self.store_id, cf.flow.id, customer.email, event.event_id)
                step = steps.enter(
                    self.store_id, cf, key, customer.email, customer.fields, event, self.members, now, failure
                )
                customer.entered.add(cf.flow.id)
                taken.append(self._record(customer, step))
        return taken

    def on_timer(self, customer: CustomerState, key: str, now: datetime) -> Step | None:
        """Wake the run `key` if it is still waiting and due; None if something else moved it."""
        run = next((r for r in customer.runs if r.key == key), None)
        if run is None or run.status != "waiting" or run.wake_at is None or run.wake_at > now:
            return None
        return self._resume(customer, run, None, now)

    def _resume(self, customer: CustomerState, run: Run, event: Event | None, now: datetime) -> Step:
        cf = self.flows.versions[(run.flow_id, run.flow_version)]
        if self.flows.status.get(run.flow_id) == "archived":
            cause = event.event_id if event is not None else f"archived:{run.key}"
            return self._record(customer, steps.end(self.store_id, cf, run, "flow archived", cause, now))
        step = steps.resume(self.store_id, cf, run, customer.fields, event, self.members, now)
        return self._record(customer, step)

    def on_backfill(self, customer: CustomerState, cf: CompiledFlow, operation_id: str, now: datetime) -> Step | str:
        """Enter the customer as if the flow's trigger fired now (`flows backfill`), honouring
        the flow's status and `reentry`; returns the step, or why not. There is no event, so the
        trigger's `where` is not asked: the segment chose the customers."""
        refused = self._closed(customer, cf)
        if refused is not None:
            return refused
        key = run_key(self.store_id, cf.flow.id, customer.email, operation_id)
        step = steps.backfill(self.store_id, cf, key, customer.email, customer.fields, operation_id, self.members, now)
        customer.entered.add(cf.flow.id)
        return self._record(customer, step)

    def _closed(self, customer: CustomerState, cf: CompiledFlow) -> str | None:
        """Why the flow lets this customer in not, whatever the event; None when it may."""
        flow = cf.flow
        status = self.flows.status.get(flow.id)
        if status != "active":
            return f"the flow was {status}"
        if flow.reentry == "once" and flow.id in customer.entered:
            return "reentry is once, and the customer had entered the flow before"
        if flow.reentry == "not_while_active" and any(r.flow_id == flow.id for r in customer.runs):
            return "reentry is not_while_active, and a run of the flow was still live"
        return None

    def _refused(self, customer: CustomerState, cf: CompiledFlow, event: Event, now: datetime) -> str | None:
        """Why the event does not start a run of the flow for this customer; None when it does."""
        flow = cf.flow
        closed = self._closed(customer, cf)
        if closed is not None or cf.where is None:
            return closed
        ctx = Context(
            store_id=self.store_id, flow_id=flow.id, email=customer.email, customer=customer.fields,
            event=event, members=self.members, now=now,
        )  # fmt: skip
        if cf.where(ctx):
            return None
        assert flow.trigger.where is not None
        return f"the trigger's where was false: {why_false(flow.trigger.where, ctx)}"

    def _record(self, customer: CustomerState, step: Step) -> Step:
        customer.runs = [r for r in customer.runs if r.key != step.run.key]
        if step.run.live:
            customer.runs.append(step.run)
        self.steps.append(step)
        self.journal.append(step)
        return step

    # --- what the batch did, for the writer -----------------------------------------------

    def runs(self) -> list[Run]:
        """Final state of every run the batch touched, once each."""
        final: dict[str, Run] = {}
        for step in self.steps:
            final[step.run.key] = step.run
        return list(final.values())

    def events(self) -> list[Emitted]:
        return [event for step in self.steps for event in step.events]

    def changes(self) -> list[MemberChange]:
        return [change for step in self.steps for change in step.changes]

    def node_counts(self) -> dict[tuple[str, int, str, str], int]:
        """(flow id, version, node id, edge label) -> how often: node visits under the label
        VISITS, edges by their label (`flows stats`)."""
        counts: dict[tuple[str, int, str, str], int] = {}
        for step in self.steps:
            flow_id, version = step.run.flow_id, step.run.flow_version
            for node_id in step.arrivals:
                key = (flow_id, version, node_id, VISITS)
                counts[key] = counts.get(key, 0) + 1
            for node_id, edge in step.edges:
                key = (flow_id, version, node_id, edge)
                counts[key] = counts.get(key, 0) + 1
        return counts


def net_changes(changes: Iterable[MemberChange]) -> list[MemberChange]:
    """Collapse ordered changes to one write per (customer, segment).

    Every recorded change was real against the view, so the first says what the row was before
    the batch and the last what it must be after: equal operations need one write, an add
    undone by a remove (or the reverse) needs none.
    """
    first: dict[tuple[str, str], MemberChange] = {}
    last: dict[tuple[str, str], MemberChange] = {}
    for change in changes:
        pair = (change.email, change.segment.lower())
        first.setdefault(pair, change)
        last[pair] = change
    return [change for pair, change in last.items() if first[pair].operation == change.operation]
