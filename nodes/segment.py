"""Segment node: add the customer to, or remove them from, a segment (SPEC §4)."""

from __future__ import annotations

from engine.model import Edge, NodeHandler
from schemas.flow import SegmentNode


def successors(node: SegmentNode) -> list[Edge]:
    return [Edge("next", node.next)]


def check(node: SegmentNode) -> list[str]:
    if node.create_if_missing and node.operation == "remove":
        return ["create_if_missing applies to operation add only"]
    return []


HANDLER = NodeHandler(type="segment", successors=successors, check=check)
