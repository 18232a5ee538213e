"""A flow drawn as SVG on the server, with a deployed version's counts on its nodes and edges.

Layout by grandalf (pure Python, Sugiyama layered layout with routed edges), drawing here: the
console fetches nothing at run time and needs no Graphviz binary on the machine, so the demo
runs on a fresh Python alone. Labels are the ones `flows graph` (Mermaid) uses.
"""

from __future__ import annotations

import textwrap
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
MAX_LINES = 6
LINE_H = 14
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


Link = tuple[str, str, str]
"""(source key, target key, label) of an edge as drawn."""


def flow_svg(flow: Flow, counts: Mapping[str, NodeCounts] | None = None, entered: int | None = None) -> str:
    """The flow as one <svg> element: a <g class="node" data-node=ID> per flow node, the trigger
    and "completed" as their own kinds, each edge with its label and (with counts) how often
    runs took it."""
    shapes, edges = _shapes(flow, counts, entered), _links(flow, counts, entered)
    if any(target == "done" for _source, target, _words in edges):
        shapes.append(_Shape("done", "done", "completed", ""))
    lines = {shape.key: _wrapped(shape.title) for shape in shapes}
    boxes, routes = _laid_out(shapes, edges, lines)
    labels = [_label_at(points) if words else None for (_s, _t, words), points in zip(edges, routes, strict=True)]
    left, top, width, height = _bounds(boxes, routes, edges, labels)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow-graph" viewBox="{left:.0f} {top:.0f} '
        f'{width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
        f'aria-label="flow {escape(flow.id)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    for (source, target, words), points, at in zip(edges, routes, labels, strict=True):
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(
            f'<g class="edge" data-from="{escape(source)}" data-to="{escape(target)}">'
            f'<polyline points="{path}" marker-end="url(#arrow)"/>'
        )
        if at is not None:
            out.append(f'<text x="{at[0]:.1f}" y="{at[1]:.1f}">{escape(words)}</text>')
        out.append("</g>")
    for shape in shapes:
        out.extend(_node(shape, boxes[shape.key], lines[shape.key]))
    out.append("</svg>")
    return "\n".join(out)


def _shapes(flow: Flow, counts: Mapping[str, NodeCounts] | None, entered: int | None) -> list[_Shape]:
    """The trigger and every node, with their counts when given."""
    shapes = [_Shape("trigger", "trigger", trigger_label(flow), "" if entered is None else f"{entered} entered")]
    for node in flow.nodes:
        here = counts.get(node.id) if counts is not None else None
        count = ""
        if here is not None:
            count = f"{here.visits} visits" + (f" · {here.waiting} waiting" if node.type == "wait" else "")
        shapes.append(_Shape(node.id, node.type, node_label(node), count))
    return shapes


def _links(flow: Flow, counts: Mapping[str, NodeCounts] | None, entered: int | None) -> list[Link]:
    """The trigger's edge to the start and every node's edges ("done" where a run completes),
    labelled with the edge's name and, with counts, how often runs took it."""
    edges: list[Link] = [("trigger", flow.start, "" if entered is None else str(entered))]
    for node in flow.nodes:
        for edge in REGISTRY[node.type].successors(node):
            words = "" if edge.label == "next" else edge_label(node, edge.label)
            if counts is not None and node.id in counts:
                taken = str(counts[node.id].edges.get(edge.label, 0))
                words = f"{words}: {taken}" if words else taken
            edges.append((node.id, edge.target if edge.target is not None else "done", words))
    return edges


def _laid_out(
    shapes: list[_Shape], edges: list[Link], lines: Mapping[str, list[str]]
) -> tuple[dict[str, _Box], list[list[tuple[float, float]]]]:
    """Each shape's box (sized for its lines) placed by a layered layout, and each edge's route,
    ending on the border of its target's box."""
    vertices = {shape.key: Vertex(shape.key) for shape in shapes}
    for shape in shapes:
        chars = max(len(shape.count), *(len(line) for line in lines[shape.key]))
        rows = len(lines[shape.key]) + (1 if shape.count else 0)
        vertices[shape.key].view = _Box(w=max(80.0, chars * CHAR_W + 20), h=max(NODE_H, rows * LINE_H + 12))
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
    routes = [
        _clipped(link.view.points, boxes[source], boxes[target])
        for (source, target, _w), link in zip(edges, links, strict=True)
    ]
    return boxes, routes


def _bounds(
    boxes: Mapping[str, _Box],
    routes: list[list[tuple[float, float]]],
    edges: list[Link],
    labels: list[tuple[float, float] | None],
) -> tuple[float, float, float, float]:
    """(left, top, width, height) of the picture: everything drawn is inside it, boxes, routed
    edges, and labels beside them."""
    xs = [x for b in boxes.values() for x in (b.xy[0] - b.w / 2, b.xy[0] + b.w / 2)]
    ys = [y for b in boxes.values() for y in (b.xy[1] - b.h / 2, b.xy[1] + b.h / 2)]
    xs += [x for points in routes for x, _y in points]
    ys += [y for points in routes for _x, y in points]
    for (_s, _t, words), at in zip(edges, labels, strict=True):
        if at is not None:
            xs += [at[0], at[0] + len(words) * CHAR_W]
            ys += [at[1] - LINE_H, at[1] + 4]
    left, top = min(xs) - MARGIN, min(ys) - MARGIN
    return left, top, max(xs) - left + MARGIN, max(ys) - top + MARGIN


def _node(shape: _Shape, box: _Box, lines: list[str]) -> list[str]:
    """A node's box with its title's lines, and its counts below them."""
    x, y = box.xy[0] - box.w / 2, box.xy[1] - box.h / 2
    css = "node" if shape.kind not in ("trigger", "done") else shape.kind
    data = f' data-node="{escape(shape.key)}"' if css == "node" else ""
    rows = lines + ([shape.count] if shape.count else [])
    first = box.xy[1] - (len(rows) - 1) * LINE_H / 2 + 4  # the rows centred in the box
    drawn = [
        f'<g class="{css} {escape(shape.kind)}"{data}><title>{escape(shape.title)}</title>'
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" rx="6"/>'
    ]
    drawn += [
        f'<text x="{box.xy[0]:.1f}" y="{first + row * LINE_H:.1f}">{escape(line)}</text>'
        for row, line in enumerate(lines)
    ]
    if shape.count:
        at = first + len(lines) * LINE_H
        drawn.append(f'<text class="count" x="{box.xy[0]:.1f}" y="{at:.1f}">{escape(shape.count)}</text>')
    drawn.append("</g>")
    return drawn


def _wrapped(title: str) -> list[str]:
    """A title in lines of at most MAX_CHARS, cut at spaces where it can be (a trigger's whole
    `where` is worth reading); past MAX_LINES, the last line ends in an ellipsis."""
    lines = textwrap.wrap(title, MAX_CHARS, break_long_words=True, break_on_hyphens=False) or [""]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], lines[MAX_LINES - 1][: MAX_CHARS - 1] + "…"]
    return lines


Point = tuple[float, float]


def _clipped(points: list[Point], source: _Box, target: _Box) -> list[Point]:
    """The routed edge from the border of its source's box to the border of its target's, so
    the arrowhead shows, not hidden under the box it points at."""
    route = points or [source.xy, target.xy]
    if len(route) < 2:
        return route
    return [_border(source, route[1]), *route[1:-1], _border(target, route[-2])]


def _border(box: _Box, towards: Point) -> Point:
    """Where the line from the box's centre to `towards` leaves the box."""
    (cx, cy), (tx, ty) = box.xy, towards
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return box.xy
    scale = min(box.w / 2 / abs(dx) if dx else float("inf"), box.h / 2 / abs(dy) if dy else float("inf"))
    return (cx + dx * scale, cy + dy * scale)


def _label_at(points: list[Point]) -> Point:
    """Where an edge's label starts: beside the middle of its route."""
    middle = (
        points[len(points) // 2]
        if len(points) > 2
        else ((points[0][0] + points[-1][0]) / 2, (points[0][1] + points[-1][1]) / 2)
    )
    return (middle[0] + 4, middle[1])
