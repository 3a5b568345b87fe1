"""Drawing a Graph: graphviz DOT, written as .dot and .svg."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra import REPO_ROOT
from infra.paths import output_dir
from infra.review.diagram.model import TIER_ORDER, Graph, GraphEdge, build_graph

OUT = REPO_ROOT / "build" / "diagrams"
COLORS = {
    "clients": "#eeeeee",
    "edge": "#fde7c8",
    "load balancer": "#e3ecfa",
    "public IP": "#e3ecfa",
    "app": "#e2f4e4",
    "cache": "#fbe0e0",
    "database": "#ece3f7",
    "storage": "#fff6cc",
}


def to_dot(g: Graph) -> Any:
    import graphviz

    dot = graphviz.Digraph(
        g.title,
        graph_attr={
            "rankdir": "LR",
            "label": g.title,
            "labelloc": "t",
            "fontname": "Helvetica",
            "fontsize": "16",
            "nodesep": "0.3",
            "compound": "true",
            "ranksep": "0.8",
        },
    )
    dot.attr("node", fontname="Helvetica", fontsize="10", style="filled")
    dot.attr("edge", fontname="Helvetica", fontsize="9")
    for tier in TIER_ORDER:
        members = [n for n in g.nodes.values() if n.tier == tier]
        if not members:
            continue
        with dot.subgraph(name=f"cluster_{tier.replace(' ', '_')}") as sub:
            sub.attr(label=tier, style="rounded,filled", color="#bbbbbb", fillcolor=COLORS[tier])
            for n in members:
                sub.node(_safe(n.id), n.label, shape=n.shape, fillcolor="white")
    # One wire that reaches several nodes of a tier (the app's group admitted by the DB
    # group reaches the primary and every replica) is drawn once, to the tier's box.
    fan: dict[tuple[str, str, str, str], list[GraphEdge]] = {}
    for e in g.edges:
        fan.setdefault((e.src, e.label, e.style, g.nodes[e.dst].tier), []).append(e)
    for (src, label, style, tier), edges in fan.items():
        if len(edges) > 1 and tier != g.nodes[src].tier:
            dot.edge(
                _safe(src),
                _safe(edges[0].dst),
                f"{label} (x{len(edges)})",
                style=style,
                lhead=f"cluster_{tier.replace(' ', '_')}",
            )
            continue
        for e in edges:
            dot.edge(_safe(e.src), _safe(e.dst), e.label, style=e.style)
    return dot


def _safe(node_id: str) -> str:
    return node_id.replace(":", "_").replace("$", "_").replace("/", "_")


def render(plan: dict, out_dir: Path = OUT) -> tuple[Path, Path]:
    g = build_graph(plan)
    dot = to_dot(g)
    stem = out_dir / f"{plan.get('env', 'x')}-{plan.get('stage', 'x')}"
    output_dir(out_dir, "diagram directory")
    svg = Path(dot.render(filename=stem.name, directory=out_dir, format="svg", cleanup=True))
    png = Path(dot.render(filename=stem.name, directory=out_dir, format="png", cleanup=True))
    return svg, png
