"""Which segments a flow refers to: the one definition (SPEC §6).

A flow refers to a segment through its Segment nodes and its `in_segment` / `not_in_segment`
rules (in condition nodes and in the trigger's `where`), and nothing else: a segment's name in
an action's parameters is not a reference. Each node type says what it refers to
(`NodeHandler.segments`). Deploy, resume, `segments delete`, the simulator and the console all
ask here.
"""

from __future__ import annotations

from dataclasses import dataclass

from nodes import REGISTRY
from nodes.condition import rule_segments
from schemas.flow import Flow


@dataclass(frozen=True, slots=True)
class SegmentRef:
    node: str | None
    """The node that refers to the segment; None for the trigger's `where`."""
    segment: str
    created_if_missing: bool
    """A Segment node with `create_if_missing`: deploy creates the segment."""


def segment_references(flow: Flow) -> list[SegmentRef]:
    found = [SegmentRef(None, name, False) for name in rule_segments(flow.trigger.where)] if flow.trigger.where else []
    for node in flow.nodes:
        found.extend(SegmentRef(node.id, name, create) for name, create in REGISTRY[node.type].segments(node))
    return found


def refers_to(flow: Flow, segment_name: str) -> bool:
    """Segment names compare case-insensitively (SPEC §1)."""
    wanted = segment_name.strip().lower()
    return any(ref.segment.lower() == wanted for ref in segment_references(flow))
