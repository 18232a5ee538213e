"""A flow as a Mermaid flowchart (`flows graph`), for docs and pull requests; with a deployed
version's counts (`flows graph --stats`) on its nodes and edges."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from nodes import REGISTRY
from schemas.flow import ActionNode, ConditionNode, ExitNode, Flow, Node, SegmentNode, SplitNode, WaitNode

# Mermaid shape per node type: (open, close).
_SHAPES = {
    "condition": ("{", "}"),
    "split": ("{{", "}}"),
    "wait": ("([", "])"),
    "action": ("[/", "/]"),
    "segment": ("[[", "]]"),
    "exit": ("((", "))"),
}


@dataclass(frozen=True, slots=True)
class NodeCounts:
    """What a deployed version's runs did at one node (`flows stats`)."""

    visits: int
    waiting: int
    """Runs at this node now, waiting."""
    edges: dict[str, int]
    """Every outgoing edge by its label (next, then, else, on_timeout, branches[N].next): how
    often runs took it, 0 for one never taken."""


def mermaid(flow: Flow, counts: Mapping[str, NodeCounts] | None = None, entered: int | None = None) -> str:
    """The flowchart; with `counts` (by node id) and `entered` (runs started), the numbers too."""
    ids = {node.id: f"n{i}" for i, node in enumerate(flow.nodes)}
    lines = ["flowchart TD", f'    trigger(["{_escape(trigger_label(flow))}"])']
    for node in flow.nodes:
        opening, closing = _SHAPES[node.type]
        text = node_label(node)
        if counts is not None and node.id in counts:
            here = counts[node.id]
            text += f" · {here.visits} visits" + (f", {here.waiting} waiting" if node.type == "wait" else "")
        lines.append(f'    {ids[node.id]}{opening}"{_escape(text)}"{closing}')
    lines.append(f"    trigger -->{'' if entered is None else f'|{entered} entered|'} {ids[flow.start]}")
    ends = False
    for node in flow.nodes:
        for edge in REGISTRY[node.type].successors(node):
            words = "" if edge.label == "next" else edge_label(node, edge.label)
            if counts is not None and node.id in counts:
                words = (
                    f"{words}: {counts[node.id].edges.get(edge.label, 0)}"
                    if words
                    else str(counts[node.id].edges.get(edge.label, 0))
                )
            label = f"|{_escape(words)}|" if words else ""
            target = ids.get(edge.target, "done") if edge.target is not None else "done"
            ends = ends or target == "done"
            lines.append(f"    {ids[node.id]} -->{label} {target}")
    if ends:
        lines.append('    done(("completed"))')
    return "\n".join(lines) + "\n"


def trigger_label(flow: Flow) -> str:
    where = flow.trigger.where
    text = f"on {flow.trigger.event}"
    if where is not None:
        text += " where " + json.dumps(where.model_dump(by_alias=True, exclude_none=True), separators=(",", ":"))
    return text


def node_label(node: Node) -> str:
    match node:
        case SegmentNode():
            return (
                f"{node.id}: {node.operation} to segment {node.segment}"
                if node.operation == "add"
                else f"{node.id}: remove from segment {node.segment}"
            )
        case ConditionNode():
            return f"{node.id}: " + json.dumps(
                node.if_.model_dump(by_alias=True, exclude_none=True), separators=(",", ":")
            )
        case SplitNode():
            return f"{node.id}: split"
        case WaitNode():
            if node.duration is not None:
                return f"{node.id}: wait {node.duration}"
            return f"{node.id}: wait for {node.until_event} up to {node.timeout}"
        case ActionNode():
            return f"{node.id}: {node.action}"
        case ExitNode():
            return f"{node.id}: exit"
    raise AssertionError(f"unhandled node {node!r}")


def edge_label(node: Node, label: str) -> str:
    if isinstance(node, SplitNode) and label.startswith("branches["):
        index = int(label[len("branches[") : label.index("]")])
        return f"{node.branches[index].percent}%"
    return label


def _escape(text: str) -> str:
    """Mermaid has no backslash escapes inside quoted labels; it takes HTML entity codes."""
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("|", "#124;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
    )
