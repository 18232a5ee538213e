"""Condition node: go to `then` or `else` by a rule over segments and fields (SPEC §4)."""

from __future__ import annotations

from engine.model import Edge, NodeHandler
from schemas.flow import ConditionNode


def successors(node: ConditionNode) -> list[Edge]:
    return [Edge("then", node.then), Edge("else", node.else_)]


def check(_node: ConditionNode) -> list[str]:
    return []


HANDLER = NodeHandler(type="condition", successors=successors, check=check)
