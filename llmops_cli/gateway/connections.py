"""The HTTP connection protocol the gateway serves with: uvicorn's httptools protocol plus a deadline for a
request's headers.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but a new connection that sends
nothing, or sends its headers a byte at a time, is held open for as long as the client likes: enough of them
use up the process's file descriptors and memory (slowloris). Here every connection must finish a request's
headers within ``header_timeout`` seconds of opening, or of the first byte of its next request; otherwise it
is answered 408 and closed. A request's body has a deadline of its own, enforced by the app (``admission``),
which can answer it; the body of a request answered without reading it (a wrong key, a path or method not
served, ``/healthz``) stays on the wire, and the connection is kept to drop it (see
``admission.KEEP_ALIVE_UNREAD_BODY``): sent a byte at a time (each byte resets uvicorn's keep-alive timer), it
held the connection for ever, without a key. So every body must have arrived ``body_timeout`` seconds (and a
grace that leaves the app's own 408 first) after its headers, or the connection is closed.

Each connection notes when its headers and its body started; one sweep a second per server closes those that
are overdue.
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
    body_timeout: float = 30.0  # likewise (the app's own body deadline)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers_since: float | None = None  # loop time the current request's headers started
        self.body_since: float | None = None  # loop time its headers ended, until its whole body has arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.headers_since = self.loop.time()
        sweeper = _sweepers.get(self.server_state)
        if sweeper is None or sweeper.done():
            _sweepers[self.server_state] = self.loop.create_task(
                _sweep(self.connections, self.header_timeout, self.body_timeout)
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.headers_since is None:
            self.headers_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.body_since = self.loop.time()
        self.headers_since = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.body_since = None
        super().on_message_complete()

    def headers_overdue(self) -> None:
        self.headers_since = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_408)
            self.transport.close()

    def body_overdue(self) -> None:
        """Close: the body did not arrive in time, and the app (which answers 408 when it reads a body) has
        either answered already or is not reading it."""
        self.body_since = None
        if not self.transport.is_closing():
            self.transport.close()


async def _sweep(connections: set[Any], header_timeout: float, body_timeout: float) -> None:
    """Close the connections of one server whose headers or body are overdue, once a second (or a quarter of a
    deadline), while it has any."""
    interval = min(1.0, header_timeout / 4, body_timeout / 4)
    body_limit = body_timeout + min(2.0, body_timeout / 2)  # the app's own 408 first (its sweep: ``admission``)
    loop = asyncio.get_running_loop()
    while connections:
        await asyncio.sleep(interval)
        now = loop.time()
        for proto in list(connections):
            since = getattr(proto, "headers_since", None)
            if since is not None and now - since > header_timeout:
                proto.headers_overdue()
                continue
            since = getattr(proto, "body_since", None)
            if since is not None and now - since > body_limit:
                proto.body_overdue()
