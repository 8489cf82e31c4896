"""Request-path reliability: what is charged and audited when a stream ends early, disconnects that are no
disconnects, bounded metric labels, the max_tokens cap upstream, and upstream bytes that were not checked."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from llmops_cli.gateway.app import GatewayApp, create_app
from llmops_cli.gateway.audit import AuditLog
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.testing.fake_upstream import FakeUpstream
from llmops_cli.gateway.upstream import UpstreamError, UpstreamResponse
from llmops_cli.gateway.upstream.pool import PooledHttpAdapter

from .conftest import KEY, OTHER_KEY, app_of, chat, compiled, policy_with, sse_text

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

Msgs = list[dict[str, Any]]


def _event(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text is not None else {}
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


class _Scripted:
    """An upstream stream that yields ``reads`` and then hangs (``then="hang"``) or fails (``"fail"``)."""

    status = 200

    def __init__(self, reads: list[bytes], then: str) -> None:
        self.reads, self.then = reads, then

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        for r in self.reads:
            yield r
            await asyncio.sleep(0)
        if self.then == "fail":
            raise UpstreamError("protocol", "upstream closed the connection")
        await asyncio.Event().wait()

    async def aread(self) -> bytes:
        return b""


class ScriptedAdapter:
    def __init__(self, reads: list[bytes] | None = None, then: str = "hang", unary: bytes = b"{}") -> None:
        self.reads, self.then, self.unary = reads or [], then, unary

    async def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamResponse:
        return UpstreamResponse(200, self.unary)

    @contextlib.asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[_Scripted]:
        yield _Scripted(self.reads, self.then)

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        pass


def _complete(msgs: Msgs) -> bool:
    m = msgs[-1]
    return m["type"] == "http.response.body" and not m.get("more_body")


async def drive(app: GatewayApp, body: dict[str, Any], disconnect_when: Callable[[Msgs], bool] = _complete) -> Msgs:
    """One request through the raw ASGI interface. ``receive`` answers ``http.disconnect`` once
    ``disconnect_when(sent messages)`` holds; by default when the response is complete, as uvicorn does."""
    msgs: Msgs = []
    gone = asyncio.Event()
    request = [{"type": "http.request", "body": orjson.dumps(body), "more_body": False}]

    async def receive() -> dict[str, Any]:
        if request:
            return request.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(m: dict[str, Any]) -> None:
        msgs.append(m)
        if disconnect_when(msgs):
            gone.set()
        await asyncio.sleep(0)

    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}
    await app(scope, receive, send)
    return msgs


def _sent_text(msgs: Msgs) -> str:
    return sse_text(b"".join(m.get("body", b"") for m in msgs if m["type"] == "http.response.body").decode())


def _audit(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("end", ["client_disconnect", "upstream_failure"])
async def test_a_stream_cut_short_charges_and_audits_what_was_released(tmp_path: Path, end: str) -> None:
    reads = [_event("word " * 40) for _ in range(4)]
    adapter = ScriptedAdapter(reads, then="hang" if end == "client_disconnect" else "fail")
    audit = tmp_path / "audit.jsonl"
    app = create_app(compiled(), adapter, audit=AuditLog(str(audit)))  # type: ignore[arg-type]
    app.admission.limiter = Limiter(lambda: 1000.0)  # no refill while the request runs
    bodies = 0

    def after_three_bodies(msgs: Msgs) -> bool:
        nonlocal bodies
        bodies += msgs[-1]["type"] == "http.response.body"
        return end == "client_disconnect" and bodies >= 3

    msgs = await drive(app, chat("hi", stream=True, max_tokens=1000), after_three_bodies)
    released = _sent_text(msgs)
    assert len(released) > 200
    rec = _audit(audit)[-1]
    assert rec["status"] == (499 if end == "client_disconnect" else 200)
    expected = len(released) // 4 + 1
    assert rec["tokens"]["completion"] == expected  # was 0: the whole reservation was refunded
    bucket = app.admission.limiter._tpm["test"]
    assert bucket.capacity - bucket.level == rec["tokens"]["prompt"] + expected


@pytest.mark.parametrize("terminator_delay", [0.01, 0.2])
async def test_done_then_late_end_of_response_is_not_a_disconnect_and_leaks_no_connection(
    tmp_path: Path, terminator_delay: float
) -> None:
    """The upstream ends its chunked body a little after ``[DONE]``; meanwhile uvicorn answers ``receive``
    with ``http.disconnect`` because the client's response is complete. That is a finished request (200), and
    its upstream connection goes back to the pool (terminator in time) or is closed (too late), never left
    open outside the pool."""
    open_conns = 0
    body = (
        _event("hello world")
        + _event(finish="stop")
        + b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"fake-model","choices":[],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}\n\n' + b"data: [DONE]\n\n"
    )

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        nonlocal open_conns
        open_conns += 1
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                n = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await r.readexactly(n)
                w.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"%x\r\n" % len(body)
                    + body
                    + b"\r\n"
                )
                await w.drain()
                await asyncio.sleep(terminator_delay)
                w.write(b"0\r\n\r\n")
                await w.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            open_conns -= 1
            w.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    adapter = PooledHttpAdapter(f"http://127.0.0.1:{port}/v1", timeout=5)
    audit = tmp_path / "audit.jsonl"
    app = create_app(compiled(), adapter, audit=AuditLog(str(audit)))
    try:
        for _ in range(4):
            msgs = await drive(app, chat("hi", stream=True))
            assert _sent_text(msgs) == "hello world"
            assert msgs[-1]["body"].endswith(b"data: [DONE]\n\n")
        await asyncio.sleep(terminator_delay + 0.2)
        assert [r["status"] for r in _audit(audit)] == [200] * 4
        assert [r["error"] for r in _audit(audit)] == [None] * 4
        idle = [c for c in adapter._idle if not c.closed]
        assert open_conns == len(idle)  # every connection still open upstream is in the pool
        if terminator_delay < 0.05:
            assert len(idle) == 1  # and reused
        text = app.metrics.render().decode()
        assert 'status="499"' not in text
    finally:
        await adapter.close()
        server.close()


async def test_denied_and_unserved_model_names_do_not_use_up_the_model_labels(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    c = make_client()
    for i in range(70):  # outside the `other` key's models: 403
        r = await c.post(
            "/v1/chat/completions",
            json=chat("hi", model=f"probe-{i}"),
            headers={"authorization": f"Bearer {OTHER_KEY}"},
        )
        assert r.status_code == 403
    for i in range(70):  # allowed by the policy ("*"), but the upstream does not serve them
        r = await c.post("/v1/chat/completions", json=chat("hi", model=f"fault:{400 + i}"))
        assert r.status_code >= 400
    assert (await c.post("/v1/chat/completions", json=chat("hi"))).status_code == 200
    text = app_of(c).metrics.render().decode()
    assert 'model="fake-model",route="/v1/chat/completions",status="200"' in text
    assert 'tokens_total{direction="out",model="fake-model"}' in text
    assert 'model="denied",route="/v1/chat/completions",status="403"} 70.0' in text
    assert "probe-" not in text


async def test_a_request_without_max_tokens_is_forwarded_with_what_was_reserved(
    make_client: Callable[..., httpx.AsyncClient], fake: FakeUpstream
) -> None:
    """Without ``max_tokens`` vLLM generates up to the context length: the gateway forwards ``max_tokens.default``
    (at most the cap), the number it reserved, so the reservation holds."""
    c = make_client(
        policy_with({"limits.max_tokens.cap": 300, "limits.max_tokens.default": 50, "limits.tokens_per_minute": 200})
    )
    r = await c.post("/v1/chat/completions", json=chat("hi"))
    assert r.status_code == 200, r.text
    assert json.loads(fake.received[-1][1])["max_tokens"] == 50
    await c.post("/v1/chat/completions", json=chat("hi", max_completion_tokens=20))
    sent = json.loads(fake.received[-1][1])
    assert sent["max_completion_tokens"] == 20 and "max_tokens" not in sent
    await c.post("/v1/chat/completions", json=chat("hi", stream=True))
    assert json.loads(fake.received[-1][1])["max_tokens"] == 50
    await c.post("/v1/embeddings", json={"model": "fake-model", "input": "hi"})
    assert "max_tokens" not in json.loads(fake.received[-1][1])
    nocap = make_client(policy_with({"limits.max_tokens.cap": None}))
    await nocap.post("/v1/chat/completions", json=chat("hi"))
    assert json.loads(fake.received[-1][1])["max_tokens"] == 1024  # no cap: still bound, by the default
    small = make_client(policy_with({"limits.max_tokens.cap": 100}))
    await small.post("/v1/chat/completions", json=chat("hi"))
    assert json.loads(fake.received[-1][1])["max_tokens"] == 100  # the default, at most the cap


async def test_unary_response_is_the_checked_object_never_the_upstream_bytes() -> None:
    raw = (
        b'{"id":"x","choices":[{"index":0,"message":{"role":"assistant",'
        b'"content":"mail bob@example.com","content":"ok"},"finish_reason":"stop"}],"usage":1.0e-5}'
    )
    app = create_app(compiled(), ScriptedAdapter(unary=raw))  # type: ignore[arg-type]
    msgs = await drive(app, chat("hi"))
    assert msgs[0]["status"] == 200
    out = msgs[-1]["body"]
    assert b"bob@example.com" not in out
    assert out == orjson.dumps(orjson.loads(raw))
