"""The console's flow graph (issue 24, item 6): everything drawn is inside the picture, every
edge ends at the border of the box it points at (so its arrowhead shows), and a long trigger
is wrapped, not cut."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine.graph import NodeCounts
from schemas.flow import deployed_flow
from segflow.web.graph import CHAR_W, flow_svg

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "flows").glob("*.json"))
NUMBER = r"(-?[\d.]+)"


def drawn(name: Path) -> str:
    flow = deployed_flow(json.loads(name.read_text()))
    counts = {n.id: NodeCounts(123_456, 7, {e: 98_765 for e in ("next", "then", "else", "a", "b")}) for n in flow.nodes}
    return flow_svg(flow, counts, 1_234_567)


GROUP = re.compile(
    r'<g class="([a-z]+) ?([a-z]*)"(?: data-node="([^"]*)")?(?: data-from="[^"]*" data-to="([^"]*)")?>(.*?)</g>', re.S
)
TEXT = re.compile(rf'<text (?:class="count" )?x="{NUMBER}" y="{NUMBER}">([^<]*)</text>')


def view_box(svg: str) -> tuple[float, float, float, float]:
    found = re.search(r'viewBox="([^"]+)"', svg)
    assert found is not None
    left, top, width, height = map(float, found.group(1).split())
    return left, top, left + width, top + height


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_label_and_route_is_inside_the_picture(example):
    svg = drawn(example)
    left, top, right, bottom = view_box(svg)
    for css, _kind, _node, _to, inner in GROUP.findall(svg):
        for x, y, words in TEXT.findall(inner):
            span = len(words.replace("&quot;", '"').replace("&amp;", "&")) * CHAR_W
            # Edge labels start at x; node titles are centred on it (the console's CSS).
            lo, hi = (float(x), float(x) + span) if css == "edge" else (float(x) - span / 2, float(x) + span / 2)
            assert left <= lo and hi <= right and top <= float(y) - 11 and float(y) <= bottom, (words, lo, hi)
        for points in re.findall(r'<polyline points="([^"]+)"', inner):
            for pair in points.split():
                px, py = map(float, pair.split(","))
                assert left <= px <= right and top <= py <= bottom


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_each_edge_ends_on_the_border_of_its_target(example):
    svg = drawn(example)
    groups = GROUP.findall(svg)
    boxes = {}
    for css, _kind, node, _to, inner in groups:
        found = re.search(rf'<rect x="{NUMBER}" y="{NUMBER}" width="{NUMBER}" height="{NUMBER}"', inner)
        if css != "edge" and found is not None:
            boxes[node or css] = tuple(map(float, found.groups()))
    assert "trigger" in boxes and len(boxes) > 2
    edges = [(to, inner) for css, _kind, _node, to, inner in groups if css == "edge"]
    assert edges
    for target, inner in edges:
        x, y, w, h = boxes[target]
        ex, ey = map(float, re.findall(r'points="([^"]+)"', inner)[0].split()[-1].split(","))
        on_side = (abs(ex - x) < 0.2 or abs(ex - (x + w)) < 0.2) and y - 0.2 <= ey <= y + h + 0.2
        on_top = (abs(ey - y) < 0.2 or abs(ey - (y + h)) < 0.2) and x - 0.2 <= ex <= x + w + 0.2
        assert on_side or on_top, (target, (ex, ey), boxes[target])


def test_a_long_trigger_is_wrapped_whole():
    svg = drawn(next(p for p in EXAMPLES if p.stem == "big-spender-credits"))
    trigger = svg.split('<g class="trigger trigger">', 1)[1].split("</g>", 1)[0]
    lines = re.findall(r'<text x="[^"]+" y="[^"]+">([^<]*)</text>', trigger)
    assert "".join(lines).replace("&quot;", '"').startswith("on order.processed where")
    assert "".join(lines).replace("&quot;", '"').endswith('"value":100}')
    assert not any(line.endswith("…") for line in lines)
