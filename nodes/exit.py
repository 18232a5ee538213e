"""Exit node: end the run as flow.exited (SPEC §4)."""

from __future__ import annotations

from engine.model import Edge, NodeHandler
from schemas.flow import ExitNode


def successors(_node: ExitNode) -> list[Edge]:
    return []


def check(_node: ExitNode) -> list[str]:
    return []


HANDLER = NodeHandler(type="exit", successors=successors, check=check)
