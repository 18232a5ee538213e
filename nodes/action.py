"""Action node: ask downstream systems to do something (emits action.requested, SPEC §3-4)."""

from __future__ import annotations

from engine.model import Edge, NodeHandler, Outcome, RequestAction, Visit
from schemas.flow import ActionNode


def prepare(node: ActionNode) -> Visit:
    requested = Outcome(next=node.next, effects=(RequestAction(node.action, node.params),))
    return lambda _ctx: requested


def successors(node: ActionNode) -> list[Edge]:
    return [Edge("next", node.next)]


def check(_node: ActionNode) -> list[str]:
    return []


HANDLER = NodeHandler(type="action", prepare=prepare, successors=successors, check=check)
