"""Upstream adapters: ``http`` (any OpenAI-compatible base URL, e.g. vLLM) and ``litellm`` (in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from llmops_cli.gateway.settings import GatewayServerSettings


class UpstreamError(Exception):
    """The upstream could not be reached or failed: ``kind`` is timeout | connect | protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = 504 if kind == "timeout" else 502


@dataclass
class UpstreamResponse:
    status: int
    body: bytes
    content_type: str = "application/json"
    retry_after: str | None = None  # the upstream's Retry-After header, as sent


class UpstreamStream(Protocol):
    status: int

    def aiter_raw(self) -> AsyncIterator[bytes]: ...

    async def aread(self) -> bytes: ...


class Adapter(Protocol):
    async def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamResponse: ...

    def stream(self, path: str, body: bytes) -> AbstractAsyncContextManager[UpstreamStream]: ...

    async def ready(self) -> bool: ...

    async def close(self) -> None: ...


def build_adapter(settings: GatewayServerSettings) -> Adapter:
    """The adapter ``PAC_LLM_PROVIDER`` selects (LiteLLM is imported only when selected)."""
    if settings.provider == "litellm":
        from llmops_cli.gateway.adapters.litellm import LiteLLMAdapter

        return LiteLLMAdapter(
            settings.upstream_url, api_key=settings.upstream_api_key, timeout=settings.upstream_timeout
        )
    if settings.upstream_url.startswith("http://"):
        from llmops_cli.gateway.adapters.pool import PooledHttpAdapter

        return PooledHttpAdapter(
            settings.upstream_url,
            api_key=settings.upstream_api_key,
            timeout=settings.upstream_timeout,
            max_connections=settings.max_connections,
        )
    from llmops_cli.gateway.adapters.http import HttpAdapter

    return HttpAdapter(
        settings.upstream_url,
        api_key=settings.upstream_api_key,
        timeout=settings.upstream_timeout,
        max_connections=settings.max_connections,
    )
