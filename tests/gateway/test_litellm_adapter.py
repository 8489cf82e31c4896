"""The LiteLLM adapter against a stand-in ``litellm`` module (the real package is optional)."""

from __future__ import annotations

import json
import os
import sys
import types
from typing import Any

import httpx
import pytest

from llmops_cli.errors import ToolMissing
from llmops_cli.gateway.app import create_app
from llmops_cli.gateway.settings import GatewayServerSettings
from llmops_cli.gateway.upstream import build_adapter

from .conftest import AUTH, chat, compiled, sse_text

pytestmark = pytest.mark.anyio


class Chunk:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def model_dump(self, exclude_none: bool = False) -> dict[str, Any]:
        return self.data


@pytest.fixture
def fake_litellm(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    mod = types.ModuleType("litellm")

    async def acompletion(**kw: Any) -> Any:
        calls.append(kw)
        if kw.get("stream"):

            async def gen() -> Any:
                for piece in ["mail ", "x@exa", "mple.com", " ok"]:
                    yield Chunk(
                        {
                            "id": "c",
                            "object": "chat.completion.chunk",
                            "model": kw["model"],
                            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                        }
                    )
                yield Chunk(
                    {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "model": kw["model"],
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    }
                )

            return gen()
        return Chunk(
            {
                "id": "c",
                "object": "chat.completion",
                "model": kw["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "call 212-555-0199"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 2},
            }
        )

    mod.acompletion = acompletion  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "litellm", mod)
    monkeypatch.delenv("LITELLM_LOCAL_MODEL_COST_MAP", raising=False)
    return calls


async def test_litellm_adapter_round_trip(fake_litellm: list[dict[str, Any]]) -> None:
    s = GatewayServerSettings(provider="litellm", upstream_url="http://vllm:8000", upstream_api_key="up-key")
    adapter = build_adapter(s)
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    app = create_app(compiled(), adapter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        steer = {"headers": {"Authorization": "Bearer stolen"}, "mock_response": "x", "timeout": 999}
        r = await c.post("/v1/chat/completions", json={**chat("hi", top_k=3), "api_base": "http://evil", **steer})
        assert r.json()["choices"][0]["message"]["content"] == "call [REDACTED:PHONE]"
        call = fake_litellm[-1]
        assert call["api_base"] == "http://vllm:8000/v1" and call["api_key"] == "up-key"
        assert call["model"] == "openai/fake-model" and call["timeout"] == 60.0
        # LiteLLM reads only what it needs as its parameters; the request's other fields go to the upstream
        # verbatim in extra_body (api_base is stripped by the engine before this point).
        assert set(call) == {"model", "messages", "extra_body", "api_base", "api_key", "timeout", "max_retries"}
        assert call["max_retries"] == 0
        assert call["extra_body"] == {"top_k": 3, **steer, "max_tokens": 1024}  # the policy's default, bound
        r = await c.post("/v1/chat/completions", json=chat("hi", stream=True))
        assert sse_text(r.text) == "mail [REDACTED:EMAIL] ok"
        assert r.text.endswith("data: [DONE]\n\n")
        call = fake_litellm[-1]
        assert call["stream"] is True and json.dumps(call["stream_options"]) == '{"include_usage": true}'
        assert call["extra_body"] == {"max_tokens": 1024}


def test_litellm_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)
    with pytest.raises(ToolMissing, match="litellm"):
        build_adapter(GatewayServerSettings(provider="litellm"))
