"""A minimal pipelining Redis client (RESP2) on one asyncio connection, for the shared rate limits.

Why not redis-py: the gateway sends one short script call per admitted request and one per finished request,
concurrently from every in-flight request. One connection carries all of them: each command is one ``write``,
replies come back in command order (Redis guarantees it), and a FIFO of futures matches them, so there is no
connection pool, no lock and no per-call task. The client speaks only what the limiter needs: AUTH, SELECT,
EVALSHA/EVAL, PING, and the reply types of RESP2.

``redis://[[user]:password@]host[:port][/db]`` or ``rediss://`` (TLS, certificate verified). The password may
instead be passed to :meth:`RedisURL.parse` (``serve`` reads it from ``PAC_REDIS_PASSWORD_FILE`` or
``PAC_REDIS_PASSWORD``, see ``settings.redis_password``), so that the URL holds none.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

_MAX_REPLY = 1 << 20  # replies here are a few bytes; anything this large is not a Redis we understand


class StoreError(Exception):
    """The store cannot answer. ``kind``: ``connect`` (cannot connect, or AUTH/SELECT refused), ``timeout``,
    ``lost`` (not connected, or the connection dropped) or ``protocol``."""

    def __init__(self, message: str, kind: str = "lost") -> None:
        super().__init__(message)
        self.kind = kind


class RespError(Exception):
    """An error reply (``-ERR ...``, ``-NOSCRIPT ...``) to one command; the connection stays usable."""


class _Incomplete(Exception):
    pass


@dataclass(frozen=True)
class RedisURL:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str, password: str | None = None) -> RedisURL:
        """ValueError naming what is wrong (never echoing the password)."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError("must start with redis:// or rediss://")
        if not parts.hostname:
            raise ValueError("has no host")
        try:
            port = parts.port or 6379
        except ValueError:
            raise ValueError("has an invalid port") from None
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError("database must be a number (redis://host:6379/0)")
        if parts.query or parts.fragment:
            raise ValueError("takes no query or fragment")
        return cls(
            host=parts.hostname,
            port=port,
            db=int(path or 0),
            username=unquote(parts.username) if parts.username else None,
            password=password or (unquote(parts.password) if parts.password else None),
            tls=parts.scheme == "rediss",
        )

    def safe(self) -> str:
        """The URL without credentials, for logs."""
        return f"{'rediss' if self.tls else 'redis'}://{self.host}:{self.port}/{self.db}"


def encode(*args: bytes | str | int | float) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n" % len(b))
        out.append(b)
        out.append(b"\r\n")
    return b"".join(out)


def parse(buf: bytearray | bytes, pos: int = 0) -> tuple[Any, int]:
    """One reply from ``buf[pos:]``: (value, position after it). Raises _Incomplete when more bytes are needed.
    Error replies come back as RespError values (not raised), so an array may hold them."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind = buf[pos]
    line = bytes(buf[pos + 1 : end])
    nxt = end + 2
    if kind == 0x2B:  # +
        return line.decode("utf-8", "replace"), nxt
    if kind == 0x2D:  # -
        return RespError(line.decode("utf-8", "replace")), nxt
    if kind == 0x3A:  # :
        return int(line), nxt
    if kind == 0x24:  # $
        n = int(line)
        if n < 0:
            return None, nxt
        if n > _MAX_REPLY:
            raise StoreError("reply too large", "protocol")
        if len(buf) < nxt + n + 2:
            raise _Incomplete
        return bytes(buf[nxt : nxt + n]), nxt + n + 2
    if kind == 0x2A:  # *
        n = int(line)
        if n < 0:
            return None, nxt
        items = []
        for _ in range(n):
            value, nxt = parse(buf, nxt)
            items.append(value)
        return items, nxt
    raise StoreError(f"unexpected reply type {chr(kind)!r}", "protocol")


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # TCP_NODELAY is already set: asyncio and uvloop both set it on every TCP transport.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.buf:
            try:
                value, pos = parse(self.buf)
            except _Incomplete:
                if len(self.buf) > _MAX_REPLY:
                    self._lose(StoreError("reply too large", "protocol"))
                return
            except (StoreError, ValueError) as e:
                self._lose(StoreError(f"protocol error: {e}", "protocol"))
                return
            del self.buf[:pos]
            if not self.waiters:
                self._lose(StoreError("reply to no command", "protocol"))
                return
            fut = self.waiters.popleft()
            if not fut.done():  # a caller that timed out has gone; its reply is only consumed
                if isinstance(value, RespError):
                    fut.set_exception(value)
                else:
                    fut.set_result(value)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_all(StoreError("connection lost"))

    def _lose(self, err: StoreError) -> None:
        self._fail_all(err)
        if self.transport is not None:
            self.transport.abort()

    def _fail_all(self, err: StoreError) -> None:
        self.closed = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_exception(err)


class RedisClient:
    """One connection, opened by :meth:`connect` and again after it was lost (the caller decides when)."""

    def __init__(self, url: RedisURL, timeout: float = 0.1) -> None:
        self.url = url
        self.timeout = timeout
        self._proto: _Protocol | None = None
        self._scripts: dict[str, bytes] = {}
        # Timeouts: one timer for all pending commands rather than ``asyncio.wait_for`` per call (a timer
        # handle and callbacks each, ~17 us of CPU per call on the benchmark VM). Deadlines only grow along
        # the FIFO, so the timer always waits for the oldest command still pending.
        self._deadlines: deque[tuple[float, float, asyncio.Future[Any]]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def connected(self) -> bool:
        return self._proto is not None and not self._proto.closed

    async def connect(self) -> None:
        """Open the connection (AUTH and SELECT included); StoreError when that fails or takes longer than
        ten times the command timeout."""
        self.close()
        loop = asyncio.get_running_loop()
        ctx = ssl.create_default_context() if self.url.tls else None
        try:
            _, proto = await asyncio.wait_for(
                loop.create_connection(
                    _Protocol, self.url.host, self.url.port, ssl=ctx, server_hostname=self.url.host if ctx else None
                ),
                self.timeout * 10,
            )
        except (OSError, TimeoutError) as e:
            raise StoreError(f"cannot connect to {self.url.safe()}: {type(e).__name__}: {e}", "connect") from None
        self._proto = proto
        try:
            if self.url.password is not None:
                auth = (self.url.username, self.url.password) if self.url.username else (self.url.password,)
                await self.call("AUTH", *auth, timeout=self.timeout * 10)
            if self.url.db:
                await self.call("SELECT", self.url.db, timeout=self.timeout * 10)
        except RespError as e:
            self.close()
            # The server's words (WRONGPASS, NOAUTH, DB index out of range) never include the password.
            raise StoreError(f"{self.url.safe()} refused the connection: {e}", "connect") from None
        except StoreError:
            self.close()
            raise

    def send(self, *args: bytes | str | int | float, timeout: float | None = None) -> asyncio.Future[Any]:
        """Write one command now; its reply arrives in the returned future: the value, or RespError, or
        StoreError (``timeout`` after ``timeout`` seconds, default the client's; ``lost``). Nobody has to
        await it: the reply is still consumed in order."""
        proto = self._proto
        if proto is None or proto.closed or proto.transport is None:
            raise StoreError("not connected")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        proto.waiters.append(fut)
        proto.transport.write(encode(*args))
        limit = self.timeout if timeout is None else timeout
        deadline = loop.time() + limit
        self._deadlines.append((deadline, limit, fut))
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._expire)
        return fut

    def _expire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() + 0.001  # the loop's clock has millisecond resolution
        q = self._deadlines
        while q:
            deadline, limit, fut = q[0]
            if not fut.done():
                if deadline > now:
                    self._timer = loop.call_at(deadline, self._expire)
                    return
                # Its reply may still come: the protocol consumes it for this done future.
                fut.set_exception(StoreError(f"{self.url.safe()} did not answer within {limit * 1000:g} ms", "timeout"))
            q.popleft()

    async def call(self, *args: bytes | str | int | float, timeout: float | None = None) -> Any:
        return await self.send(*args, timeout=timeout)

    def script_send(self, script: str, keys: list[str], args: list[bytes | str | int | float]) -> asyncio.Future[Any]:
        """EVALSHA (the script by its hash); see :meth:`script` for NOSCRIPT."""
        sha = self._scripts.get(script)
        if sha is None:
            sha = self._scripts[script] = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest().encode()
        return self.send(b"EVALSHA", sha, len(keys), *keys, *args)

    async def script(self, script: str, keys: list[str], args: list[bytes | str | int | float]) -> Any:
        """Run a Lua script: EVALSHA, and EVAL (which also caches it) the first time a server has not seen it."""
        try:
            return await self.script_send(script, keys, args)
        except RespError as e:
            if not str(e).startswith("NOSCRIPT"):
                raise
        return await self.send(b"EVAL", script, len(keys), *keys, *args)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._deadlines.clear()  # their futures end with the connection (StoreError "lost")
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None and not proto.closed:
            proto.transport.close()
