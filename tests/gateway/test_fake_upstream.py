from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import httpx
import orjson
import pytest

from llmops_cli.gateway.testing.fake_upstream import FakeUpstream, _model_timing, serve_in_thread


@pytest.mark.parametrize(
    ("model", "want"),
    [
        ("fake-model", (0.0, None)),
        ("fake-model+50ms", (0.05, None)),
        ("fake-model+2.5ms/20ms", (0.0025, 0.02)),
        ("fake-model+ms", (0.0, None)),
    ],
)
def test_timing_from_the_model_name(model: str, want: tuple[float, float | None]) -> None:
    assert _model_timing(model) == want


def test_paced_stream_takes_its_time() -> None:
    fake = FakeUpstream()
    fake.config.reply = "abcd" * 5  # five chunks of four characters
    with serve_in_thread(fake) as url:
        body = {"model": "fake-model+30ms/20ms", "stream": True, "messages": [{"role": "user", "content": "x"}]}
        t0 = time.perf_counter()
        with httpx.stream("POST", url + "/v1/chat/completions", json=body) as r:
            first = None
            for line in r.iter_lines():
                if first is None and '"content":"abcd"' in line:
                    first = time.perf_counter() - t0
        total = time.perf_counter() - t0
    assert first is not None and 0.03 <= first < total
    assert total >= 0.03 + 5 * 0.02  # role chunk, five text chunks, the finish chunk: six gaps of 20 ms


@pytest.mark.parametrize("stamp", [False, True])
def test_a_stream_in_flight_holds_its_chunks_as_bytes(stamp: bool) -> None:
    """The benchmark keeps 100 paced streams in flight for over a second each. Chunks held as dicts until sent
    filled the collector's older generations, and its collections then stalled the upstream for 20-30 ms: the
    p99 time to first token of every side, direct included. A stream holds its chunks serialised."""
    fake = FakeUpstream(record=False)
    fake.config.reply = "abcd" * 50  # fifty content chunks
    fake.config.chunk_delay = 0.001
    fake.config.stamp = stamp
    chunk_dicts: list[int] = []
    bodies: list[bytes] = []

    async def main() -> None:
        request = orjson.dumps({"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "x"}]})
        pending = [{"type": "http.request", "body": request, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await asyncio.Event().wait()  # the client stays
            raise AssertionError

        async def send(msg: dict[str, Any]) -> None:
            if msg["type"] != "http.response.body":
                return
            bodies.append(msg["body"])
            if len(bodies) == 3:  # mid-stream
                gc.collect()
                chunk_dicts.append(
                    sum(1 for o in gc.get_objects() if isinstance(o, dict) and o.get("id") == "cmpl-fake")
                )

        scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
        await fake(scope, receive, send)

    asyncio.run(main())
    # Not one per chunk (fifty): at most the last one built and, with the stamp, the first content chunk.
    assert len(chunk_dicts) == 1 and chunk_dicts[0] <= (2 if stamp else 1)
    text = b"".join(bodies)
    assert text.count(b'"content":"abcd"') == 50 and text.endswith(b"data: [DONE]\n\n")
    assert text.count(b"bench_t") == (1 if stamp else 0)
