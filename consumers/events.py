"""Applying a poll's worth of input events in one transaction (SPEC §2, §5).

For each batch: fence the partitions' offsets (a batch must have been fetched from the offset
stored for each partition: `OffsetGap` otherwise), parse (bad messages become dead letters), then
per store and per group of customers (`customer_groups`): skip duplicates, lock the customers,
load what the engine needs with a handful of set-based queries, run the pure engine, and write
every effect, and finally the offsets. The groups' statements are pipelined so PostgreSQL works
on the groups around the one the engine is computing. The caller owns the transaction; nothing
here commits.

`Applier` owns what is particular to consumer batches (offsets, claims, customer locks);
`StoreWork` loads, runs and writes, for batches and for the scheduler's wakes and backfills alike.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from db import Conn, Pending, journey, outbox
from db import customers as customer_rows
from db import events as event_rows
from db import flows as flow_rows
from db import offsets as offset_rows
from db import runs as run_rows
from db import segments as segment_rows
from db.customers import CustomerFields, LockedCustomer
from engine.batch import Batch, CustomerState, FlowSet, net_changes
from engine.ids import run_key
from engine.model import Event, MembershipView, Run
from engine.step import CompiledFlow, Step
from schemas.events import DeadLetterRecord, DeadLetterSource, InputEvent, check_value, unknown_store
from schemas.flow import deployed_flow

log = structlog.get_logger()

GROUP_EVENTS = 500
"""Events per group of a batch: small enough that PostgreSQL's reads and writes for the groups
around one overlap the engine's work on it, large enough to keep each statement set-based."""
_CUSTOMER_FIELDS = ("external_id", "first_name", "last_name", "phone")


@dataclass(slots=True)
class Record:
    """What the worker needs of a Kafka record (kafka-python's ConsumerRecord has more)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


MAX_DEAD_KEY_BYTES = 16 * 1024
"""Keys are `<store_id>:<email>`; a dead letter keeps at most this much of one (and its size and hash)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: str

    def key(self) -> bytes | None:
        """The original key (SPEC §2), cut to MAX_DEAD_KEY_BYTES."""
        key = self.record.key
        return key if key is None else key[:MAX_DEAD_KEY_BYTES]

    def value(self, failed_at: datetime, max_original: int) -> bytes:
        """SPEC §2 dead-letter value: reason, source position, original bytes (base64), time.

        The original is kept up to `max_original` bytes, so a dead letter always fits on the topic
        however large the message was; `original_size` and `original_sha256` describe all of it.
        """
        original = self.record.value or b""
        key = self.record.key
        cut = key if key is not None and len(key) > MAX_DEAD_KEY_BYTES else None
        letter = DeadLetterRecord(
            reason=self.reason,
            source=DeadLetterSource(
                topic=self.record.topic, partition=self.record.partition, offset=self.record.offset
            ),
            original=base64.b64encode(original[:max_original]).decode("ascii"),
            original_size=len(original),
            original_sha256=hashlib.sha256(original).hexdigest(),
            original_truncated=len(original) > max_original,
            failed_at=failed_at,
            key_size=len(cut) if cut is not None else None,
            key_sha256=hashlib.sha256(cut).hexdigest() if cut is not None else None,
        )
        return letter.wire()


class OffsetGap(Exception):
    """A batch was not fetched from its partition's stored offset: applying it would skip records
    that were never applied. Nothing is written; the worker seeks back to the stored offsets."""

    def __init__(self, partition: int, stored: int | None, fetched_from: int | None) -> None:
        super().__init__(f"partition {partition} was read from offset {fetched_from}; its stored offset is {stored}")
        self.partition = partition
        self.stored = stored
        self.fetched_from = fetched_from


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
    """The event, or the one-line reason it cannot be processed (schemas.events.check_value)."""
    return check_value(record.value)


class FlowCache:
    """Compiled flow versions. Versions are immutable, so an entry never goes stale."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str, int], CompiledFlow] = {}

    def latest(self, conn: Conn, store_id: str) -> FlowSet:
        """The store's flows at their latest versions (older ones come in with `add_versions`)."""
        heads = flow_rows.heads(conn, store_id)
        self._compile(conn, store_id, [(flow_id, head.latest_version) for flow_id, head in heads.items()])
        flows = FlowSet()
        for flow_id, head in heads.items():
            flows.add(self._compiled[(store_id, flow_id, head.latest_version)], head.status, latest=True)
        return flows

    def add_versions(self, conn: Conn, store_id: str, flows: FlowSet, versions: Iterable[tuple[str, int]]) -> None:
        """Bring in the versions live runs are on that `flows` lacks: older than the latest."""
        missing = [version for version in set(versions) if version not in flows.versions]
        self._compile(conn, store_id, missing)
        for flow_id, version in missing:
            flows.add(self._compiled[(store_id, flow_id, version)], "", latest=False)

    def _compile(self, conn: Conn, store_id: str, versions: list[tuple[str, int]]) -> None:
        wanted = [v for v in versions if (store_id, *v) not in self._compiled]
        if wanted:
            for flow_id, version, definition in flow_rows.definitions(conn, store_id, wanted):
                self._compiled[(store_id, flow_id, version)] = CompiledFlow.of(deployed_flow(definition), version)


@dataclass(slots=True)
class CustomerGroup:
    """Customers of one email range with their events, in offset order."""

    emails: list[str] = field(default_factory=list)
    events: list[InputEvent] = field(default_factory=list)


@dataclass(slots=True)
class _Loads:
    """What the engine needs of a group's customers, sent and not yet read."""

    emails: dict[int, str]
    """Customer id -> email, for reading the results."""
    live: Pending[list[Run]]
    entered: Pending[list[tuple[int, str]]] | None
    memberships: Pending[list[tuple[int, str]]]


@dataclass(slots=True)
class _Locks:
    """A group's claim and customer lock, sent and not yet read."""

    events: list[InputEvent]
    claim: Pending[set[str]]
    lock: Pending[list[LockedCustomer]]


@dataclass(slots=True)
class _Locked:
    """A group whose events are claimed and whose customers are locked: the events to apply and
    their customers' states, still without their runs and memberships."""

    events: list[InputEvent]
    states: dict[str, CustomerState]


@dataclass(slots=True)
class _Store:
    """One store's part of a batch: the engine's batch and what writing it needs."""

    batch: Batch
    segments: dict[str, tuple[int, str]]
    """Lower-cased name -> (id, name); gains the segments the writes create."""
    once: list[str]
    """Flows with `reentry: once`, whose past runs the engine must know of."""
    asked: set[str] = field(default_factory=set)
    """Lower-cased segment names looked up so far (found or not)."""
    customer_ids: dict[str, int] = field(default_factory=dict)
    live_keys: set[str] = field(default_factory=set)
    """Runs in live_runs now: loaded, or written live by this transaction."""


class Applier:
    """Applies the consumer's batches: each fenced by its partitions' stored offsets, its events
    claimed once and their customers locked, the engine run and its effects written (`StoreWork`)
    with the offsets, in the caller's transaction."""

    def __init__(self, group_id: str, topic: str, dedup_width: timedelta) -> None:
        self.group_id = group_id
        self.topic = topic
        self.dedup_width = dedup_width
        """Of processed_events' partitions: the buckets event ids are claimed in (db.events.claim)."""
        self.work = StoreWork()
        """Loading, running and writing, shared with the scheduler's wakes."""

    # --- input events ------------------------------------------------------------------------

    def apply(
        self, conn: Conn, records: Sequence[Record], now: datetime, fetched_from: Mapping[int, int]
    ) -> BatchResult:
        """Apply records the consumer read from `fetched_from` (partition -> offset) onwards."""
        result = BatchResult()
        fresh = self._fence(conn, records, fetched_from, result)
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
                result.dead.extend(DeadLetter(record, unknown_store(store_id)) for record, _ in items)
                continue
            with structlog.contextvars.bound_contextvars(store_id=store_id):
                self._apply_store(conn, store_id, items, now, result)
        offset_rows.save(conn, self.group_id, self.topic, result.next_offsets)
        return result

    def dead_letter(self, conn: Conn, record: Record, reason: str, fetched_from: Mapping[int, int]) -> BatchResult:
        """Give up on one record: it becomes a dead letter and its offset is passed, fenced like a batch."""
        result = BatchResult()
        if self._fence(conn, [record], fetched_from, result):
            result.dead.append(DeadLetter(record, reason))
            result.next_offsets[record.partition] = record.offset + 1
            offset_rows.save(conn, self.group_id, self.topic, result.next_offsets)
        return result

    def _fence(
        self, conn: Conn, records: Sequence[Record], fetched_from: Mapping[int, int], result: BatchResult
    ) -> list[Record]:
        """Lock the partitions' stored offsets until commit and return the records at or after them.

        Records before a stored offset were applied already (by a previous owner of the partition:
        this member is a zombie, or read them again) and are counted as stale. A partition read
        from after its stored offset would leave a gap: `OffsetGap`.
        """
        partitions = sorted({r.partition for r in records})
        stored = offset_rows.lock(conn, self.group_id, self.topic, partitions)
        for partition in partitions:
            start = fetched_from.get(partition)
            if partition not in stored or start is None or start > stored[partition]:
                raise OffsetGap(partition, stored.get(partition), start)
        fresh = [r for r in records if r.offset >= stored[r.partition]]
        result.stale += len(records) - len(fresh)
        return fresh

    def _apply_store(
        self, conn: Conn, store_id: str, items: list[tuple[Record, InputEvent]], now: datetime, result: BatchResult
    ) -> None:
        first_seen: dict[str, InputEvent] = {}
        for _record, event in items:
            first_seen.setdefault(event.event_id, event)
        store = self.work.begin(conn, store_id)
        groups = customer_groups(first_seen.values())
        applied = 0
        # Pipeline mode, and the order of what is sent when, keep PostgreSQL busy while the engine
        # computes group k: meanwhile it writes group k-1, loads group k+1's runs and memberships
        # and claims and locks group k+2 (the loads need the ids the lock returns). Reading a
        # result waits for everything sent before it, so each round is sent only after the
        # previous round's results are read.
        with conn.pipeline():
            upcoming = self._lock(conn, store, store_id, self._send_locks(conn, store_id, groups[0], now))
            loads = self.work.send_loads(conn, store, store_id, upcoming.states)
            locks = self._send_locks(conn, store_id, groups[1], now) if len(groups) > 1 else None
            for index in range(len(groups)):
                current = upcoming
                self.work.take_loads(conn, store, store_id, loads, current.states)
                if locks is not None:
                    upcoming = self._lock(conn, store, store_id, locks)
                if index:
                    result.output_events += self.work.write(conn, store_id, store, now)
                locks = None
                if index + 1 < len(groups):
                    loads = self.work.send_loads(conn, store, store_id, upcoming.states)
                    if index + 2 < len(groups):
                        locks = self._send_locks(conn, store_id, groups[index + 2], now)
                for event in current.events:
                    state = current.states[event.customer.email]
                    state.fields.update(event.customer.known_fields())  # this event's own values, for its rules
                    store.batch.on_event(state, Event(event.event_id, event.type, event.occurred_at, event.data), now)
                applied += len(current.events)
            result.output_events += self.work.write(conn, store_id, store, now)
        result.applied += applied
        result.duplicates += len(items) - applied

    def _send_locks(self, conn: Conn, store_id: str, group: CustomerGroup, now: datetime) -> _Locks:
        return _Locks(
            events=group.events,
            claim=event_rows.claim(conn, store_id, [event.event_id for event in group.events], self.dedup_width),
            lock=customer_rows.lock_by_email(conn, store_id, group.emails),
        )

    def _lock(self, conn: Conn, store: _Store, store_id: str, locks: _Locks) -> _Locked:
        """The group's claimed events, and their customers' states: created as needed, with the fields
        the events bring written back. Fields follow the events in order: a later event's non-null
        field wins; null keeps what is there."""
        claimed = locks.claim.result()
        locked = {c.email: c for c in locks.lock.result()}
        events = [event for event in locks.events if event.event_id in claimed]
        incoming: dict[str, dict[str, str]] = {}
        for event in events:
            incoming.setdefault(event.customer.email, {}).update(event.customer.known_fields())
        missing = sorted(e for e in incoming if e not in locked)
        if missing:
            fields = [CustomerFields(email=e, **incoming[e]) for e in missing]
            locked.update((c.email, c) for c in customer_rows.insert_new(conn, store_id, fields))
            raced = [e for e in missing if e not in locked]  # inserted by another worker meanwhile
            if raced:
                locked.update((c.email, c) for c in customer_rows.lock_by_email(conn, store_id, raced).result())
        changed = []
        for email, fields_in in incoming.items():
            current = locked[email]
            if any(getattr(current, name) != value for name, value in fields_in.items()):
                updated = LockedCustomer(
                    current.id, email, **{n: fields_in.get(n, getattr(current, n)) for n in _CUSTOMER_FIELDS}
                )
                changed.append(updated)
                locked[email] = updated
        customer_rows.update_fields(conn, store_id, changed)
        store.customer_ids.update((email, locked[email].id) for email in incoming)
        return _Locked(events, {email: CustomerState(email, _fields(locked[email])) for email in incoming})


class StoreWork:
    """Loads what the engine needs of a store's customers (their live runs, past flows and
    memberships), runs it, and writes what it did: for the consumer's batches (`Applier`), the
    scheduler's wakes and backfills. Keeps the compiled flow versions between calls."""

    def __init__(self) -> None:
        self.flows = FlowCache()

    # --- timers ------------------------------------------------------------------------------

    def wake(self, conn: Conn, store_id: str, due: dict[int, list[str]], now: datetime) -> int:
        """Wake the due runs (customer id -> run keys) whose customers are free; returns runs moved."""
        customers = customer_rows.lock_by_id_skip_locked(conn, store_id, list(due))
        if not customers:
            return 0
        store = self.begin(conn, store_id)
        states = {c.email: CustomerState(c.email, _fields(c)) for c in customers}
        store.customer_ids.update((c.email, c.id) for c in customers)
        self.take_loads(conn, store, store_id, self.send_loads(conn, store, store_id, states), states)
        moved = 0
        for customer in customers:
            for key in due[customer.id]:
                if store.batch.on_timer(states[customer.email], key, now) is not None:
                    moved += 1
        self.write(conn, store_id, store, now)
        return moved

    # --- backfill ----------------------------------------------------------------------------

    def backfill(
        self, conn: Conn, store_id: str, flow_id: str, emails: Sequence[str], operation_id: str, now: datetime
    ) -> int:
        """Enter these customers (a page of a segment's members) into the flow as if its trigger
        fired now; returns how many entered. Those a run of this backfill already has are left."""
        customers = customer_rows.lock_by_email(conn, store_id, emails).result()
        store = self.begin(conn, store_id)
        cf = store.batch.flows.latest[flow_id]
        keys = {c.email: run_key(store_id, flow_id, c.email, operation_id) for c in customers}
        done = run_rows.existing_keys(conn, store_id, flow_id, {c.id: keys[c.email] for c in customers})
        customers = [c for c in customers if keys[c.email] not in done]
        states = {c.email: CustomerState(c.email, _fields(c)) for c in customers}
        store.customer_ids.update((c.email, c.id) for c in customers)
        self.take_loads(conn, store, store_id, self.send_loads(conn, store, store_id, states), states)
        entered = sum(
            isinstance(store.batch.on_backfill(states[c.email], cf, operation_id, now), Step) for c in customers
        )
        self.write(conn, store_id, store, now)
        return entered

    # --- shared ------------------------------------------------------------------------------

    def begin(self, conn: Conn, store_id: str) -> _Store:
        """A store's part of a batch: its flows at their latest versions and the segments they name."""
        flows = self.flows.latest(conn, store_id)
        once = [flow_id for flow_id, cf in flows.latest.items() if cf.flow.reentry == "once"]
        store = _Store(Batch(store_id, flows, MembershipView()), {}, once)
        self._know_segments(conn, store, store_id)
        return store

    def _know_segments(self, conn: Conn, store: _Store, store_id: str) -> None:
        """Look up the segments the batch's flows refer to that it does not know yet: by name,
        not the store's every segment, which a store with thousands of them would pay per batch."""
        wanted = store.batch.flows.segment_names() - store.asked
        if wanted:
            store.asked |= wanted
            found = segment_rows.named(conn, store_id, wanted)
            store.segments.update(found)
            for _segment_id, name in found.values():
                store.batch.members.create(name)

    def send_loads(self, conn: Conn, store: _Store, store_id: str, states: dict[str, CustomerState]) -> _Loads:
        emails = {store.customer_ids[email]: email for email in states}
        return _Loads(
            emails=emails,
            live=run_rows.live(conn, store_id, emails),
            entered=run_rows.entered(conn, store_id, list(emails), store.once) if store.once else None,
            memberships=segment_rows.memberships_of(conn, store_id, list(emails)),
        )

    def take_loads(
        self, conn: Conn, store: _Store, store_id: str, loads: _Loads, states: dict[str, CustomerState]
    ) -> None:
        """Give the states their live runs, past flows and memberships."""
        runs = loads.live.result()
        entered = loads.entered.result() if loads.entered is not None else []
        memberships = loads.memberships.result()
        self.flows.add_versions(conn, store_id, store.batch.flows, {(run.flow_id, run.flow_version) for run in runs})
        self._know_segments(conn, store, store_id)  # older versions may refer to others
        for run in runs:
            states[run.email].runs.append(run)
            store.live_keys.add(run.key)
        for customer_id, flow_id in entered:
            states[loads.emails[customer_id]].entered.add(flow_id)
        for customer_id, name in memberships:
            store.batch.members.add(loads.emails[customer_id], name)

    def write(self, conn: Conn, store_id: str, store: _Store, now: datetime) -> int:
        """Write what the batch did since the last call, then forget it (so the next call writes only the rest)."""
        batch, segments, customer_ids = store.batch, store.segments, store.customer_ids
        # The outbox row first: its parameters are the big ones, and in pipeline mode a statement
        # waits to be sent until PostgreSQL has read the one before. Sent first, PostgreSQL reads
        # it at once instead of after executing the others.
        events = batch.events()
        outbox.enqueue(conn, store_id, events)
        changes = batch.changes()
        if changes:
            for change in changes:
                if change.segment.lower() not in segments:
                    segment_rows.insert(conn, store_id, change.segment, "flow")
                    segments.update(segment_rows.named(conn, store_id, [change.segment]))
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
        runs = batch.runs()
        run_rows.write(conn, store_id, runs, customer_ids, store.live_keys)
        store.live_keys.update(run.key for run in runs if run.live)
        journey.record_journal(conn, store_id, now, batch.journal, customer_ids)
        batch.journal.clear()
        counts = batch.node_counts()
        for run in runs:
            if not run.live:  # finished runs by status (flows stats), kept after the runs are pruned
                key = (run.flow_id, run.flow_version, flow_rows.FINISHED_NODE, run.status)
                counts[key] = counts.get(key, 0) + 1
        flow_rows.add_counts(conn, store_id, counts)
        for step in batch.steps:
            if step.run.status == "failed":
                run = step.run
                log.warning(
                    "run_failed", customer_id=customer_ids[run.email], flow_id=run.flow_id,
                    flow_version=run.flow_version, node_id=run.node_id, run=run.key, reason=run.reason,
                )  # fmt: skip
        batch.steps.clear()
        return len(events)


def customer_groups(events: Iterable[InputEvent]) -> list[CustomerGroup]:
    """The events split by customer email range into groups of about GROUP_EVENTS events, in email
    order (the order customers are locked in by every writer), each customer's in offset order."""
    by_email: dict[str, list[InputEvent]] = {}
    for event in events:
        by_email.setdefault(event.customer.email, []).append(event)
    groups = [CustomerGroup()]
    for email in sorted(by_email):
        if len(groups[-1].events) >= GROUP_EVENTS:
            groups.append(CustomerGroup())
        groups[-1].emails.append(email)
        groups[-1].events.extend(by_email[email])
    return groups


def _fields(customer: LockedCustomer) -> dict[str, Any]:
    fields: dict[str, Any] = {"email": customer.email}
    for name in _CUSTOMER_FIELDS:
        value = getattr(customer, name)
        if value is not None:
            fields[name] = value
    return fields
