from __future__ import annotations

import time

import httpx
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
