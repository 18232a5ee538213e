"""Flows service: store-aware checks, versioned deploys and status changes (SPEC §1, §4).

A deploy stores an immutable version; the next deploy of changed content is N+1 and an
identical one (same canonical JSON) is a no-op. Runs stay on the version they entered.
Several files deploy in one transaction: all of them or none.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import psycopg

from consumers.events import StoreWork
from db import Conn, journey, outbox
from db import flows as flow_rows
from db import runs as run_rows
from db import segments as segment_rows
from db import stores as store_rows
from db.flows import FlowSummary, FlowVersionRow
from engine.batch import VISITS
from engine.diff import Change, diff
from engine.graph import NodeCounts
from engine.model import Run
from engine.refs import segment_references
from engine.step import archived
from engine.validate import FlowError, validate
from nodes import REGISTRY
from schemas.flow import Flow, deployed_flow
from schemas.reports import DiffOut
from segflow.errors import InvalidInput, NotFound
from segflow.services import stores
from segflow.services.segments import SEGMENT_PLANS

StatusChange = Literal["pause", "resume", "archive"]
STATUS_CHANGES: tuple[StatusChange, ...] = ("pause", "resume", "archive")
_NEW_STATUS = {"pause": "paused", "resume": "active", "archive": "archived"}


@dataclass(frozen=True, slots=True)
class Deployed:
    id: str
    store_id: str
    version: int
    created: bool
    segments_created: list[str]
    """Segments its create_if_missing Segment nodes created."""


def content_hash(raw: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): whitespace and key order are not changes."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def store_errors(conn: Conn, flow: Flow) -> list[FlowError]:
    """SPEC §4 store-aware rules: the store exists, its plan allows segments, segments exist.
    Deploy and resume run them; `flows validate --store` lists them."""
    store = store_rows.get(conn, flow.store_id)
    if store is None:
        return [FlowError(None, f"store {flow.store_id} does not exist")]
    refs = segment_references(flow)
    if refs and store.plan not in SEGMENT_PLANS:
        plan = store.plan
        message = f"uses segments, which are available to Pro or Custom plans; store {flow.store_id} is on {plan}"
        return [FlowError(node_id, message) for node_id in dict.fromkeys(ref.node for ref in refs)]
    created = {ref.segment.lower() for ref in refs if ref.created_if_missing}
    errors: list[FlowError] = []
    for ref in refs:
        if ref.segment.lower() not in created and segment_rows.get(conn, flow.store_id, ref.segment) is None:
            errors.append(FlowError(ref.node, f'segment "{ref.segment}" does not exist in store {flow.store_id}'))
    return errors


def refuse_store_errors(conn: Conn, flow: Flow, doing: str) -> None:
    """InvalidInput naming every store-aware problem (deploy, resume)."""
    errors = store_errors(conn, flow)
    if errors:
        lines = [f"flow {flow.id}: {'node ' + e.node if e.node else 'flow'}: {e.message}" for e in errors]
        raise InvalidInput(
            lines[0] if len(errors) == 1 else f"flow {flow.id} cannot be {doing}: {len(errors)} problems",
            lines=lines if len(errors) > 1 else (),
            data={"errors": [{"node": e.node, "message": e.message} for e in errors]},
        )


def deploy(conn: Conn, flows: list[tuple[Any, Flow]], dry_run: bool = False) -> list[Deployed]:
    """Deploy (raw definition, validated flow) pairs atomically; raises InvalidInput on store
    errors. A dry run deploys and rolls back: what it would create, nothing written."""
    results: list[Deployed] = []
    seen: set[tuple[str, str]] = set()
    with conn.transaction():
        for raw, flow in flows:
            if (flow.store_id, flow.id) in seen:
                raise InvalidInput(f"flow {flow.id} of store {flow.store_id} is given twice")
            seen.add((flow.store_id, flow.id))
            refuse_store_errors(conn, flow, "deployed")
            results.append(_deploy_one(conn, raw, flow))
        if dry_run:
            raise psycopg.Rollback()
    return results


def _deploy_one(conn: Conn, raw: Any, flow: Flow) -> Deployed:
    head = flow_rows.lock(conn, flow.store_id, flow.id)
    if head is None:
        flow_rows.insert(conn, flow.store_id, flow.id)
        latest = 0
    else:
        latest = head.latest_version
    digest = content_hash(raw)
    if latest and flow_rows.content_hash(conn, flow.store_id, flow.id, latest) == digest:
        return Deployed(flow.id, flow.store_id, latest, created=False, segments_created=[])
    created = []
    for ref in segment_references(flow):
        if ref.created_if_missing and segment_rows.insert(conn, flow.store_id, ref.segment, "flow") is not None:
            created.append(ref.segment)  # None: it existed
    flow_rows.insert_version(conn, flow.store_id, flow.id, latest + 1, raw, digest)
    return Deployed(flow.id, flow.store_id, latest + 1, created=True, segments_created=created)


@dataclass(frozen=True, slots=True)
class RefusedVersion:
    """A deployed version today's rules would refuse. It keeps running as deployed (SPEC §5)."""

    store_id: str
    flow_id: str
    version: int
    errors: list[FlowError]

    @property
    def why(self) -> str:
        return "; ".join(f"node {e.node}: {e.message}" if e.node else e.message for e in self.errors)

    def __str__(self) -> str:
        return f"{self.flow_id}@{self.version}: {self.why}"


def refused_versions(conn: Conn, store_id: str) -> list[RefusedVersion]:
    """The store's deployed versions that `flows validate` would refuse today."""
    stores.require(conn, store_id)
    refused = []
    for flow_id, version, definition in flow_rows.stored_versions(conn, store_id):
        _flow, errors = validate(definition)
        if errors:
            refused.append(RefusedVersion(store_id, flow_id, version, errors))
    return refused


def refused_in_every_store(conn: Conn) -> list[RefusedVersion]:
    """`refused_versions` of every store, store by store (`db migrate` lists them)."""
    return [version for store in store_rows.list_all(conn) for version in refused_versions(conn, store.id)]


def list_all(conn: Conn, store_id: str) -> list[FlowSummary]:
    stores.require(conn, store_id)
    return flow_rows.list_all(conn, store_id)


def show(conn: Conn, store_id: str, flow_id: str, version: int | None) -> FlowVersionRow:
    stores.require(conn, store_id)
    row = flow_rows.get_version(conn, store_id, flow_id, version)
    if row is None:
        what = f"flow {flow_id}" if version is None else f"version {version} of flow {flow_id}"
        raise NotFound(f"{what} not found in store {store_id}")
    return row


@dataclass(frozen=True, slots=True)
class VersionRuns:
    """A deployed version and its runs by status (live and finished), for the console."""

    version: int
    created_at: datetime
    runs: dict[str, int]

    @property
    def live(self) -> int:
        return sum(n for status, n in self.runs.items() if status in LIVE)

    @property
    def total(self) -> int:
        return sum(self.runs.values())


def versions(conn: Conn, store_id: str, flow_id: str) -> list[VersionRuns]:
    """Every deployed version of the flow, newest first, each with its runs."""
    stores.require(conn, store_id)
    runs = flow_rows.version_runs(conn, store_id, flow_id)
    return [
        VersionRuns(v.version, v.created_at, runs.get(v.version, {}))
        for v in flow_rows.versions(conn, store_id, flow_id)
    ]


def change_status(conn: Conn, store_id: str, flow_id: str, change: StatusChange) -> tuple[str, int]:
    """Returns (new status, runs exited). Archiving exits in-flight runs with flow.exited."""
    stores.require(conn, store_id)
    now = datetime.now(UTC)
    with conn.transaction():
        head = flow_rows.lock(conn, store_id, flow_id)
        if head is None:
            raise NotFound(f"flow {flow_id} not found in store {store_id}")
        status = _NEW_STATUS[change]
        if change == "resume":  # what deploy refuses, resume refuses: a segment deleted since, a new plan
            latest = flow_rows.get_version(conn, store_id, flow_id, None)
            assert latest is not None
            refuse_store_errors(conn, deployed_flow(latest.definition), "resumed")
        flow_rows.set_flow_status(conn, store_id, [flow_id], status)
        exited = 0
        if change == "archive":
            operation_id = str(uuid.uuid4())
            ended = flow_rows.exit_live_runs(conn, store_id, flow_id, now)
            events = [
                archived(
                    store_id, flow_id, r.flow_version,
                    Run(r.key, flow_id, r.flow_version, r.email, r.node_id, "exited", r.entered_at, now),
                    operation_id, now,
                )
                for r in ended
            ]  # fmt: skip
            outbox.enqueue(conn, store_id, events)
            steps: dict[int, list[tuple[Any, ...]]] = {}
            for r in ended:
                steps.setdefault(r.customer_id, []).append(
                    journey.entry(
                        "archive",
                        flow_id=flow_id,
                        version=r.flow_version,
                        status="exited",
                        node_id=r.node_id,
                        reason="flow archived",
                        effects=[("flow.exited", r.node_id, {"reason": "flow archived"})],
                    )
                )
            journey.record(conn, store_id, now, steps)
            exited = len(ended)
    return status, exited


LIVE = ("active", "waiting")
RUN_STATUSES = ("active", "waiting", "completed", "exited", "failed")


@dataclass(frozen=True, slots=True)
class NodeStats(NodeCounts):
    id: str
    type: str


@dataclass(frozen=True, slots=True)
class FlowStats:
    flow_id: str
    version: int
    runs: dict[str, int]
    nodes: list[NodeStats]


def stats(conn: Conn, store_id: str, flow_id: str, version: int | None) -> tuple[Flow, FlowStats]:
    """A deployed version (default: the latest) and what its runs did (SPEC §9)."""
    return stats_of(conn, store_id, show(conn, store_id, flow_id, version))


def stats_of(conn: Conn, store_id: str, row: FlowVersionRow) -> tuple[Flow, FlowStats]:
    """`stats` of a version already read."""
    flow_id = row.id
    flow = deployed_flow(row.definition)
    runs = dict.fromkeys(RUN_STATUSES, 0)
    waiting: dict[str, int] = {}
    for status, node_id, n in flow_rows.run_counts(conn, store_id, flow_id, row.version):
        runs[status] = runs.get(status, 0) + n
        if status == "waiting" and node_id is not None:
            waiting[node_id] = waiting.get(node_id, 0) + n
    counts = flow_rows.node_counts(conn, store_id, flow_id, row.version)
    for (node_id, status), n in counts.items():
        if node_id == flow_rows.FINISHED_NODE:
            runs[status] = runs.get(status, 0) + n
    nodes = [
        NodeStats(
            id=node.id, type=node.type, visits=counts.get((node.id, VISITS), 0), waiting=waiting.get(node.id, 0),
            edges={e.label: counts.get((node.id, e.label), 0) for e in REGISTRY[node.type].successors(node)},
        )
        for node in flow.nodes
    ]  # fmt: skip
    return flow, FlowStats(flow_id, row.version, runs, nodes)


@dataclass(frozen=True, slots=True)
class FlowDiff:
    flow_id: str
    from_version: int
    to_version: int | None
    """None when the newer side is a file, not yet deployed."""
    changes: list[Change]
    runs_on_removed_nodes: int
    """Live runs of the older version at nodes the newer one removes."""


def diff_versions(conn: Conn, store_id: str, flow_id: str, old: int, new: int | None) -> FlowDiff:
    """Two deployed versions (`new` None: the latest)."""
    return diff_to(conn, store_id, old, show(conn, store_id, flow_id, new))


def diff_to(conn: Conn, store_id: str, old: int, newer: FlowVersionRow) -> FlowDiff:
    """Version `old` of a flow against a version of it already read."""
    older = show(conn, store_id, newer.id, old)
    return _diff(conn, store_id, older, deployed_flow(newer.definition), newer.version)


def diff_file(conn: Conn, flow: Flow) -> FlowDiff:
    """A flow file against the latest deployed version of the same flow."""
    latest = show(conn, flow.store_id, flow.id, None)
    return _diff(conn, flow.store_id, latest, flow, None)


def diff_report(found: FlowDiff, file: str | None = None) -> DiffOut:
    """The `flows diff --json` document (and the console's)."""
    return DiffOut.model_validate(
        {
            "from": {"id": found.flow_id, "version": found.from_version},
            "to": {"id": found.flow_id, "version": found.to_version, "file": file},
            "changes": [{"node": c.node, "change": c.change, "fields": c.fields} for c in found.changes],
            "runs_on_removed_nodes": found.runs_on_removed_nodes,
        }
    )


def _diff(conn: Conn, store_id: str, older: FlowVersionRow, newer: Flow, new_version: int | None) -> FlowDiff:
    changes = diff(deployed_flow(older.definition), newer)
    removed = {c.node for c in changes if c.change == "removed"}
    stranded = sum(
        n
        for status, node_id, n in flow_rows.run_counts(conn, store_id, older.id, older.version)
        if status in LIVE and node_id in removed
    )
    return FlowDiff(older.id, older.version, new_version, changes, stranded)


BACKFILL_PAGE = 1_000
"""Members entered per transaction: a 100,000-member segment is 100 short transactions, each
locking only its own customers, so the worker goes on around it."""


@dataclass(frozen=True, slots=True)
class Backfill:
    entered: int
    skipped: int
    """Members the flow let in not: its reentry rule, or this backfill entered them before."""
    dry_run: bool


def backfill(conn: Conn, store_id: str, flow_id: str, segment: str, dry_run: bool = False) -> Backfill:
    """Enter the segment's current members into the active flow as if its trigger fired now
    (SPEC §9). Runs are named by (flow, segment), so a second backfill enters nobody twice. A dry
    run does every page's work and rolls it back."""
    stores.require(conn, store_id)
    head = flow_rows.heads(conn, store_id).get(flow_id)
    if head is None:
        raise NotFound(f"flow {flow_id} not found in store {store_id}")
    if head.status != "active":
        raise InvalidInput(f"flow {flow_id} is {head.status}; only an active flow takes a backfill (resume it first)")
    row = segment_rows.get(conn, store_id, segment)
    if row is None:
        raise NotFound(f'segment "{segment}" not found in store {store_id}')
    operation_id = f"backfill:{flow_id}:{row.id}"
    work = StoreWork()
    entered = seen = 0
    after = ""
    while True:
        with conn.transaction() as tx:
            emails = segment_rows.member_emails_after(conn, store_id, row.id, after, BACKFILL_PAGE)
            if emails:
                entered += work.backfill(conn, store_id, flow_id, emails, operation_id, datetime.now(UTC))
            if dry_run:
                raise psycopg.Rollback(tx)
        if len(emails) < BACKFILL_PAGE:
            return Backfill(entered, seen + len(emails) - entered, dry_run)
        seen += len(emails)
        after = emails[-1]


def run_counts(conn: Conn, store_id: str) -> list[tuple[str, str, int]]:
    """(flow id, status, runs) of every run the store still keeps."""
    return run_rows.counts(conn, store_id)
