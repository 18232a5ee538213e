"""Action node: ask downstream systems to do something (emits action.requested, SPEC §3-4)."""

from __future__ import annotations

from engine.model import Context, Edge, NodeHandler, Outcome, RequestAction
from schemas.flow import ActionNode


def visit(node: ActionNode, _ctx: Context) -> Outcome:
    return Outcome(next=node.next, effects=(RequestAction(node.action, node.params),))


def successors(node: ActionNode) -> list[Edge]:
    return [Edge("next", node.next)]


def check(_node: ActionNode) -> list[str]:
    return []


HANDLER = NodeHandler(type="action", visit=visit, successors=successors, check=check)
