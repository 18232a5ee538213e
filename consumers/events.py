"""Applying a poll's worth of input events in one transaction (SPEC §2, §5).

For each batch: fence the partitions' offsets, parse (bad messages become dead letters),
skip duplicates, lock the customers, load what the engine needs with a handful of set-based
queries per store, run the pure engine, and write every effect with the offsets. The caller
owns the transaction; nothing here commits.

The scheduler's wakes go through the same loading and writing (`wake`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError

from db import Conn, outbox
from db import customers as customer_rows
from db import events as event_rows
from db import flows as flow_rows
from db import offsets as offset_rows
from db import runs as run_rows
from db import segments as segment_rows
from db.customers import CustomerFields, LockedCustomer
from engine.batch import Batch, CustomerState, FlowSet, net_changes
from engine.model import Event, MembershipView
from engine.step import CompiledFlow
from schemas.events import InputEvent, describe
from schemas.flow import Flow

log = structlog.get_logger()

MAX_VALUE_BYTES = 1024 * 1024  # SPEC §2: a value over 1 MiB is dead-lettered
WRITE_EVERY = 500
"""Events per write round within a batch: small enough to overlap the engine with the writes,
large enough to keep each statement set-based."""
_CUSTOMER_FIELDS = ("external_id", "first_name", "last_name", "phone")
# Dead-letter wording for values that are not even a JSON object.
_NOT_AN_EVENT = {
    "not valid JSON": "the value is not JSON (UTF-8 encoded)",
    "not a JSON object": "the value is not a JSON object",
}


@dataclass(frozen=True, slots=True)
class Record:
    """What the worker needs of a Kafka record (kafka-python's ConsumerRecord has more)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: str

    def value(self, failed_at: datetime) -> bytes:
        """SPEC §2 dead-letter value: reason, source position, original bytes (base64), time."""
        document = {
            "reason": self.reason,
            "source": {"topic": self.record.topic, "partition": self.record.partition, "offset": self.record.offset},
            "original": base64.b64encode(self.record.value or b"").decode("ascii"),
            "failed_at": failed_at.isoformat(),
        }
        return json.dumps(document).encode()


@dataclass(slots=True)
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    stale: int = 0
    """Records before the stored offset: another owner applied them already."""
    dead: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    output_events: int = 0


def parse(record: Record) -> InputEvent | str:
    """The event, or the one-line reason it cannot be processed."""
    value = record.value
    if value is None:
        return "the message has no value"
    if len(value) > MAX_VALUE_BYTES:
        return f"the value is {len(value):,} bytes; the limit is {MAX_VALUE_BYTES:,} (1 MiB)"
    try:
        return InputEvent.model_validate_json(value)
    except ValidationError as exc:
        reason = describe(exc)
        return _NOT_AN_EVENT.get(reason, reason)


class FlowCache:
    """Compiled flow versions. Versions are immutable, so an entry never goes stale."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str, int], CompiledFlow] = {}

    def flows_for(self, conn: Conn, store_id: str, live_versions: Iterable[tuple[str, int]]) -> FlowSet:
        heads = flow_rows.heads(conn, store_id)
        wanted = {(fid, head.latest_version) for fid, head in heads.items()} | set(live_versions)
        missing = [w for w in wanted if (store_id, *w) not in self._compiled]
        for flow_id, version, definition in flow_rows.definitions(conn, store_id, missing):
            self._compiled[(store_id, flow_id, version)] = CompiledFlow.of(Flow.model_validate(definition), version)
        flows = FlowSet()
        for flow_id, version in wanted:
            head = heads.get(flow_id)
            latest = head is not None and head.latest_version == version
            flows.add(self._compiled[(store_id, flow_id, version)], head.status if head else "archived", latest)
        return flows


class Applier:
    """Loads, runs and writes batches; shared by the consumer loop and the scheduler."""

    def __init__(self, group_id: str, topic: str) -> None:
        self.group_id = group_id
        self.topic = topic
        self.flows = FlowCache()

    # --- input events ------------------------------------------------------------------------

    def apply(self, conn: Conn, records: Sequence[Record], now: datetime) -> BatchResult:
        result = BatchResult()
        partitions = sorted({r.partition for r in records})
        stored = offset_rows.lock(conn, self.group_id, self.topic, partitions)
        fresh = [r for r in records if r.offset >= stored.get(r.partition, 0)]
        result.stale = len(records) - len(fresh)
        for record in fresh:
            result.next_offsets[record.partition] = max(result.next_offsets.get(record.partition, 0), record.offset + 1)
        by_store: dict[str, list[tuple[Record, InputEvent]]] = {}
        for record in fresh:
            parsed = parse(record)
            if isinstance(parsed, str):
                result.dead.append(DeadLetter(record, parsed))
            else:
                by_store.setdefault(parsed.store_id, []).append((record, parsed))
        known = event_rows.existing_stores(conn, list(by_store)) if by_store else set()
        for store_id in sorted(by_store):
            items = by_store[store_id]
            if store_id not in known:
                result.dead.extend(DeadLetter(record, f"store {store_id} does not exist") for record, _ in items)
                continue
            with structlog.contextvars.bound_contextvars(store_id=store_id):
                self._apply_store(conn, store_id, items, now, result)
        offset_rows.save(conn, self.group_id, self.topic, result.next_offsets)
        return result

    def _apply_store(
        self, conn: Conn, store_id: str, items: list[tuple[Record, InputEvent]], now: datetime, result: BatchResult
    ) -> None:
        first_seen: dict[str, InputEvent] = {}
        for _record, event in items:
            first_seen.setdefault(event.event_id, event)
        claimed = event_rows.claim(conn, store_id, list(first_seen), now)
        events = [event for event_id, event in first_seen.items() if event_id in claimed]
        result.duplicates += len(items) - len(events)
        if not events:
            return
        customers = _lock_customers(conn, store_id, events)
        batch, states, segments = self._load(conn, store_id, customers)
        customer_ids = {c.email: c.id for c in customers}
        # Pipeline mode: PostgreSQL executes one chunk's writes while the engine works on the next.
        with conn.pipeline():
            for start in range(0, len(events), WRITE_EVERY):
                for event in events[start : start + WRITE_EVERY]:
                    state = states[event.customer.email]
                    state.fields.update(event.customer.known_fields())  # this event's own values, for its rules
                    batch.on_event(state, Event(event.event_id, event.type, event.occurred_at, event.data), now)
                result.output_events += self._write(conn, store_id, batch, segments, customer_ids)
        result.applied += len(events)

    # --- timers ------------------------------------------------------------------------------

    def wake(self, conn: Conn, store_id: str, due: dict[int, list[str]], now: datetime) -> int:
        """Wake the due runs (customer id -> run keys) whose customers are free; returns runs moved."""
        customers = customer_rows.lock_by_id_skip_locked(conn, store_id, list(due))
        if not customers:
            return 0
        batch, states, segments = self._load(conn, store_id, customers)
        moved = 0
        for customer in customers:
            for key in due[customer.id]:
                if batch.on_timer(states[customer.email], key, now) is not None:
                    moved += 1
        self._write(conn, store_id, batch, segments, {c.email: c.id for c in customers})
        return moved

    # --- shared ------------------------------------------------------------------------------

    def _load(
        self, conn: Conn, store_id: str, customers: list[LockedCustomer]
    ) -> tuple[Batch, dict[str, CustomerState], dict[str, tuple[int, str]]]:
        """The engine's batch for these customers, their states, and the store's segments by lower-cased name."""
        ids = [c.id for c in customers]
        emails = {c.id: c.email for c in customers}
        states = {c.email: CustomerState(c.email, _fields(c)) for c in customers}
        live = run_rows.live(conn, store_id, ids, emails)
        for customer_id, run in live:
            states[emails[customer_id]].runs.append(run)
        flows = self.flows.flows_for(conn, store_id, {(run.flow_id, run.flow_version) for _, run in live})
        once = [fid for fid, cf in flows.latest.items() if cf.flow.reentry == "once"]
        for customer_id, flow_id in run_rows.entered(conn, store_id, ids, once):
            states[emails[customer_id]].entered.add(flow_id)
        segments = segment_rows.ids_by_name(conn, store_id)
        view = MembershipView()
        for _segment_id, name in segments.values():
            view.create(name)
        for customer_id, name in segment_rows.memberships_of(conn, store_id, ids):
            view.add(emails[customer_id], name)
        return Batch(store_id, flows, view), states, segments

    def _write(
        self,
        conn: Conn,
        store_id: str,
        batch: Batch,
        segments: dict[str, tuple[int, str]],
        customer_ids: dict[str, int],
    ) -> int:
        """Write what the batch did since the last call, then forget it (so the next call writes only the rest).

        `segments` gains the segments the writes create.
        """
        changes = batch.changes()
        if changes:
            for change in changes:
                if change.segment.lower() not in segments:
                    segment_rows.insert(conn, store_id, change.segment, "flow")
                    segments.update(segment_rows.ids_by_name(conn, store_id))
            net = net_changes(changes)
            adds = [c for c in net if c.operation == "add"]
            removes = [c for c in net if c.operation == "remove"]
            segment_rows.add_many(
                conn,
                store_id,
                [(segments[c.segment.lower()][0], customer_ids[c.email], c.at, c.added_by) for c in adds],
            )
            segment_rows.remove_many(
                conn, store_id, [(segments[c.segment.lower()][0], customer_ids[c.email]) for c in removes]
            )
        run_rows.upsert(conn, store_id, batch.runs(), customer_ids)
        events = batch.events()
        outbox.enqueue(conn, store_id, events)
        for step in batch.steps:
            if step.run.status == "failed":
                run = step.run
                log.warning(
                    "run_failed", customer_id=customer_ids[run.email], flow_id=run.flow_id,
                    flow_version=run.flow_version, node_id=run.node_id, run=run.key, reason=run.reason,
                )  # fmt: skip
        batch.steps.clear()
        return len(events)


def _fields(customer: LockedCustomer) -> dict[str, Any]:
    fields: dict[str, Any] = {"email": customer.email}
    for name in _CUSTOMER_FIELDS:
        value = getattr(customer, name)
        if value is not None:
            fields[name] = value
    return fields


def _lock_customers(conn: Conn, store_id: str, events: list[InputEvent]) -> list[LockedCustomer]:
    """Lock (creating as needed) every customer of the events, and bring in the fields they carry.

    Fields follow the events in order: a later event's non-null field wins; null keeps what is there.
    """
    incoming: dict[str, dict[str, str]] = {}
    for event in events:
        incoming.setdefault(event.customer.email, {}).update(event.customer.known_fields())
    emails = sorted(incoming)
    locked = {c.email: c for c in customer_rows.lock_by_email(conn, store_id, emails)}
    missing = [e for e in emails if e not in locked]
    if missing:
        created = customer_rows.insert_new(conn, store_id, [CustomerFields(email=e, **incoming[e]) for e in missing])
        locked.update((c.email, c) for c in created)
        raced = [e for e in missing if e not in locked]  # inserted by another worker meanwhile
        if raced:
            locked.update((c.email, c) for c in customer_rows.lock_by_email(conn, store_id, raced))
    changed = []
    for email, fields in incoming.items():
        current = locked[email]
        updated = LockedCustomer(current.id, email, **{n: fields.get(n, getattr(current, n)) for n in _CUSTOMER_FIELDS})
        if updated != current:
            changed.append(updated)
            locked[email] = updated
    customer_rows.update_fields(conn, store_id, changed)
    return [locked[e] for e in emails]
