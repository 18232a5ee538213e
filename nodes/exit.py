"""Exit node: end the run as flow.exited (SPEC §4)."""

from __future__ import annotations

from engine.model import Edge, NodeHandler, Outcome, Visit
from schemas.flow import ExitNode

_EXIT = Outcome(exit=True)


def prepare(_node: ExitNode) -> Visit:
    return lambda _ctx: _EXIT


def successors(_node: ExitNode) -> list[Edge]:
    return []


def check(_node: ExitNode) -> list[str]:
    return []


HANDLER = NodeHandler(type="exit", prepare=prepare, successors=successors, check=check)
