"""Engine value types shared with `nodes/` (a leaf module: it imports nothing of segflow's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Edge:
    label: str
    """The field that holds the reference: next, then, else, on_timeout, branches[1]..."""
    target: str | None
    """A node id, or None where the run ends."""


@dataclass(frozen=True, slots=True)
class NodeHandler:
    """One node type: how the validator walks it, and what it checks on its own."""

    type: str
    successors: Callable[[Any], list[Edge]]
    check: Callable[[Any], list[str]]
    """One-line problems with the node's own fields (references are checked by the graph)."""
    pauses: bool = False
    """True for node types a run can wait in; a cycle through one is not an infinite loop."""
