"""Action node: ask downstream systems to do something (emits action.requested, SPEC §3-4)."""

from __future__ import annotations

from engine.model import Edge, NodeHandler
from schemas.flow import ActionNode


def successors(node: ActionNode) -> list[Edge]:
    return [Edge("next", node.next)]


def check(_node: ActionNode) -> list[str]:
    return []


HANDLER = NodeHandler(type="action", successors=successors, check=check)
