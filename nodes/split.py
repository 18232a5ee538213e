"""Split node: send each customer down one branch by fixed percentages (SPEC §4)."""

from __future__ import annotations

from engine.model import Edge, NodeHandler
from schemas.flow import SplitNode


def successors(node: SplitNode) -> list[Edge]:
    return [Edge(f"branches[{i}].next", b.next) for i, b in enumerate(node.branches)]


def check(node: SplitNode) -> list[str]:
    total = sum(b.percent for b in node.branches)
    return [] if total == 100 else [f"branch percents sum to {total}, not 100"]


HANDLER = NodeHandler(type="split", successors=successors, check=check)
