"""Split node: send each customer down one branch by fixed percentages (SPEC §4)."""

from __future__ import annotations

import hashlib

from engine.model import Context, Edge, NodeHandler, Outcome, Visit
from schemas.flow import SplitNode


def bucket(store_id: str, flow_id: str, node_id: str, email: str) -> int:
    """0-99, fixed per (customer, flow, node): sha256, because `hash()` is salted per process."""
    digest = hashlib.sha256("\x1f".join((store_id, flow_id, node_id, email)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def prepare(node: SplitNode) -> Visit:
    node_id = node.id
    bounds: list[tuple[int, Outcome]] = []
    upper = 0
    for index, branch in enumerate(node.branches):
        upper += branch.percent
        bounds.append((upper, Outcome(next=branch.next, edge=branch_edge(index))))

    def visit(ctx: Context) -> Outcome:
        point = bucket(ctx.store_id, ctx.flow_id, node_id, ctx.email)
        for bound, outcome in bounds:
            if point < bound:
                return outcome
        raise AssertionError("validated branch percents sum to 100")

    return visit


def branch_edge(index: int) -> str:
    return f"branches[{index}].next"


def successors(node: SplitNode) -> list[Edge]:
    return [Edge(branch_edge(i), b.next) for i, b in enumerate(node.branches)]


def check(node: SplitNode) -> list[str]:
    total = sum(b.percent for b in node.branches)
    return [] if total == 100 else [f"branch percents sum to {total}, not 100"]


HANDLER = NodeHandler(type="split", prepare=prepare, successors=successors, check=check)
