"""The pooled HTTP/1.1 upstream client against raw asyncio servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from llmops_cli.gateway.upstream import UpstreamError
from llmops_cli.gateway.upstream.pool import PooledHttpAdapter

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.AbstractServer, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1"


async def _read_request(r: asyncio.StreamReader) -> bytes:
    head = await r.readuntil(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    return head + await r.readexactly(n)


async def test_keep_alive_reuse_chunked_and_request_shape() -> None:
    seen: list[bytes] = []
    conns = 0

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal conns
        conns += 1
        try:
            while True:
                seen.append(await _read_request(r))
                w.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b'3\r\n{"a\r\n4\r\n":1}\r\n0\r\n\r\n'
                )
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            w.close()

    server, url = await _serve(handler)
    a = PooledHttpAdapter(url, api_key="up-secret")
    for _ in range(5):
        resp = await a.request("POST", "/v1/chat/completions", b'{"x":1}')
        assert (resp.status, resp.body) == (200, b'{"a":1}')
    assert conns == 1
    first = seen[0]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Authorization: Bearer up-secret\r\n" in first and first.endswith(b'\r\n\r\n{"x":1}')
    await a.close()
    server.close()


async def test_stale_keep_alive_connection_is_retried_once() -> None:
    conns = 0

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal conns
        conns += 1
        await _read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await w.drain()
        w.close()  # closes the keep-alive connection right after answering, without saying so

    server, url = await _serve(handler)
    a = PooledHttpAdapter(url)
    for _ in range(3):
        assert (await a.request("POST", "/v1/completions", b"{}")).body == b"{}"
        await asyncio.sleep(0.05)
    assert conns == 3
    server.close()


async def test_timeout_garbage_and_early_close() -> None:
    async def hang(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    async def garbage(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _read_request(r)
        w.write(b"NOT HTTP AT ALL\r\n\r\n")
        await w.drain()

    async def early(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}")
        await w.drain()
        w.close()

    for handler, kind in ((hang, "timeout"), (garbage, "protocol"), (early, "protocol")):
        server, url = await _serve(handler)
        with pytest.raises(UpstreamError) as e:
            await PooledHttpAdapter(url, timeout=0.3).request("POST", "/v1/completions", b"{}")
        assert e.value.kind == kind
        server.close()
    with pytest.raises(UpstreamError) as e:
        await PooledHttpAdapter("http://127.0.0.1:9").request("GET", "/v1/models")
    assert e.value.kind == "connect" and e.value.status == 502


async def test_stream_back_pressure_and_cancel_closes_connection() -> None:
    closed = asyncio.Event()

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(2000):
                w.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
                await w.drain()
        except ConnectionError:
            pass
        closed.set()

    server, url = await _serve(handler)
    a = PooledHttpAdapter(url)

    async def consume() -> None:
        async with a.stream("/v1/chat/completions", b"{}") as s:
            async for _ in s.aiter_raw():
                await asyncio.sleep(0.01)  # a slow client

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(closed.wait(), 5)  # the upstream saw the disconnect
    assert a.idle_connections == 0
    server.close()


async def test_only_plain_http() -> None:
    with pytest.raises(ValueError):
        PooledHttpAdapter("https://vllm:8000")


async def test_stream_timeout_is_per_gap_between_chunks() -> None:
    """``timeout`` bounds each silence, not the whole stream: chunks every 0.1 s keep a 0.3 s stream alive
    for a second; then a silence of more than 0.3 s ends it with a timeout, and the connection is not reused."""

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(10):
            w.write(b"2\r\n%02d\r\n" % i)
            await w.drain()
            await asyncio.sleep(0.1)
        await asyncio.sleep(10)  # stalls mid-stream

    server, url = await _serve(handler)
    a = PooledHttpAdapter(url, timeout=0.3)
    got: list[bytes] = []
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(UpstreamError) as e:
        async with a.stream("/v1/chat/completions", b"{}") as s:
            async for chunk in s.aiter_raw():
                got.append(chunk)
    elapsed = loop.time() - t0
    assert e.value.kind == "timeout" and e.value.status == 504
    assert b"".join(got) == b"".join(b"%02d" % i for i in range(10))
    assert 0.9 + 0.3 <= elapsed < 0.9 + 0.3 + 1.0
    assert a.idle_connections == 0
    server.close()


async def test_reused_connection_times_out_on_its_own_deadline() -> None:
    """A keep-alive connection's timer was armed by an earlier request; a shorter wait on it (here the
    adapter's timeout after a quick first answer) still ends on time."""
    answered = 0

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal answered
        await _read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await w.drain()
        answered += 1
        await _read_request(r)  # the second request on the same connection is never answered
        await asyncio.sleep(10)

    server, url = await _serve(handler)
    a = PooledHttpAdapter(url, timeout=5.0)
    assert (await a.request("POST", "/v1/completions", b"{}")).body == b"{}"
    a.timeout = 0.2
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    with pytest.raises(UpstreamError) as e:
        await a.request("POST", "/v1/completions", b"{}")
    assert e.value.kind == "timeout" and 0.2 <= loop.time() - t0 < 1.5
    assert answered == 1
    server.close()


async def test_cancel_while_draining_after_done_closes_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer stopped at ``[DONE]`` and the pool waits for the end of the response; cancelled there
    (shutdown, or a disconnect watcher), the connection must be closed, not left open outside the pool."""
    monkeypatch.setattr("llmops_cli.gateway.upstream.pool._DRAIN_S", 5.0, raising=False)
    eof = asyncio.Event()

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await _read_request(r)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        w.write(b"e\r\ndata: [DONE]\n\n\r\n")  # the terminating chunk never comes
        await w.drain()
        with contextlib.suppress(ConnectionError):
            await r.read()  # returns at EOF: the gateway closed the connection
        eof.set()

    server, url = await _serve(handler)
    a = PooledHttpAdapter(url)
    reached_drain = asyncio.Event()

    async def consume() -> None:
        async with a.stream("/v1/chat/completions", b"{}") as s:
            async for chunk in s.aiter_raw():
                if b"[DONE]" in chunk:
                    break
            reached_drain.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(reached_drain.wait(), 5)
    await asyncio.sleep(0.02)  # inside the drain
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(eof.wait(), 2)
    assert a.idle_connections == 0
    server.close()


async def test_late_end_of_response_closes_and_prompt_one_is_reused() -> None:
    conns = 0
    open_conns = 0

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal conns, open_conns
        conns += 1
        open_conns += 1
        try:
            while True:
                req = await _read_request(r)
                delay = 0.3 if b"late" in req else 0.0
                w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
                w.write(b"e\r\ndata: [DONE]\n\n\r\n")
                await w.drain()
                await asyncio.sleep(delay)
                w.write(b"0\r\n\r\n")
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            open_conns -= 1

    server, url = await _serve(handler)
    a = PooledHttpAdapter(url)
    for body in (b"{}", b"{}", b'{"late":1}', b"{}"):
        async with a.stream("/v1/chat/completions", body) as s:
            async for chunk in s.aiter_raw():
                if b"[DONE]" in chunk:
                    break
    await asyncio.sleep(0.5)
    assert conns == 2  # reused until the late one, which was closed (not leaked)
    assert open_conns == a.idle_connections == 1
    await a.close()
    server.close()
