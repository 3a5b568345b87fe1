"""Who may read /metrics: loopback and MOVIES_METRICS_ALLOW_CIDRS, nobody else.

At the single box the service is the public entry point (no ALB to answer 404), so the
service itself refuses other addresses, and X-Forwarded-For is believed only from those
same networks (else `X-Forwarded-For: 127.0.0.1` from the internet would get in).
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from movies_api.__main__ import trusted_proxies
from movies_api.app import create_app
from movies_api.metrics import client_allowed
from movies_api.settings import LOOPBACK, SettingsError, load_settings
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tests.app.test_deploy import SINGLE_BOX, env_file, render

INTERNET = "203.0.113.9"  # TEST-NET-3
VPC = "10.0.0.0/16"
ALB_PEER = "10.0.1.57"  # an ALB node's private address inside the VPC


def _networks(value: str) -> tuple[Any, ...]:
    return load_settings(
        {"MOVIES_METRICS_ALLOW_CIDRS": value}, need_db=False
    ).metrics_allow_networks


def test_loopback_is_the_default_and_cidrs_add_to_it() -> None:
    assert load_settings({}, need_db=False).metrics_allow_networks == LOOPBACK
    networks = _networks(f" {VPC} , fd00::/8,")
    assert networks == (*LOOPBACK, ipaddress.ip_network(VPC), ipaddress.ip_network("fd00::/8"))
    # Naming loopback again does not duplicate it.
    assert _networks("127.0.0.0/8") == LOOPBACK


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "vpc", "10.0.0.1/16"])
def test_a_bad_cidr_is_refused_in_one_line(bad: str) -> None:
    with pytest.raises(SettingsError) as caught:
        _networks(f"{VPC},{bad}")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"MOVIES_METRICS_ALLOW_CIDRS: {bad!r} is not a network")
    assert "10.0.0.0/16" in message  # says what is allowed


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # a dual-stack listener's IPv4 loopback
        ("10.0.200.3", True),
        ("10.1.0.3", False),
        (INTERNET, False),
        ("::ffff:203.0.113.9", False),
        ("2001:db8::1", False),
        ("", False),
        (None, False),
        ("not-an-address", False),
    ],
)
def test_client_allowed(host: str | None, allowed: bool) -> None:
    assert client_allowed(host, _networks(VPC)) is allowed


def test_uvicorn_believes_forwarded_for_only_from_the_allowed_networks() -> None:
    settings = load_settings({"MOVIES_METRICS_ALLOW_CIDRS": VPC}, need_db=False)
    assert trusted_proxies(settings) == f"127.0.0.0/8,::1/128,{VPC}"


def test_the_rendered_settings_file_carries_the_allow_list() -> None:
    written = env_file(render({**SINGLE_BOX, "metrics_allow_cidrs": VPC}))
    assert written["MOVIES_METRICS_ALLOW_CIDRS"] == VPC
    settings = load_settings({**written, "MOVIES_DATABASE_URL": "postgresql://h/db"})
    assert ipaddress.ip_network(VPC) in settings.metrics_allow_networks
    # Without a value the line is left out and the service keeps loopback only.
    assert "MOVIES_METRICS_ALLOW_CIDRS" not in env_file(
        render({**SINGLE_BOX, "metrics_allow_cidrs": ""})
    )


@pytest.mark.servers
@pytest.mark.anyio
class TestServed:
    """The real app (lifespan, database, Redis) with the client address set per request."""

    @pytest.fixture
    def serve(self, servers: Any):
        @asynccontextmanager
        async def factory(
            peer: str, *, behind_uvicorn: bool = False
        ) -> AsyncIterator[httpx.AsyncClient]:
            settings = servers.settings(MOVIES_METRICS_ALLOW_CIDRS=VPC)
            app = create_app(settings)
            # As `movies_api serve` runs it: uvicorn's proxy-header handling in front.
            asgi = ProxyHeadersMiddleware(app, trusted_proxies(settings)) if behind_uvicorn else app
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=asgi, client=(peer, 40000))
                async with httpx.AsyncClient(transport=transport, base_url="http://app") as c:
                    yield c

        return factory

    async def test_loopback_gets_the_metrics(self, serve) -> None:
        async with serve("127.0.0.1") as client:
            r = await client.get("/metrics")
            assert r.status_code == 200
            assert "movies_requests_total" in r.text
            assert r.headers["content-type"].startswith("text/plain")

    async def test_the_vpc_gets_the_metrics(self, serve) -> None:
        async with serve("10.0.3.4") as client:
            assert (await client.get("/metrics")).status_code == 200

    async def test_an_internet_address_gets_404_and_nothing_else(self, serve) -> None:
        async with serve(INTERNET) as client:
            r = await client.get("/metrics")
            assert r.status_code == 404
            assert "movies_" not in r.text
            assert r.headers["cache-control"] == "no-store"
            # The rest of the API still answers that client.
            assert (await client.get("/healthz")).status_code == 200

    async def test_a_forged_forwarded_for_does_not_get_in(self, serve) -> None:
        async with serve(INTERNET, behind_uvicorn=True) as client:
            r = await client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
            assert r.status_code == 404

    async def test_behind_the_alb_the_real_client_decides(self, serve) -> None:
        async with serve(ALB_PEER, behind_uvicorn=True) as client:
            # The ALB appends the internet client's address; uvicorn believes the ALB.
            r = await client.get("/metrics", headers={"X-Forwarded-For": INTERNET})
            assert r.status_code == 404
            # A scraper inside the VPC hitting the instance directly (no proxy header).
            assert (await client.get("/metrics")).status_code == 200
