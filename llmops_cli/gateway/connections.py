"""The HTTP connection protocol the gateway serves with: uvicorn's httptools protocol plus a deadline for a
request's headers.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but a new connection that sends
nothing, or sends its headers a byte at a time, is held open for as long as the client likes: enough of them
use up the process's file descriptors and memory (slowloris). Here every connection must finish a request's
headers within ``header_timeout`` seconds of opening, or of the first byte of its next request; otherwise it
is answered 408 and closed. A request's body has a deadline of its own, enforced by the app (``admission``),
which can answer it.

Each connection notes when its headers started; one sweep a second per server closes those that are overdue.
A timer per request instead would cost 6-10 µs a request with uvloop on the benchmark machine.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_sweepers: weakref.WeakKeyDictionary[Any, asyncio.Task[None]] = weakref.WeakKeyDictionary()


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0  # set by ``serve`` in each worker before the server starts

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers_since: float | None = None  # loop time the current request's headers started

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.headers_since = self.loop.time()
        sweeper = _sweepers.get(self.server_state)
        if sweeper is None or sweeper.done():
            _sweepers[self.server_state] = self.loop.create_task(_sweep(self.connections, self.header_timeout))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.headers_since is None:
            self.headers_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.headers_since = None
        super().on_headers_complete()

    def headers_overdue(self) -> None:
        self.headers_since = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_408)
            self.transport.close()


async def _sweep(connections: set[Any], timeout: float) -> None:
    """Close the connections of one server whose headers are overdue, once a second, while it has any."""
    interval = min(1.0, timeout / 4)
    loop = asyncio.get_running_loop()
    while connections:
        await asyncio.sleep(interval)
        now = loop.time()
        for proto in list(connections):
            since = getattr(proto, "headers_since", None)
            if since is not None and now - since > timeout:
                proto.headers_overdue()
