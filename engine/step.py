"""Advancing one run: visit nodes until the run pauses at a wait or ends (SPEC §4, §5).

Pure: a flow version, a run and what drives it (an event or a timer) in; the new run and
its effects out. Membership effects are applied to the view as they happen, so a later
node (and a later event in the batch) sees them. Only real changes are recorded: adding a
customer who is already a member changes and emits nothing (SPEC §3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from engine.ids import event_id
from engine.model import (
    ChangeMembership,
    Context,
    Emitted,
    EmittedCause,
    Event,
    MembershipView,
    Outcome,
    RequestAction,
    Run,
    Visit,
    Wake,
)
from engine.refs import segment_references
from nodes import REGISTRY
from nodes.condition import Predicate, predicate
from schemas.events import OutputEventType
from schemas.flow import MAX_NODES, Flow, Node

# Validation forbids cycles without a wait, so a step visits each node at most once; the guard
# turns a bug into a failed run instead of a hung worker.
MAX_VISITS_PER_STEP = MAX_NODES + 1


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    """A deployed (or simulated) flow version, indexed for the hot loop."""

    flow: Flow
    version: int
    nodes: Mapping[str, Node]
    visits: Mapping[str, Visit]
    """Each node prepared by its type (`NodeHandler.prepare`)."""
    where: Predicate | None
    """The trigger's `where`, compiled."""
    segments: frozenset[str]
    """The names of the segments the version refers to, as written (engine.refs)."""

    @classmethod
    def of(cls, flow: Flow, version: int) -> CompiledFlow:
        return cls(
            flow=flow,
            version=version,
            nodes={node.id: node for node in flow.nodes},
            visits={node.id: _prepared(node) for node in flow.nodes},
            where=predicate(flow.trigger.where) if flow.trigger.where is not None else None,
            segments=frozenset(ref.segment for ref in segment_references(flow)),
        )

    @property
    def added_by(self) -> str:
        return f"flow:{self.flow.id}@{self.version}"


def _prepared(node: Node) -> Visit:
    try:
        return REGISTRY[node.type].prepare(node)
    except Exception as exc:  # a node bug fails the runs that reach it, never the worker
        failed = Outcome(failure=_raised(node.type, exc))
        return lambda _ctx: failed


def _raised(node_type: str, exc: Exception) -> str:
    return f"{node_type} node raised {type(exc).__name__}: {exc}"


@dataclass(slots=True)
class MemberChange:
    email: str
    segment: str
    """As the store names it."""
    operation: Literal["add", "remove"]
    added_by: str
    at: datetime


@dataclass(slots=True)
class Driver:
    """What makes a run move: an input event, or a timer, an archive or a backfill (then `event`
    is None)."""

    cause_key: str
    event: Event | None
    wake: Wake | None
    operation: Literal["timer", "archive", "backfill"] = "timer"


@dataclass(slots=True)
class Step:
    """One move of one run, and what moved it: a customer's journey is a list of these."""

    run: Run
    driver: Driver
    at: datetime
    path: list[str] = field(default_factory=list)
    """Node ids visited, in order (a resumed run's starts with the wait it resumes at)."""
    edges: list[tuple[str, str]] = field(default_factory=list)
    """(node id, edge label) for each node the run left by an edge, for `flows stats`."""
    events: list[Emitted] = field(default_factory=list)
    changes: list[MemberChange] = field(default_factory=list)

    @property
    def operation(self) -> str:
        return "event" if self.driver.event is not None else self.driver.operation

    @property
    def arrivals(self) -> list[str]:
        """The nodes this step arrived at: its path without the wait a resumed run was already at."""
        return self.path[1:] if self.driver.wake is not None else self.path


def enter(
    store_id: str,
    cf: CompiledFlow,
    run_key: str,
    email: str,
    customer: Mapping[str, Any],
    event: Event,
    members: MembershipView,
    now: datetime,
    failure: str | None = None,
) -> Step:
    """Start a run at the flow's start node; with `failure` (its trigger could not be judged) the
    run fails there and then."""
    driver = Driver(cause_key=event.event_id, event=event, wake=None)
    return _enter(store_id, cf, run_key, email, customer, driver, members, now, failure)


def backfill(
    store_id: str,
    cf: CompiledFlow,
    run_key: str,
    email: str,
    customer: Mapping[str, Any],
    operation_id: str,
    members: MembershipView,
    now: datetime,
) -> Step:
    """Start a run as if the flow's trigger fired now, with no event (`flows backfill`)."""
    driver = Driver(cause_key=operation_id, event=None, wake=None, operation="backfill")
    return _enter(store_id, cf, run_key, email, customer, driver, members, now)


def _enter(
    store_id: str,
    cf: CompiledFlow,
    run_key: str,
    email: str,
    customer: Mapping[str, Any],
    driver: Driver,
    members: MembershipView,
    now: datetime,
    failure: str | None = None,
) -> Step:
    run = Run(
        key=run_key, flow_id=cf.flow.id, flow_version=cf.version, email=email, node_id=cf.flow.start,
        status="active", entered_at=now, updated_at=now,
    )  # fmt: skip
    step = Step(run, driver, now)
    step.events.append(_event(store_id, cf, run, driver, "flow.entered", None, {}, now))
    if failure is not None:
        return _finish(store_id, cf, step, "failed", None, reason=failure)
    return _walk(store_id, cf, step, cf.flow.start, customer, members)


def resume(
    store_id: str,
    cf: CompiledFlow,
    run: Run,
    customer: Mapping[str, Any],
    event: Event | None,
    members: MembershipView,
    now: datetime,
) -> Step:
    """Wake a waiting run: by `event` (its until_event arrived) or, when None, by its timer."""
    assert run.node_id is not None and run.live
    if event is not None:
        driver = Driver(cause_key=event.event_id, event=event, wake="event")
    else:
        driver = Driver(
            cause_key=f"timer:{run.key}:{run.wake_at.isoformat() if run.wake_at else ''}", event=None, wake="timer"
        )
    return _walk(store_id, cf, Step(run, driver, now), run.node_id, customer, members)


def end(store_id: str, cf: CompiledFlow, run: Run, reason: str, cause_key: str, now: datetime) -> Step:
    """Exit a live run from outside the graph (its flow was archived)."""
    driver = Driver(cause_key=cause_key, event=None, wake=None, operation="archive")
    return _finish(store_id, cf, Step(run, driver, now), "exited", run.node_id, reason=reason)


def archived(store_id: str, flow_id: str, version: int, run: Run, operation_id: str, now: datetime) -> Emitted:
    """The flow.exited event of a run ended by `flows archive` (the run row is updated in SQL)."""
    driver = Driver(cause_key=f"archive:{operation_id}", event=None, wake=None, operation="archive")
    ended = run.moved(run.node_id, "exited", now, reason="flow archived")
    return _event(
        store_id, (flow_id, version), ended, driver, "flow.exited", run.node_id, {"reason": "flow archived"}, now
    )


def _walk(
    store_id: str, cf: CompiledFlow, step: Step, node_id: str, customer: Mapping[str, Any], members: MembershipView
) -> Step:
    """Visit nodes from `node_id` until the run waits, ends or fails (the step's driver and time
    are the visits' event and now)."""
    email, driver, now = step.run.email, step.driver, step.at
    # One context for the whole walk; only the node a paused run resumes at sees `wake`, so that
    # node gets a context of its own.
    ctx = Context(
        store_id=store_id, flow_id=cf.flow.id, email=email, customer=customer, event=driver.event,
        members=members, now=now,
    )  # fmt: skip
    first_ctx = (
        Context(store_id, cf.flow.id, email, customer, driver.event, members, now, driver.wake)
        if driver.wake is not None
        else ctx
    )
    for visit_number in range(MAX_VISITS_PER_STEP):
        visit = cf.visits.get(node_id)
        if visit is None:
            return _finish(
                store_id, cf, step, "failed", node_id, reason=f"node {node_id!r} is not in version {cf.version}"
            )
        step.path.append(node_id)
        try:
            outcome = visit(first_ctx if visit_number == 0 else ctx)
        except Exception as exc:  # a node bug fails this run, never the worker
            outcome = Outcome(failure=_raised(cf.nodes[node_id].type, exc))
        if outcome.failure is not None:
            return _finish(store_id, cf, step, "failed", node_id, reason=outcome.failure)
        for effect in outcome.effects:
            _apply(store_id, cf, step, node_id, effect, members)
        if outcome.exit:
            return _finish(store_id, cf, step, "exited", node_id)
        if outcome.wake_at is not None:
            step.run = step.run.moved(node_id, "waiting", now, outcome.wake_at, outcome.waiting_for, step.run.reason)
            return step
        step.edges.append((node_id, outcome.edge))
        if outcome.next is None:
            return _finish(store_id, cf, step, "completed", node_id)
        node_id = outcome.next
    return _finish(store_id, cf, step, "failed", node_id, reason=f"no wait after {MAX_VISITS_PER_STEP} nodes")


def _apply(
    store_id: str,
    cf: CompiledFlow,
    step: Step,
    node_id: str,
    effect: ChangeMembership | RequestAction,
    members: MembershipView,
) -> None:
    email, driver, now = step.run.email, step.driver, step.at
    if isinstance(effect, RequestAction):
        data = {"action": effect.action, "params": dict(effect.params)}
        step.events.append(_event(store_id, cf, step.run, driver, "action.requested", node_id, data, now))
        return
    if not members.exists(effect.segment):
        members.create(effect.segment)  # create_if_missing (the writer inserts the segment row)
    if (effect.operation == "add") == members.is_member(email, effect.segment):
        return  # already in (or already out): no change, no event
    name = members.name_of(effect.segment)
    if effect.operation == "add":
        members.add(email, name)
        kind: OutputEventType = "segment.member_added"
    else:
        members.remove(email, name)
        kind = "segment.member_removed"
    step.changes.append(MemberChange(email, name, effect.operation, cf.added_by, now))
    data = {"segment": name}
    step.events.append(_event(store_id, cf, step.run, driver, kind, node_id, data, now, name.lower()))


def _finish(
    store_id: str,
    cf: CompiledFlow,
    step: Step,
    status: Literal["completed", "exited", "failed"],
    node_id: str | None,
    reason: str | None = None,
) -> Step:
    driver, now = step.driver, step.at
    step.run = step.run.moved(node_id, status, now, reason=reason)
    data = {"reason": reason} if reason is not None else {}
    kind: OutputEventType = (
        "flow.completed" if status == "completed" else ("flow.exited" if status == "exited" else "flow.failed")
    )
    step.events.append(_event(store_id, cf, step.run, driver, kind, node_id, data, now))
    return step


def _event(
    store_id: str,
    cf: CompiledFlow | tuple[str, int],
    run: Run,
    driver: Driver,
    kind: OutputEventType,
    node_id: str | None,
    data: dict[str, Any],
    now: datetime,
    segment: str = "",
) -> Emitted:
    """An output event of the run; `segment` (lower-cased) is part of a membership event's id."""
    flow_id, version = (cf.flow.id, cf.version) if isinstance(cf, CompiledFlow) else cf
    event = driver.event
    if event is not None:
        cause = EmittedCause(event.event_id, flow_id, version, node_id)
    else:
        cause = EmittedCause(None, flow_id, version, node_id, driver.operation, driver.cause_key)
    key = event_id(store_id, kind, run.key, driver.cause_key, node_id or "", segment)
    return Emitted(key, kind, store_id, now, run.email, cause, data)
