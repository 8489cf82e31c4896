"""Gateway fixtures: a policy file with one key, the fake upstream, and the gateway in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
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


def _test_keys(key_models: list[str], other_models: list[str] | None = None) -> list[dict[str, Any]]:
    return [
        {"id": "test", "name": "test", "hash": hash_key(KEY), "models": key_models},
        {"id": "other", "name": "other", "hash": hash_key(OTHER_KEY), "models": other_models or ["other-*"]},
    ]


def policy_text(extra: str = "", *, key_models: str = '["*"]', base: str | None = None) -> str:
    """The shipped policy's text, comments and layout kept, with the two test keys (and YAML appended). To change
    a setting, prefer :func:`policy_with`: an edit of this text that stops matching the shipped wording would
    leave a test running on the unchanged policy."""
    import json

    text = (base or SHIPPED.read_text()).replace(
        "  keys: []",
        "  keys:\n" + "\n".join(f"    - {json.dumps(k)}" for k in _test_keys(json.loads(key_models))),
    )
    return text + extra


def policy_with(
    changes: Mapping[str, Any] | None = None,
    *,
    key_models: tuple[str, ...] = ("*",),
    other_models: tuple[str, ...] = ("other-*",),
    validate: bool = True,
) -> str:
    """The shipped policy, parsed, with the two test keys and ``changes`` (dotted path → value, e.g.
    ``{"limits.requests_per_minute": 2}``) set on the parsed model; a path the model does not have is an error.
    ``validate=False`` skips checking the result, for a test of how the gateway refuses a bad value."""
    import yaml

    from llmops_cli.gateway.policy.model import Policy

    data = parse_policy(SHIPPED.read_text(), str(SHIPPED)).model_dump(mode="json")
    data["auth"]["keys"] = _test_keys(list(key_models), list(other_models))
    for dotted, value in (changes or {}).items():
        *parents, leaf = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise KeyError(f"the gateway policy has no {dotted}")
        node[leaf] = value
    if validate:
        Policy.model_validate(data)  # the changed policy is one the gateway accepts
    return yaml.safe_dump(data, sort_keys=False)


def compiled(text: str | None = None) -> CompiledPolicy:
    return CompiledPolicy(parse_policy(text or policy_text(), "gateway.yaml"), "gateway.yaml")


def output_pii_policies() -> dict[str, CompiledPolicy]:
    """The shipped policy with every output detector redacting (as shipped), only logging, and with e-mail
    addresses denied: the three ways a reply's text can be treated."""
    kinds = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret")
    return {
        "redact": compiled(),
        "log": compiled(policy_with({f"content.pii.output.{k}": "log" for k in kinds})),
        "deny": compiled(policy_with({"content.pii.output.email": "deny"})),
    }


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
