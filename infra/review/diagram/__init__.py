"""`python -m infra diagram`: ``model`` (plan -> Graph), ``render`` (DOT/SVG), ``cli``."""

from infra.review.diagram.cli import main
from infra.review.diagram.model import Graph, GraphEdge, Node, build_graph
from infra.review.diagram.render import render, to_dot

__all__ = ["Graph", "GraphEdge", "Node", "build_graph", "main", "render", "to_dot"]
