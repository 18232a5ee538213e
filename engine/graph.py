"""A flow as a Mermaid flowchart (`flows graph`), for docs and pull requests."""

from __future__ import annotations

import json

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


def mermaid(flow: Flow) -> str:
    ids = {node.id: f"n{i}" for i, node in enumerate(flow.nodes)}
    lines = ["flowchart TD", f'    trigger(["{_escape(_trigger(flow))}"])']
    for node in flow.nodes:
        opening, closing = _SHAPES[node.type]
        lines.append(f'    {ids[node.id]}{opening}"{_escape(_label(node))}"{closing}')
    lines.append(f"    trigger --> {ids[flow.start]}")
    ends = False
    for node in flow.nodes:
        for edge in REGISTRY[node.type].successors(node):
            label = "" if edge.label == "next" else f"|{_escape(_edge_label(node, edge.label))}|"
            target = ids.get(edge.target, "done") if edge.target is not None else "done"
            ends = ends or target == "done"
            lines.append(f"    {ids[node.id]} -->{label} {target}")
    if ends:
        lines.append('    done(("completed"))')
    return "\n".join(lines) + "\n"


def _trigger(flow: Flow) -> str:
    where = flow.trigger.where
    text = f"on {flow.trigger.event}"
    if where is not None:
        text += " where " + json.dumps(where.model_dump(by_alias=True, exclude_none=True), separators=(",", ":"))
    return text


def _label(node: Node) -> str:
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


def _edge_label(node: Node, label: str) -> str:
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
