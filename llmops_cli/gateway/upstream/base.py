"""What every upstream adapter shares: its errors, its reply and stream types, and the ``Adapter`` protocol."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


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
