"""Latency-critical work first: later stream chunks take one turn of the event loop each, so new requests and
first tokens do not wait behind other streams' bursts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from llmops_cli.gateway.app import create_app
from llmops_cli.gateway.priority import LowPriority
from llmops_cli.gateway.upstream import UpstreamResponse

from .conftest import KEY, chat, compiled

pytestmark = pytest.mark.timeout(30)


# ---------------------------------------------------------------------------------------------- LowPriority
@pytest.mark.anyio
async def test_one_waiter_per_turn_and_other_work_runs_in_between() -> None:
    low = LowPriority()
    order: list[str] = []

    async def later(i: int) -> None:
        await low.turn()
        order.append(f"later{i}")

    async def urgent() -> None:
        order.append("urgent")

    tasks = [asyncio.create_task(later(i)) for i in range(4)]
    await asyncio.sleep(0)  # all four are queued
    assert len(low) == 4
    tasks.append(asyncio.create_task(urgent()))  # arrives after them, like a new request
    await asyncio.gather(*tasks)
    # FIFO among the waiters, and the newcomer ran before the queue had drained (plain FIFO: last).
    assert [o for o in order if o.startswith("later")] == ["later0", "later1", "later2", "later3"]
    assert order.index("urgent") <= 1
    assert len(low) == 0


@pytest.mark.anyio
async def test_a_cancelled_waiter_gives_up_its_turn() -> None:
    low = LowPriority()
    done: list[int] = []

    async def later(i: int) -> None:
        await low.turn()
        done.append(i)

    tasks = [asyncio.create_task(later(i)) for i in range(3)]
    await asyncio.sleep(0)
    tasks[0].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert done == [1, 2]
    assert tasks[0].cancelled()


def test_survives_a_new_event_loop() -> None:
    low = LowPriority()

    async def main() -> int:
        await low.turn()
        await low.turn()
        return len(low)

    assert asyncio.run(main()) == 0
    assert asyncio.run(main()) == 0  # the loop it first bound to is closed


# ---------------------------------------------------------------------------------------------- in the app
def _event(content: str | None = None, *, role: bool = False, finish: str | None = None) -> bytes:
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
    if content is not None:
        delta["content"] = content
    ev = {"id": "c", "object": "chat.completion.chunk", "model": "m"}
    ev["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + json.dumps(ev).encode() + b"\n\n"


class _Reads:
    """An upstream stream whose reads are all there at once: iterating it never yields to the event loop."""

    status = 200

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = list(reads)

    def aiter_raw(self) -> _Reads:
        return self

    def __aiter__(self) -> _Reads:
        return self

    async def __anext__(self) -> bytes:
        if not self.reads:
            raise StopAsyncIteration
        return self.reads.pop(0)

    async def aread(self) -> bytes:
        return b""


class _Upstream:
    def __init__(self, reads: list[bytes], log: list[Any]) -> None:
        self.reads, self.log = reads, log

    async def request(self, method: str, path: str, body: bytes | None = None) -> UpstreamResponse:
        self.log.append(("upstream", json.loads(body or b"{}")["messages"][0]["content"]))
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}
        return UpstreamResponse(200, json.dumps(reply).encode())

    @asynccontextmanager
    async def stream(self, path: str, body: bytes) -> AsyncIterator[_Reads]:
        self.log.append(("upstream", json.loads(body)["messages"][0]["content"]))
        yield _Reads(self.reads)

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


async def _call(app: Any, payload: dict[str, Any], send: Any) -> None:
    body = json.dumps(payload).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")],
    }
    finished = asyncio.Event()
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": body, "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    try:
        await app(scope, receive, send)
    finally:
        finished.set()


def request_texts(body: bytes) -> list[str]:
    out = []
    for block in body.decode().split("\n\n"):
        if block.startswith("data: {"):
            out += [c["delta"].get("content") or "" for c in json.loads(block[6:])["choices"]]
    return [t for t in out if t]


@pytest.mark.anyio
async def test_a_new_request_does_not_wait_behind_a_streams_later_chunks() -> None:
    """Stream A has 40 later reads buffered (a burst); a request B that arrives just after A's first token
    reaches the upstream before A has worked through them. Run in plain FIFO order, B would wait for all 40."""
    log: list[Any] = []
    reads = [_event(role=True) + _event("Hello ")] + [_event(f"w{i} ") for i in range(40)]
    reads.append(_event(finish="stop") + b"data: [DONE]\n\n")
    up = _Upstream(reads, log)
    app = create_app(compiled(), up)
    started: list[asyncio.Task[None]] = []

    async def send_b(msg: dict[str, Any]) -> None:
        return None

    async def send_a(msg: dict[str, Any]) -> None:
        if msg["type"] != "http.response.body":
            return
        for t in request_texts(msg["body"]):
            log.append(("A", t))
            if t == "Hello ":  # A's first token is out: B arrives now
                started.append(asyncio.create_task(_call(app, chat("B"), send_b)))

    await _call(app, chat("A", stream=True), send_a)
    await asyncio.gather(*started)
    a_texts = [t for who, t in log if who == "A"]
    assert "".join(a_texts) == "Hello " + "".join(f"w{i} " for i in range(40))  # nothing lost or reordered
    b_at = log.index(("upstream", "B"))
    a_before_b = sum(1 for who, _ in log[:b_at] if who == "A")
    assert a_before_b <= 3, log[: b_at + 1]
