"""infra.review.diagram: tiers and request path derived from a crafted plan's wiring."""

from __future__ import annotations

import shutil

import pytest

from infra.review import diagram
from tests.plans.fake import plan, res
from tests.review.plans import wired_stack


def test_request_path_follows_the_wiring() -> None:
    g = diagram.build_graph(wired_stack())

    assert g.edge_pairs() == {
        ("clients", "cdn"),
        ("cdn", "alb"),
        ("cdn", "media"),
        ("alb", "web"),
        ("web", "db-primary"),
        ("web", "db-replica-0"),
        ("web", "redis"),
        ("db-primary", "db-replica-0"),
    }
    tiers = {n.label.split("\n")[0]: n.tier for n in g.nodes.values()}
    assert tiers == {
        "clients": "clients",
        "cdn": "edge",
        "alb": "load balancer",
        "web": "app",
        "redis": "cache",
        "db-primary": "database",
        "db-replica-0": "database",
        "media": "storage",
    }


def test_two_wires_on_one_pair_make_one_labelled_edge() -> None:
    g = diagram.build_graph(wired_stack())
    [edge] = [e for e in g.edges if e.src.endswith("::alb") and e.dst.endswith("::web")]
    assert edge.label == ":80 default, tcp 8000"


def test_a_missing_wire_draws_no_edge() -> None:
    doc = wired_stack()
    for r in doc["resources"]:
        if r["name"] == "db-from-app":
            r["inputs"]["referencedSecurityGroupId"] = "sg-unknown"
    pairs = diagram.build_graph(doc).edge_pairs()
    assert ("web", "db-primary") not in pairs and ("web", "redis") in pairs


def test_without_cdn_clients_reach_the_alb() -> None:
    doc = wired_stack(stage="read-replicas")
    doc["resources"] = [
        r for r in doc["resources"] if r["type"] != "aws:cloudfront/distribution:Distribution"
    ]
    assert ("clients", "alb") in diagram.build_graph(doc).edge_pairs()


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` binary not installed")
def test_render_writes_svg_and_png(tmp_path) -> None:
    svg, png = diagram.render(wired_stack(), tmp_path)
    assert svg.name == "dev-edge.svg" and png.name == "dev-edge.png"
    text = svg.read_text()
    assert (
        text.lstrip().startswith("<?xml")
        and "db&#45;replica&#45;0" in text
        and "cluster_cache" in text
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_single_box_path_skips_nat_addresses() -> None:
    doc = plan(
        "single-box",
        [
            res("aws:ec2/instance:Instance", "box", {"instanceType": "t4g.medium"}, id_="i-0001"),
            res("aws:ec2/eip:Eip", "box-eip", {"instance": "i-0001"}),
            res("aws:ec2/eip:Eip", "nat-eip", {"domain": "vpc"}),
        ],
    )
    g = diagram.build_graph(doc)
    assert g.edge_pairs() == {("clients", "box-eip"), ("box-eip", "box")}
    assert "nat-eip" not in {n.label.split("\n")[0] for n in g.nodes.values()}
    [box] = [n for n in g.nodes.values() if n.label.startswith("box\n")]
    assert box.label.endswith("(API + PostgreSQL)")
