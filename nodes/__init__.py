"""Node types of Subscription Experience flows, one module each, behind one registry (SPEC §4).

Adding a node type: a model in schemas/flow.py, a module here exposing HANDLER, and a line in
the tuple below. A test checks that the registry and the `Node` union agree.
"""

from __future__ import annotations

from engine.model import NodeHandler
from nodes import action, condition, exit, segment, split, wait

REGISTRY: dict[str, NodeHandler] = {
    module.HANDLER.type: module.HANDLER for module in (segment, condition, split, wait, action, exit)
}
