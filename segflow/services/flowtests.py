"""`flows test` (SPEC §12): golden paths for a flow, checked on the simulator in memory.

A test file names a flow (a path relative to the test file), segment members before the run,
events (inline or `events_file`, JSON Lines, relative) and, per customer, what must hold at the
end: `status` and `path` of the customer's last run, `actions` requested (in order, every run),
`segments` (membership at the end) and `runs` (how many). Each difference is one line naming
the field and its first difference, so a failing CI job says what changed, not just that
something did.

Events go through the worker's own check (`schemas.events.parse_event`), so a test cannot pass
on an event the worker would dead-letter.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.simulate import Traced, simulate
from engine.validate import parse_definition, validate
from schemas.events import InputEvent, describe, parse_event
from schemas.flow import Flow
from segflow.errors import InvalidInput, NotFound
from segflow.services import eventsfile


class Expectation(BaseModel):
    """What must hold for one customer at the end of the run; each field is optional."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = None
    """The status of the customer's last run (active, waiting, completed, exited, failed)."""
    path: list[str] | None = None
    """The node ids the customer's last run went through, in order."""
    actions: list[str] | None = None
    """The action names requested for the customer, in order, over all runs."""
    segments: dict[str, bool] | None = None
    """Segment name -> member at the end (names compare case-insensitively)."""
    runs: int | None = None
    """How many runs the customer had."""


class FlowTestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow: str
    members: dict[str, list[str]] = {}
    events: list[dict[str, Any]] | None = None
    events_file: str | None = None
    expect: dict[str, Expectation]


@dataclass(slots=True)
class CaseResult:
    """One customer of one test file."""

    file: str
    customer: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(slots=True)
class Observed:
    """What the simulation did for one customer."""

    paths: dict[str, list[str]] = field(default_factory=dict)
    """Run key -> the nodes it went through; keys in the order the runs started."""
    statuses: dict[str, str] = field(default_factory=dict)
    actions: list[str] = field(default_factory=list)
    segments: set[str] = field(default_factory=set)
    """Lower-cased names of the segments the customer is in at the end."""


def run_file(path: Path) -> list[CaseResult]:
    """Every customer's expectations in one test file, checked; InvalidInput when the file is
    unusable (it names the file and the problem)."""
    test = _load(path)
    flow = _flow(path, test.flow)
    events = _events(path, test)
    trace = simulate(flow, events, test.members)
    observed = _observe(trace, test.members)
    shown = str(path)
    return [
        CaseResult(shown, email, _differences(expectation, observed.get(email.strip().lower(), Observed())))
        for email, expectation in test.expect.items()
    ]


def _read(path: Path, named: str) -> str:
    """The file's text; `named` is how errors name it (the test file, or a flow of one)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"{named}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{named}: cannot be read: {exc}") from None


def _load(path: Path) -> FlowTestFile:
    text = _read(path, str(path))
    try:
        return FlowTestFile.model_validate_json(text)
    except ValidationError as exc:
        raise InvalidInput(f"{path}: not a flow test: {describe(exc)}") from None


def _flow(test_path: Path, relative: str) -> Flow:
    text = _read(test_path.parent / relative, f"{test_path}: flow {relative}")
    raw, errors = parse_definition(text)
    flow = None
    if not errors:
        flow, errors = validate(raw)
    if flow is None:
        first = errors[0] if errors else None
        where = f"node {first.node}: " if first is not None and first.node else ""
        why = first.message if first is not None else "not a flow"
        raise InvalidInput(f"{test_path}: flow {relative} is invalid: {where}{why}")
    return flow


def _events(test_path: Path, test: FlowTestFile) -> list[InputEvent]:
    if (test.events is None) == (test.events_file is None):
        raise InvalidInput(f"{test_path}: give either events or events_file")
    if test.events_file is not None:
        return [line.event for line in eventsfile.read(test_path.parent / test.events_file, "no test was run")]
    events: list[InputEvent] = []
    for number, raw in enumerate(test.events or [], start=1):
        parsed = parse_event(json.dumps(raw).encode())
        if isinstance(parsed, str):
            raise InvalidInput(f"{test_path}: event {number}: {parsed}")
        events.append(parsed)
    return events


def _observe(trace: list[Traced], members: dict[str, list[str]]) -> dict[str, Observed]:
    seen: dict[str, Observed] = {}
    for name, emails in members.items():
        for email in emails:
            seen.setdefault(email.strip().lower(), Observed()).segments.add(name.lower())
    for traced in trace:
        step = traced.step
        customer = seen.setdefault(traced.email, Observed())
        key = step.run.key
        path = customer.paths.setdefault(key, [])
        # A run that waited starts its next step at the node it waited on: that is one visit.
        resumed = bool(path) and bool(step.path) and step.path[0] == path[-1]
        path.extend(step.path[1:] if resumed else step.path)
        customer.statuses[key] = step.run.status
        customer.actions.extend(str(e.data["action"]) for e in step.events if e.type == "action.requested")
        for change in step.changes:
            if change.operation == "add":
                customer.segments.add(change.segment.lower())
            else:
                customer.segments.discard(change.segment.lower())
    return seen


def _differences(expected: Expectation, got: Observed) -> list[str]:
    last = next(reversed(got.paths), None)
    found: list[str] = []
    if expected.status is not None:
        status = got.statuses[last] if last is not None else "no run"
        if status != expected.status:
            found.append(f"status: expected {expected.status}, got {status}")
    if expected.path is not None:
        found.extend(_sequence("path", "step", expected.path, got.paths[last] if last is not None else []))
    if expected.actions is not None:
        found.extend(_sequence("actions", "action", expected.actions, got.actions))
    if expected.segments is not None:
        for name, member in expected.segments.items():
            if (name.lower() in got.segments) != member:
                found.append(
                    f"segments: expected {'in' if member else 'not in'} {name}, got {'in' if not member else 'not in'}"
                )
    if expected.runs is not None and expected.runs != len(got.paths):
        found.append(f"runs: expected {expected.runs}, got {len(got.paths)}")
    return found


def _sequence(name: str, unit: str, expected: Sequence[str], got: Sequence[str]) -> list[str]:
    """The first place two sequences differ, counted from 1: `path differs at step 2: ...`."""
    for index in range(max(len(expected), len(got))):
        want = expected[index] if index < len(expected) else None
        have = got[index] if index < len(got) else None
        if want != have:
            return [
                f"{name} differs at {unit} {index + 1}: expected {want or 'nothing more'}, got {have or 'nothing more'}"
            ]
    return []


def junit(results: list[CaseResult]) -> bytes:
    """JUnit XML: a test suite per file, a test case per customer, a failure per broken case."""
    suites = ElementTree.Element("testsuites", tests=str(len(results)), failures=str(sum(not r.ok for r in results)))
    by_file: dict[str, list[CaseResult]] = {}
    for result in results:
        by_file.setdefault(result.file, []).append(result)
    for file, cases in by_file.items():
        suite = ElementTree.SubElement(
            suites, "testsuite", name=file, tests=str(len(cases)), failures=str(sum(not c.ok for c in cases))
        )
        for case in cases:
            element = ElementTree.SubElement(suite, "testcase", classname=file, name=case.customer)
            if case.failures:
                failure = ElementTree.SubElement(element, "failure", message=case.failures[0])
                failure.text = "\n".join(case.failures)
    document: bytes = ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)
    return document
