"""Exit node: end the run as flow.exited (SPEC §4)."""

from __future__ import annotations

from engine.model import Context, Edge, NodeHandler, Outcome
from schemas.flow import ExitNode


def visit(_node: ExitNode, _ctx: Context) -> Outcome:
    return Outcome(exit=True)


def successors(_node: ExitNode) -> list[Edge]:
    return []


def check(_node: ExitNode) -> list[str]:
    return []


HANDLER = NodeHandler(type="exit", visit=visit, successors=successors, check=check)
