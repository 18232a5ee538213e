"""Segment node: add the customer to, or remove them from, a segment (SPEC §4)."""

from __future__ import annotations

from engine.model import ChangeMembership, Context, Edge, NodeHandler, Outcome, Visit
from schemas.flow import SegmentNode


def prepare(node: SegmentNode) -> Visit:
    segment, may_create = node.segment, node.create_if_missing
    changed = Outcome(next=node.next, effects=(ChangeMembership(segment, node.operation),))

    def visit(ctx: Context) -> Outcome:
        # A segment deleted after deploy cannot be written to; the run fails rather than guess.
        if not may_create and not ctx.members.exists(segment):
            return Outcome(failure=f'segment "{segment}" does not exist in store {ctx.store_id}')
        return changed

    return visit


def successors(node: SegmentNode) -> list[Edge]:
    return [Edge("next", node.next)]


def check(node: SegmentNode) -> list[str]:
    if node.create_if_missing and node.operation == "remove":
        return ["create_if_missing applies to operation add only"]
    return []


def segments(node: SegmentNode) -> list[tuple[str, bool]]:
    return [(node.segment, node.create_if_missing)]


HANDLER = NodeHandler(type="segment", prepare=prepare, successors=successors, check=check, segments=segments)
