"""Upstream adapters: ``http`` (any OpenAI-compatible base URL, e.g. vLLM) and ``litellm`` (in-process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops_cli.gateway.upstream.base import Adapter, UpstreamError, UpstreamResponse, UpstreamStream

if TYPE_CHECKING:
    from llmops_cli.gateway.settings import GatewayServerSettings

__all__ = ["Adapter", "UpstreamError", "UpstreamResponse", "UpstreamStream", "build_adapter"]


def build_adapter(settings: GatewayServerSettings) -> Adapter:
    """The adapter ``PAC_LLM_PROVIDER`` selects (LiteLLM is imported only when selected)."""
    if settings.provider == "litellm":
        from llmops_cli.gateway.upstream.litellm import LiteLLMAdapter

        return LiteLLMAdapter(
            settings.upstream_url, api_key=settings.upstream_api_key, timeout=settings.upstream_timeout
        )
    if settings.upstream_url.startswith("http://"):
        from llmops_cli.gateway.upstream.pool import PooledHttpAdapter

        return PooledHttpAdapter(
            settings.upstream_url,
            api_key=settings.upstream_api_key,
            timeout=settings.upstream_timeout,
            max_connections=settings.max_connections,
        )
    from llmops_cli.gateway.upstream.http import HttpAdapter

    return HttpAdapter(
        settings.upstream_url,
        api_key=settings.upstream_api_key,
        timeout=settings.upstream_timeout,
        max_connections=settings.max_connections,
    )
