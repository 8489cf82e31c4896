"""Gateway fixtures: a policy file with one key, the fake upstream, and the gateway in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from llmops_cli.gateway.app import GatewayApp, create_app
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.policy import CompiledPolicy, parse_policy
from llmops_cli.gateway.policy.keys import hash_key
from llmops_cli.gateway.testing.fake_upstream import FakeConfig, FakeUpstream
from llmops_cli.gateway.upstream.http import HttpAdapter

KEY = "llmops-test-key-000000000000000000000000000000000000000000"
OTHER_KEY = "llmops-other-key-00000000000000000000000000000000000000000"
SHIPPED = Path(__file__).resolve().parents[2] / "policies" / "gateway.yaml"


def policy_text(extra: str = "", *, key_models: str = '["*"]', base: str | None = None) -> str:
    """The shipped policy with two keys added (and YAML appended for overrides)."""
    text = (base or SHIPPED.read_text()).replace(
        "  keys: []",
        f'  keys:\n    - {{id: "test", name: "test", hash: "{hash_key(KEY)}", models: {key_models}}}\n'
        f'    - {{id: "other", name: "other", hash: "{hash_key(OTHER_KEY)}", models: ["other-*"]}}',
    )
    return text + extra


def compiled(text: str | None = None) -> CompiledPolicy:
    return CompiledPolicy(parse_policy(text or policy_text(), "gateway.yaml"), "gateway.yaml")


AUTH = {"authorization": f"Bearer {KEY}"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake() -> FakeUpstream:
    return FakeUpstream(FakeConfig(chunk_chars=3))


@pytest.fixture
def make_client(fake: FakeUpstream, tmp_path: Path) -> Callable[..., Any]:
    """Build an in-process client for a gateway with the given policy (text) in front of ``fake``."""
    clients: list[httpx.AsyncClient] = []

    def build(text: str | None = None, *, timeout: float = 5.0, audit: str | None = None) -> httpx.AsyncClient:
        adapter = HttpAdapter("http://upstream", transport=httpx.ASGITransport(fake), timeout=timeout)
        app = create_app(compiled(text), adapter, audit=AuditLog(audit))
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH)
        c.app = app  # type: ignore[attr-defined]
        clients.append(c)
        return c

    return build


@pytest.fixture
async def client(make_client: Callable[..., httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
    c = make_client()
    yield c
    await c.aclose()


def app_of(c: httpx.AsyncClient) -> GatewayApp:
    return c.app  # type: ignore[attr-defined,no-any-return]


def chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"model": "fake-model", "messages": [{"role": "user", "content": content}], **extra}


def sse_text(body: str, field: str = "content") -> str:
    import json

    out = []
    for block in body.split("\n\n"):
        if block.startswith("data: {"):
            ev = json.loads(block[6:])
            for ch in ev.get("choices") or []:
                holder = ch.get("delta", {}) if field == "content" else ch
                out.append(holder.get(field) or "")
    return "".join(out)
