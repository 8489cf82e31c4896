"""A lean pooled HTTP/1.1 client for plain-``http://`` upstreams (vLLM in the cluster), on asyncio protocols
and the ``httptools`` parser that uvicorn uses.

Why not httpx here: measured on the 2-core benchmark machine, one httpx ``AsyncClient.post`` to a local server
costs ~1.3 ms of CPU, more than the whole budget of the gateway (``benchmarks/gateway.py``); this client
costs ~0.1 ms. ``https://`` upstreams and in-process tests still use the httpx adapter.

Each request is one ``write`` (headers and body together) on a keep-alive connection with ``TCP_NODELAY``.
Responses stream with back-pressure (reading pauses when the consumer falls behind). A request on a reused
connection that dies before any response byte is retried once on a fresh one (the server closed an idle
keep-alive connection); nothing else is retried. Cancelling a request closes its connection, so the upstream
sees the disconnect and stops generating.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlsplit

import httptools

from llmops_cli.gateway.upstream.base import UpstreamError, UpstreamResponse

_HIGH_WATER = 1 << 20
_LOW_WATER = 1 << 16
_DRAIN_S = 0.05  # how long a finished stream waits for the end of its HTTP response


class _Conn(asyncio.Protocol):
    """One keep-alive connection. The protocol callbacks record what arrived and wake the one task that uses
    the connection through ``_waiter``; a single timer per connection enforces the timeouts (see ``_until``).
    """

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._deadline = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.content_type = b"application/json"
        self.retry_after: bytes | None = None
        self.headers_complete = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.complete = False
        self.got_bytes = False
        self.error: UpstreamError | None = None
        self._waiter: asyncio.Future[bool] | None = None
        self._paused = False

    # ---------------------------------------------------------------- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("protocol", "upstream tried to upgrade the connection"))
        except httptools.HttpParserError as e:
            self._fail(UpstreamError("protocol", f"upstream sent invalid HTTP: {e}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._disarm()
        if not self.complete:
            self._fail(UpstreamError("protocol", "upstream closed the connection"))

    # ---------------------------------------------------------------- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self.content_type = value
        elif name == b"retry-after":
            self.retry_after = value

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_complete = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > _HIGH_WATER and self.transport is not None and not self._paused:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def on_message_complete(self) -> None:
        self.complete = True
        if not self.parser.should_keep_alive():
            self.close()
        self._wake()

    # ---------------------------------------------------------------- waiting
    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(True)

    async def _until(self, deadline: float) -> bool:
        """Sleep until the connection has news (headers, body, the end, an error) or until ``deadline``
        (``loop.time()``); False when the deadline passed.

        The timer is armed once and outlives the wait: each wait only records its deadline, and the timer,
        when it fires, either ends a wait that is past its deadline or re-arms itself for the current one. A
        timer per wait (``asyncio.wait_for``) would create and cancel a timer handle, a task or future and
        their callbacks for every streamed chunk, and cost an extra turn of the event loop before the
        stream's task runs again."""
        self._deadline = deadline
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)
        self._waiter = w = self.loop.create_future()
        try:
            return await w
        finally:
            self._waiter = None

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.loop.call_at(at, self._on_timer)
        self._timer_at = at

    def _on_timer(self) -> None:
        self._timer = None
        w = self._waiter
        if w is None or w.done():
            return  # nobody is waiting: the next wait arms the timer again
        if self.loop.time() >= self._deadline - 0.001:  # the loop's clock has millisecond resolution
            w.set_result(False)
        else:
            self._arm(self._deadline)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---------------------------------------------------------------- helpers
    def _fail(self, err: UpstreamError) -> None:
        if self.error is None and not self.complete:
            self.error = err
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._disarm()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    async def wait_headers(self, timeout: float) -> None:
        """Until the response's status line and headers are in; raises UpstreamError (timeout, or what went
        wrong on the connection)."""
        deadline = self.loop.time() + timeout
        while not self.headers_complete:
            if self.error is not None:
                raise self.error
            if not await self._until(deadline):
                raise UpstreamError("timeout", f"upstream did not answer within {timeout:g} s")

    async def next_chunk(self, timeout: float) -> bytes | None:
        """All body bytes received so far (several HTTP chunks of one network read come out as one piece, so
        the SSE events they hold are handled together); None at the end of the response. Raises UpstreamError
        when nothing arrives for ``timeout`` seconds."""
        while not self.chunks:
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            if not await self._until(self.loop.time() + timeout):
                raise UpstreamError("timeout", "upstream stopped sending")
        if len(self.chunks) == 1:
            chunk = self.chunks.popleft()
        else:
            chunk = b"".join(self.chunks)
            self.chunks.clear()
        self.buffered -= len(chunk)
        if self._paused and self.buffered < _LOW_WATER and self.transport is not None:
            self.transport.resume_reading()
            self._paused = False
        return chunk


class _Stream:
    """A streamed response; its own async iterator over the body (see ``next_chunk``).

    Not an async generator: the gateway stops reading at ``[DONE]``, and an async generator left suspended
    there is closed by the event loop's finalizer hook, which costs a thread-safe wake-up of the loop (a
    syscall and one more poll) and a task running ``aclose()``, for every stream."""

    def __init__(self, conn: _Conn, timeout: float) -> None:
        self._conn = conn
        self._timeout = timeout
        self.status = conn.status
        self.retry_after = conn.retry_after.decode("latin-1") if conn.retry_after is not None else None

    def aiter_raw(self) -> _Stream:
        return self

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._conn.next_chunk(self._timeout)
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    async def aread(self) -> bytes:
        return b"".join([c async for c in self.aiter_raw()])


class PooledHttpAdapter:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        max_connections: int = 512,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("PooledHttpAdapter serves plain http:// upstreams")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
        self._head = f"Host: {host_header}\r\n{auth}Content-Type: application/json\r\nAccept-Encoding: identity\r\n"
        self.timeout = timeout
        self.connect_timeout = min(connect_timeout, timeout)
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)

    @property
    def idle_connections(self) -> int:
        """Kept-alive upstream connections waiting for reuse (some may have been closed by the upstream since)."""
        return len(self._idle)

    def _path(self, path: str) -> str:
        if self.prefix.endswith("/v1") and path.startswith("/v1/"):
            return self.prefix + path[3:]
        return self.prefix + path

    async def _connect(self) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(_Conn, self.host, self.port), self.connect_timeout)
        except TimeoutError:
            raise UpstreamError("timeout", "connecting to the upstream timed out") from None
        except OSError as e:
            raise UpstreamError("connect", "upstream refused or unreachable") from e
        return conn

    async def _send(self, method: str, path: str, body: bytes | None, accept: str) -> _Conn:
        """Write the request; return the connection once response headers are in."""
        payload = body or b""
        req = (
            f"{method} {self._path(path)} HTTP/1.1\r\n{self._head}Accept: {accept}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        ).encode("latin-1") + payload
        for attempt in (0, 1):
            conn = None
            while self._idle:
                c = self._idle.pop()
                if not c.closed:
                    conn = c
                    break
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            conn._reset()
            assert conn.transport is not None
            conn.transport.write(req)
            try:
                await conn.wait_headers(self.timeout)
            except UpstreamError as e:
                conn.abort()
                if e.kind != "timeout" and reused and attempt == 0 and not conn.got_bytes:
                    continue  # a stale keep-alive connection: retry once on a fresh one
                raise
            except BaseException:
                conn.abort()
                raise
            return conn
        raise UpstreamError("protocol", "upstream closed the connection")

    def _release(self, conn: _Conn) -> None:
        if conn.complete and not conn.closed and conn.error is None:
            self._idle.append(conn)
        else:
            conn.abort()

    async def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamResponse:
        async with self._slots:
            conn = await self._send(method, path, body, "application/json")
            try:
                parts = []
                while True:
                    chunk = await conn.next_chunk(self.timeout)
                    if chunk is None:
                        break
                    parts.append(chunk)
            except BaseException:
                conn.abort()
                raise
            self._release(conn)
            retry_after = conn.retry_after.decode("latin-1") if conn.retry_after is not None else None
            return UpstreamResponse(
                conn.status, b"".join(parts), conn.content_type.decode("latin-1"), retry_after=retry_after
            )

    @asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[_Stream]:
        async with self._slots:
            conn = await self._send("POST", path, body, "text/event-stream")
            try:
                yield _Stream(conn, self.timeout)
            except BaseException:
                conn.abort()  # cancelled (client went away) or failed: the upstream sees the disconnect
                raise
            if not conn.complete:
                # The consumer stopped at `[DONE]`; the chunked terminator is normally right behind it. Wait a
                # little for it (then the connection is reused), else close: every path either returns the
                # connection to the pool or closes it, cancellation included.
                try:
                    deadline = conn.loop.time() + _DRAIN_S
                    while (left := deadline - conn.loop.time()) > 0 and await conn.next_chunk(left) is not None:
                        pass
                except UpstreamError:
                    pass
                except BaseException:
                    conn.abort()
                    raise
            self._release(conn)

    async def ready(self) -> bool:
        try:
            resp = await asyncio.wait_for(self.request("GET", "/v1/models"), 2.0)
        except (UpstreamError, TimeoutError):
            return False
        return resp.status < 500

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
