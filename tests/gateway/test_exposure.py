"""What the gateway shows without a key (issue 22, Medium 8): no metrics on the API port, and a readiness
answer made of status words; metrics on a port of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from llmops_cli.gateway.app import create_app
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.reload import PolicyHolder
from llmops_cli.gateway.testing.fake_upstream import FakeUpstream
from llmops_cli.gateway.upstream.http import HttpAdapter

from .conftest import AUTH, chat, policy_text

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]
WORDS = {"ok", "unavailable", "failing", "off", "stale", "shared", "local"}


@pytest.mark.parametrize("audit_target", [None, "file", "/dev/full"])
@pytest.mark.parametrize("upstream_up", [True, False])
async def test_readyz_is_status_words_and_metrics_are_not_on_the_api_port(
    tmp_path: Path, audit_target: str | None, upstream_up: bool
) -> None:
    policy = tmp_path / "gateway.yaml"
    policy.write_text(policy_text())
    holder = PolicyHolder.from_file(policy)
    policy.write_text(policy_text() + "\nbogus: 1\n")  # deliberately not a policy the model accepts
    holder.reload()  # a failed reload: its error text names the file and the key
    assert holder.last_error
    transport: Any = httpx.ASGITransport(FakeUpstream()) if upstream_up else httpx.MockTransport(_refuse)
    target = str(tmp_path / "a.jsonl") if audit_target == "file" else audit_target
    app = create_app(holder, HttpAdapter("http://u", transport=transport), audit=AuditLog(target))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as c:
        await c.post("/v1/chat/completions", json=chat("hi"), headers=AUTH)  # a record (failing on /dev/full)
        r = await c.get("/readyz")
        body = r.json()
        assert set(body.values()) <= WORDS, body
        assert str(tmp_path) not in r.text and "bogus" not in r.text and body["policy"] == "stale"
        assert r.status_code == (200 if upstream_up and audit_target != "/dev/full" else 503)
        for path in ("/metrics", "/metrics/"):
            assert (await c.get(path)).status_code == 404


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def test_metrics_are_served_on_their_own_port(tmp_path: Path) -> None:
    from llmops_cli.gateway.serve import prepare
    from llmops_cli.gateway.settings import GatewayServerSettings

    policy = tmp_path / "gateway.yaml"
    policy.write_text(policy_text())
    settings = GatewayServerSettings(policy_file=str(policy), port=0, metrics_port=0, audit_log="")
    prepared = prepare(settings)
    try:
        assert prepared.metrics_address is not None
        text = httpx.get(f"http://{prepared.metrics_address}/metrics").text
        assert "llmops_gateway_requests_total" in text and "llmops_gateway_in_flight_requests 0.0" in text
    finally:
        prepared.close()


@pytest.mark.parametrize("data", [b"", b"GET /metrics HTTP/1.1\r\nHost: x\r\n"])
def test_the_metrics_port_closes_a_connection_that_does_not_send_its_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    """prometheus_client's server gives each connection a thread and waits for its request for ever: connections
    that send nothing (or half a request) took a thread each, in the gateway's own process, until it could start
    none (its DNS look-ups for the upstream run on threads too)."""
    import socket
    import time

    from llmops_cli.gateway import metrics
    from llmops_cli.gateway.serve import prepare
    from llmops_cli.gateway.settings import GatewayServerSettings

    monkeypatch.setattr(metrics, "SCRAPE_TIMEOUT", 0.5, raising=False)
    policy = tmp_path / "gateway.yaml"
    policy.write_text(policy_text())
    prepared = prepare(GatewayServerSettings(policy_file=str(policy), port=0, metrics_port=0, audit_log=""))
    try:
        assert prepared.metrics_address is not None
        host, port = prepared.metrics_address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(data)
            t0 = time.monotonic()
            while s.recv(4096):  # until the server closes it (a timeout here: it never did)
                pass
            assert time.monotonic() - t0 < 3
        assert "llmops_gateway_requests_total" in httpx.get(f"http://{prepared.metrics_address}/metrics").text
    finally:
        prepared.close()
