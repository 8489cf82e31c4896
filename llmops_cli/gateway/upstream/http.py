"""Forward to an OpenAI-compatible base URL (vLLM, llama.cpp server) over one pooled httpx AsyncClient."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from llmops_cli.gateway.upstream.base import UpstreamError, UpstreamResponse


def _translate(e: Exception) -> UpstreamError:
    if isinstance(e, httpx.TimeoutException):
        return UpstreamError("timeout", f"upstream timed out ({type(e).__name__})")
    if isinstance(e, httpx.ConnectError | httpx.ConnectTimeout):
        return UpstreamError("connect", "upstream refused or unreachable")
    return UpstreamError("protocol", f"upstream failed: {type(e).__name__}")


class _Stream:
    def __init__(self, resp: httpx.Response) -> None:
        self._resp = resp
        self.status = resp.status_code
        self.retry_after = resp.headers.get("retry-after")

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._resp.aiter_raw():
                yield chunk
        except httpx.HTTPError as e:
            raise _translate(e) from e

    async def aread(self) -> bytes:
        try:
            return await self._resp.aread()
        except httpx.HTTPError as e:
            raise _translate(e) from e


class HttpAdapter:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_connections: int = 512,
        transport: Any = None,
    ) -> None:
        headers = {"content-type": "application/json", "accept-encoding": "identity"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        self.base_url = base_url.rstrip("/")
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        if transport is None:
            # TCP_NODELAY: h11 writes headers and body separately; with Nagle on, the body waits for the
            # upstream's delayed ACK (milliseconds per request).
            transport = httpx.AsyncHTTPTransport(
                limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
            )
        self.client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            limits=limits,
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # never route model traffic through a proxy picked up from the environment
        )

    def _url(self, path: str) -> str:
        # A vLLM base URL usually ends in /v1 already; our paths start with /v1.
        if self.base_url.endswith("/v1") and path.startswith("/v1/"):
            return path[3:]
        return path

    async def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamResponse:
        try:
            resp = await self.client.request(method, self._url(path), content=body)
        except httpx.HTTPError as e:
            raise _translate(e) from e
        return UpstreamResponse(
            resp.status_code,
            resp.content,
            resp.headers.get("content-type", "application/json"),
            retry_after=resp.headers.get("retry-after"),
        )

    @asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[_Stream]:
        req = self.client.build_request("POST", self._url(path), content=body, headers={"accept": "text/event-stream"})
        try:
            resp = await self.client.send(req, stream=True)
        except httpx.HTTPError as e:
            raise _translate(e) from e
        try:
            yield _Stream(resp)
        finally:
            await resp.aclose()  # on cancel too: closes the upstream connection, so the model stops generating

    async def ready(self) -> bool:
        try:
            resp = await self.client.get(self._url("/v1/models"), timeout=2.0)
        except httpx.HTTPError:
            return False
        return resp.status_code < 500

    async def close(self) -> None:
        await self.client.aclose()
