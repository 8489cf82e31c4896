"""A fake OpenAI-compatible upstream (a stand-in for vLLM) for tests and ``benchmarks/gateway.py``.

Behaviour is configured on :class:`FakeConfig` or per request through the model name:

* ``latency`` seconds before answering (a model name ending in ``+<N>ms``, e.g. ``fake-model+50ms``, adds N ms
  for that request, and ``+<N>ms/<M>ms`` also streams a chunk every M ms); ``chunk_chars`` characters per
  streamed chunk, ``chunk_delay`` between chunks; ``split_bytes`` > 0 writes the SSE byte stream in pieces of
  that size, so events straddle network reads; ``reply`` is the completion text (default: ``"You said: "``
  and the last user message); ``status`` is the HTTP status of completions, embeddings and streams (e.g. 201,
  a success other than 200).
* model ``fault:500`` (any status; the body is ``error_body`` of type ``error_content_type``, by default an
  OpenAI error object, and ``{prompt}`` in it becomes the last user message, JSON-escaped, as servers that
  quote the request in their errors do; ``error_headers`` are added to it), ``fault:hang`` (never answers),
  ``fault:midstream`` (stream ends after two chunks, without ``[DONE]``), ``fault:badjson`` (invalid JSON body
  / event), ``fault:reset`` (connection closed, no response).

``stamp`` (the benchmark's ``--stamp``): the first content chunk of a stream carries ``"bench_t": [arrival,
sent]``, when the request arrived and when that chunk was written, in ``time.perf_counter_ns()`` (the
system-wide monotonic clock on Linux, so comparable with the client's), to split a proxy's added time to first
token into its request leg and its chunk leg. Not with ``split_bytes``.

Every request body is recorded (``received``, its headers in ``received_headers``), and streams the client
abandoned are counted (``cancelled``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class FakeConfig:
    latency: float = 0.0
    chunk_chars: int = 4
    chunk_delay: float = 0.0
    split_bytes: int = 0
    reply: str | None = None
    models: tuple[str, ...] = ("fake-model", "other-model")
    status: int = 200
    error_body: bytes = b'{"error":{"message":"fault","type":"server_error"}}'
    error_content_type: bytes = b"application/json"
    error_headers: tuple[tuple[bytes, bytes], ...] = ()  # more headers of fault replies (e.g. retry-after)
    # More text fields of a chat reply's message, e.g. (("reasoning", "..."),) as vLLM's reasoning parsers add;
    # streamed before the content, in pieces of chunk_chars, one delta field each.
    message_fields: tuple[tuple[str, str], ...] = ()
    stamp: bool = False  # timestamps on a stream's first content chunk (see the module docstring)


@dataclass
class FakeUpstream:
    config: FakeConfig = field(default_factory=FakeConfig)
    received: deque[tuple[str, bytes]] = field(default_factory=lambda: deque(maxlen=1000))
    # The headers of each recorded request, in the order of ``received`` (names lower-case).
    received_headers: deque[dict[bytes, bytes]] = field(default_factory=lambda: deque(maxlen=1000))
    cancelled: int = 0
    completed_streams: int = 0
    record: bool = True
    # At startup, move everything built so far out of the cyclic collector's reach (``gc.freeze``), as the
    # gateway does. Set by ``main`` (the benchmark's upstream process), not in tests that embed this app.
    freeze_gc: bool = False

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]], send: Send
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    if self.freeze_gc:
                        gc.collect()
                        gc.freeze()
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"].removeprefix("/v1")
        if scope["method"] == "GET" and path == "/models":
            listing = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.config.models]
            return await _json(send, 200, {"object": "list", "data": listing})
        body = await read_body(receive)
        arrived = time.perf_counter_ns()
        if self.record:
            self.received.append((scope["path"], body))
            self.received_headers.append(dict(scope["headers"]))
        try:
            req = orjson.loads(body)
        except orjson.JSONDecodeError:
            return await _json(send, 400, {"error": {"message": "bad json", "type": "invalid_request_error"}})
        model = str(req.get("model", ""))
        extra, chunk_delay = _model_timing(model)
        latency = self.config.latency + extra
        if latency:
            await asyncio.sleep(latency)
        if model.startswith("fault:"):
            fault = model[6:]
            if fault.isdigit():
                prompt = orjson.dumps(self._reply(req, path == "/chat/completions", echo=True))[1:-1]
                body = self.config.error_body.replace(b"{prompt}", prompt)
                return await _raw(send, int(fault), body, self.config.error_content_type, self.config.error_headers)
            if fault == "hang":
                await asyncio.sleep(3600)
            if fault == "reset":
                raise RuntimeError("fake upstream reset")  # uvicorn closes the connection
            if fault == "badjson" and not req.get("stream"):
                return await _raw(send, 200, b"{not json", b"application/json")
        if path == "/embeddings":
            inputs = req.get("input")
            items = inputs if isinstance(inputs, list) else [inputs]
            data: list[dict[str, Any]] = [
                {"object": "embedding", "index": i, "embedding": [0.1, 0.2, float(len(str(x)))]}
                for i, x in enumerate(items)
            ]
            return await _json(
                send,
                self.config.status,
                {
                    "object": "list",
                    "data": data,
                    "model": model,
                    "usage": {"prompt_tokens": 3, "total_tokens": 3},
                },
            )
        chat = path == "/chat/completions"
        text = self._reply(req, chat)
        if req.get("stream"):
            delay = self.config.chunk_delay if chunk_delay is None else chunk_delay
            return await self._stream(send, receive, req, model, text, chat, delay, arrived)
        msg_or_text: dict[str, Any] = (
            {"message": {"role": "assistant", **dict(self.config.message_fields), "content": text}}
            if chat
            else {"text": text}
        )
        return await _json(
            send,
            self.config.status,
            {
                "id": "cmpl-fake",
                "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, **msg_or_text, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": 5,
                    "completion_tokens": len(text) // 4 + 1,
                    "total_tokens": 5 + len(text) // 4 + 1,
                },
            },
        )

    def _reply(self, req: dict[str, Any], chat: bool, *, echo: bool = False) -> str:
        """The completion text; with ``echo``, the last user message (or prompt) itself."""
        if self.config.reply is not None and not echo:
            return self.config.reply
        if chat:
            msgs = [m for m in req.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
            last = msgs[-1].get("content") if msgs else ""
        else:
            last = req.get("prompt")
        said = last if isinstance(last, str) else orjson.dumps(last).decode()
        return said if echo else f"You said: {said}"

    async def _stream(
        self,
        send: Send,
        receive: Callable[[], Awaitable[dict[str, Any]]],
        req: dict[str, Any],
        model: str,
        text: str,
        chat: bool,
        chunk_delay: float,
        arrived: int = 0,
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.config.status,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        obj = "chat.completion.chunk" if chat else "text_completion"
        base = {"id": "cmpl-fake", "object": obj, "created": int(time.time()), "model": model}
        n = max(1, self.config.chunk_chars)
        pieces = [text[i : i + n] for i in range(0, len(text), n)]
        events: list[bytes] = []
        if chat:
            events.append(
                _ev(
                    {
                        **base,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
                    }
                )
            )
            for name, value in self.config.message_fields:
                for i in range(0, len(value), n):
                    delta = {name: value[i : i + n]}
                    events.append(_ev({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
        # Serialised at once and only bytes kept (the first content chunk's object too, for the stamp): a
        # hundred streams holding their chunks as dicts for a second or more fill the collector's older
        # generations, and its collections then stall this process for 20-30 ms, late chunks for every stream.
        first: dict[str, Any] | None = None
        stamp_at = len(events) if self.config.stamp and pieces and self.config.split_bytes <= 0 else -1
        for p in pieces:
            choice = {"index": 0, "delta": {"content": p}} if chat else {"index": 0, "text": p}
            chunk = {**base, "choices": [{**choice, "finish_reason": None}]}
            if first is None and stamp_at >= 0:
                first = chunk
            events.append(_ev(chunk))
        last: dict[str, Any] = {"index": 0, "delta": {}} if chat else {"index": 0, "text": ""}
        events.append(_ev({**base, "choices": [{**last, "finish_reason": "stop"}]}))
        opts = req.get("stream_options")
        if isinstance(opts, dict) and opts.get("include_usage"):
            ct = len(text) // 4 + 1
            events.append(
                _ev(
                    {
                        **base,
                        "choices": [],
                        "usage": {"prompt_tokens": 5, "completion_tokens": ct, "total_tokens": 5 + ct},
                    }
                )
            )
        events.append(b"data: [DONE]\n\n")
        fault = model[6:] if model.startswith("fault:") else ""
        if fault == "midstream":
            events = events[:3]
        if fault == "badjson":
            events = [*events[:2], b"data: {oops\n\n"]
        if self.config.split_bytes > 0:
            blob = b"".join(events)
            k = self.config.split_bytes
            writes = [blob[i : i + k] for i in range(0, len(blob), k)]
        else:
            writes = events

        async def pump() -> None:
            for i, w in enumerate(writes):
                if chunk_delay and i:
                    await asyncio.sleep(chunk_delay)
                if i == stamp_at and first is not None:
                    w = _ev({**first, "bench_t": [arrived, time.perf_counter_ns()]})
                await send({"type": "http.response.body", "body": w, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        async def disconnected() -> None:
            # Like vLLM: notice the client going away and stop generating.
            while (await receive())["type"] != "http.disconnect":
                pass

        task, watch = asyncio.ensure_future(pump()), asyncio.ensure_future(disconnected())
        done, _ = await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            watch.cancel()
            task.result()
            self.completed_streams += 1
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.cancelled += 1


_TIMING_SUFFIX = re.compile(r"\+(\d+(?:\.\d+)?)ms(?:/(\d+(?:\.\d+)?)ms)?$")


def _model_timing(model: str) -> tuple[float, float | None]:
    """Timing asked for in the model name: ``fake-model+50ms`` answers 50 ms later; ``fake-model+50ms/20ms``
    also streams one chunk every 20 ms (a model generating 50 tokens/s). Returns (latency, chunk delay)."""
    m = _TIMING_SUFFIX.search(model)
    if m is None:
        return 0.0, None
    return float(m.group(1)) / 1000, float(m.group(2)) / 1000 if m.group(2) else None


async def read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    """The whole body of an ASGI request."""
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if not msg.get("more_body"):
            return body


def _ev(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


async def _json(send: Send, status: int, obj: Any) -> None:
    await _raw(send, status, orjson.dumps(obj), b"application/json")


async def _raw(send: Send, status: int, body: bytes, ctype: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str = "127.0.0.1", port: int = 0, *, graceful_s: float = 0.2, **uvicorn_kwargs: Any
) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a background thread; yields its base URL (random port by default).

    On exit, requests still in flight get ``graceful_s`` to finish before they are cancelled: a test is over by
    then, and a request it left hanging (``fault:hang``) would otherwise hold every teardown for the full grace.
    """
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=graceful_s,  # type: ignore[arg-type]  # uvicorn takes any number of seconds
        **uvicorn_kwargs,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream as a process (used by the benchmark)."""
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18000)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--chunk-chars", type=int, default=4)
    ap.add_argument("--chunk-delay", type=float, default=0.0)
    ap.add_argument("--reply", default=None)
    ap.add_argument("--stamp", action="store_true", help="timestamps on each stream's first content chunk")
    a = ap.parse_args(argv)
    fake = FakeUpstream(
        FakeConfig(
            latency=a.latency, chunk_chars=a.chunk_chars, chunk_delay=a.chunk_delay, reply=a.reply, stamp=a.stamp
        ),
        record=False,
        freeze_gc=True,
    )
    uvicorn.run(fake, host=a.host, port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
