"""A flow drawn as SVG on the server, with a deployed version's counts on its nodes and edges.

Layout by grandalf (pure Python, Sugiyama layered layout with routed edges), drawing here: the
console fetches nothing at run time and needs no Graphviz binary on the machine, so the demo
runs on a fresh Python alone. Labels are the ones `flows graph` (Mermaid) uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

from engine.graph import NodeCounts, edge_label, node_label, trigger_label
from nodes import REGISTRY
from schemas.flow import Flow

CHAR_W = 6.6  # px per character at the 11px font the labels use
MAX_CHARS = 42
NODE_H = 40
MARGIN = 24


@dataclass
class _Box:
    """What grandalf needs of a vertex's view: its size, and it sets the centre."""

    w: float
    h: float = NODE_H
    xy: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Route:
    """What grandalf needs of an edge's view: it hands over the routed points."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


@dataclass(frozen=True, slots=True)
class _Shape:
    key: str
    kind: str  # a node type, or "trigger" / "done"
    title: str
    count: str


def flow_svg(flow: Flow, counts: Mapping[str, NodeCounts] | None = None, entered: int | None = None) -> str:
    """The flow as one <svg> element: a <g class="node" data-node=ID> per flow node, the trigger
    and "completed" as their own kinds, each edge with its label and (with counts) how often
    runs took it."""
    shapes = [_Shape("trigger", "trigger", trigger_label(flow), "" if entered is None else f"{entered} entered")]
    for node in flow.nodes:
        here = counts.get(node.id) if counts is not None else None
        count = ""
        if here is not None:
            count = f"{here.visits} visits" + (f" · {here.waiting} waiting" if node.type == "wait" else "")
        shapes.append(_Shape(node.id, node.type, node_label(node), count))
    edges: list[tuple[str, str, str]] = [("trigger", flow.start, "" if entered is None else str(entered))]
    for node in flow.nodes:
        for edge in REGISTRY[node.type].successors(node):
            words = "" if edge.label == "next" else edge_label(node, edge.label)
            if counts is not None and node.id in counts:
                taken = str(counts[node.id].edges.get(edge.label, 0))
                words = f"{words}: {taken}" if words else taken
            edges.append((node.id, edge.target if edge.target is not None else "done", words))
    if any(target == "done" for _source, target, _words in edges):
        shapes.append(_Shape("done", "done", "completed", ""))

    vertices = {shape.key: Vertex(shape.key) for shape in shapes}
    for shape in shapes:
        chars = min(max(len(shape.title), len(shape.count)), MAX_CHARS)
        vertices[shape.key].view = _Box(w=max(80.0, chars * CHAR_W + 20))
    links = []
    for source, target, _words in edges:
        link = Edge(vertices[source], vertices[target])
        link.view = _Route()
        links.append(link)
    graph = Graph(list(vertices.values()), links)
    for component in graph.C:
        layout = SugiyamaLayout(component)
        roots = [vertices["trigger"]] if vertices["trigger"] in component.sV else None
        layout.init_all(roots=roots, optimize=True)
        layout.yspace = 36
        layout.xspace = 24
        layout.draw(3)

    boxes = {key: vertex.view for key, vertex in vertices.items()}
    xs = [b.xy[0] - b.w / 2 for b in boxes.values()] + [b.xy[0] + b.w / 2 for b in boxes.values()]
    ys = [b.xy[1] - b.h / 2 for b in boxes.values()] + [b.xy[1] + b.h / 2 for b in boxes.values()]
    left, top = min(xs) - MARGIN, min(ys) - MARGIN
    width, height = max(xs) - left + MARGIN, max(ys) - top + MARGIN

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" viewBox="{left:.0f} {top:.0f} '
        f'{width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="flow {escape(flow.id)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for (source, target, words), link in zip(edges, links, strict=True):
        points = link.view.points or [boxes[source].xy, boxes[target].xy]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(
            f'<g class="edge" data-from="{escape(source)}" data-to="{escape(target)}">'
            f'<polyline points="{path}" marker-end="url(#arrow)"/>'
        )
        if words:
            middle = points[len(points) // 2] if len(points) > 2 else _halfway(points[0], points[-1])
            out.append(f'<text x="{middle[0] + 4:.1f}" y="{middle[1]:.1f}">{escape(words)}</text>')
        out.append("</g>")
    for shape in shapes:
        box = boxes[shape.key]
        x, y = box.xy[0] - box.w / 2, box.xy[1] - box.h / 2
        css = "node" if shape.kind not in ("trigger", "done") else shape.kind
        data = f' data-node="{escape(shape.key)}"' if css == "node" else ""
        title = shape.title if len(shape.title) <= MAX_CHARS else shape.title[: MAX_CHARS - 1] + "…"
        out.append(
            f'<g class="{css} {escape(shape.kind)}"{data}><title>{escape(shape.title)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="6"/>'
            f'<text x="{box.xy[0]:.1f}" y="{box.xy[1] - (4 if shape.count else -4):.1f}">{escape(title)}</text>'
        )
        if shape.count:
            out.append(f'<text class="count" x="{box.xy[0]:.1f}" y="{box.xy[1] + 12:.1f}">{escape(shape.count)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _halfway(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
