"""The datastream → alias → audience picture of `cpcompile site`: an inline SVG drawn here, in
Python, so that the page needs no script and no library to show it.

Three columns of boxes joined by curves. Every text is escaped for XML (markupsafe), every link
is a URL the site built from an id (``site.slug``), and nothing is styled inline: the classes
are styled by the page's own style sheet, which its Content-Security-Policy allows by hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from markupsafe import Markup, escape

NODE_WIDTH = 210
NODE_HEIGHT = 24
ROW = 30
GAP = 90
PAD = 6
MAX_LABEL = 30  # characters shown in a box; the whole text is in its tooltip


@dataclass(frozen=True)
class Node:
    key: str
    label: str
    href: str | None  # relative to the page the picture is drawn on, built from ids only
    kind: str  # css class: datastream | destination | audience | more
    title: str = ""


@dataclass
class Graph:
    columns: list[list[Node]] = field(default_factory=lambda: [[], [], []])
    edges: list[tuple[str, str]] = field(default_factory=list)


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def render_svg(graph: Graph, caption: str) -> Markup:
    """The graph as an ``<svg>`` element. Columns keep the order given; each is centred on the
    tallest one."""
    tallest = max((len(c) for c in graph.columns), default=0)
    height = max(tallest, 1) * ROW + 2 * PAD
    width = len(graph.columns) * NODE_WIDTH + (len(graph.columns) - 1) * GAP + 2 * PAD
    where: dict[str, tuple[int, int]] = {}
    boxes: list[str] = []
    for c, column in enumerate(graph.columns):
        x = PAD + c * (NODE_WIDTH + GAP)
        top = PAD + (tallest - len(column)) * ROW // 2
        for r, node in enumerate(column):
            y = top + r * ROW + (ROW - NODE_HEIGHT) // 2
            where[node.key] = (x, y + NODE_HEIGHT // 2)
            boxes.append(_box(node, x, y))
    paths = []
    for source, target in graph.edges:
        if source not in where or target not in where:
            continue
        (x1, y1), (x2, y2) = where[source], where[target]
        x1 += NODE_WIDTH
        mid = (x1 + x2) // 2
        paths.append(f'<path class="edge" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"/>')
    return Markup(
        f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(caption)}</title>'
        + "".join(paths) + "".join(boxes) + "</svg>"
    )


@lru_cache(maxsize=65536)
def _texts(kind: str, label: str, title: str, href: str | None) -> tuple[str, str, str, str | None]:
    """The node's texts escaped, once per node however many pictures it is drawn in."""
    return escape(kind), escape(_short(label)), escape(title or label), None if href is None else escape(href)


def _box(node: Node, x: int, y: int) -> str:
    kind, label, title, href = _texts(node.kind, node.label, node.title, node.href)
    inner = (
        f'<rect class="node {kind}" x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="4"/>'
        f'<text x="{x + 8}" y="{y + NODE_HEIGHT // 2 + 5}">{label}</text><title>{title}</title>'
    )
    if href is None:
        return f"<g>{inner}</g>"
    return f'<a href="{href}">{inner}</a>'
