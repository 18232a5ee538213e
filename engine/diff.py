"""Two versions of a flow compared by node id and field (`flows diff`, SPEC §9).

Both sides are compared as the validated model dumps them, defaults filled in: a field left
out on one side and written out with its default on the other is no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from schemas.flow import Flow


@dataclass(frozen=True, slots=True)
class Change:
    node: str | None
    """None for the flow's own fields (trigger, reentry, start, ...)."""
    change: Literal["added", "removed", "changed"]
    fields: list[str]
    """The fields that differ, for a changed node or the flow; empty for added and removed nodes."""


def diff(old: Flow, new: Flow) -> list[Change]:
    """The flow's own changed fields first, then nodes in the order the new version lists them
    (removed ones after, in the old version's order)."""
    before, after = _dump(old), _dump(new)
    old_nodes = {node["id"]: node for node in before.pop("nodes")}
    new_nodes = {node["id"]: node for node in after.pop("nodes")}
    changes: list[Change] = []
    flow_fields = _changed(before, after)
    if flow_fields:
        changes.append(Change(None, "changed", flow_fields))
    for node_id, node in new_nodes.items():
        if node_id not in old_nodes:
            changes.append(Change(node_id, "added", []))
        elif fields := _changed(old_nodes[node_id], node):
            changes.append(Change(node_id, "changed", fields))
    changes.extend(Change(node_id, "removed", []) for node_id in old_nodes if node_id not in new_nodes)
    return changes


def _dump(flow: Flow) -> dict[str, Any]:
    return flow.model_dump(by_alias=True, mode="json")


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return [name for name in dict.fromkeys([*old, *new]) if old.get(name) != new.get(name)]
