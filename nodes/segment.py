"""Segment node: add the customer to, or remove them from, a segment (SPEC §4)."""

from __future__ import annotations

from engine.model import ChangeMembership, Context, Edge, NodeHandler, Outcome
from schemas.flow import SegmentNode


def visit(node: SegmentNode, ctx: Context) -> Outcome:
    # A segment deleted after deploy cannot be written to; the run fails rather than guess.
    if not node.create_if_missing and not ctx.members.exists(node.segment):
        return Outcome(failure=f'segment "{node.segment}" does not exist in store {ctx.store_id}')
    return Outcome(next=node.next, effects=(ChangeMembership(node.segment, node.operation),))


def successors(node: SegmentNode) -> list[Edge]:
    return [Edge("next", node.next)]


def check(node: SegmentNode) -> list[str]:
    if node.create_if_missing and node.operation == "remove":
        return ["create_if_missing applies to operation add only"]
    return []


def segments(node: SegmentNode) -> list[tuple[str, bool]]:
    return [(node.segment, node.create_if_missing)]


HANDLER = NodeHandler(type="segment", visit=visit, successors=successors, check=check, segments=segments)
