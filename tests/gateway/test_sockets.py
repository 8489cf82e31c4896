"""The gateway over real sockets (uvicorn on 127.0.0.1, random ports), with the official `openai` client."""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from llmops_cli.gateway.app import GatewayApp, create_app
from llmops_cli.gateway.reload import PolicyHolder
from llmops_cli.gateway.testing.fake_upstream import FakeConfig, FakeUpstream, serve_in_thread
from llmops_cli.gateway.upstream.http import HttpAdapter
from llmops_cli.gateway.upstream.pool import PooledHttpAdapter

from .conftest import AUTH, KEY, chat, compiled, policy_text, policy_with

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def fake() -> FakeUpstream:
    return FakeUpstream(FakeConfig(chunk_chars=3))


@pytest.fixture
def upstream(fake: FakeUpstream) -> Iterator[str]:
    with serve_in_thread(fake) as url:
        yield url


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    p = tmp_path / "gateway.yaml"
    p.write_text(policy_text())
    return p


ADAPTERS = {"pooled": PooledHttpAdapter, "httpx": HttpAdapter}


@pytest.fixture(params=["pooled", "httpx"])
def gateway(upstream: str, policy_file: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, GatewayApp]]:
    adapter = ADAPTERS[request.param](upstream + "/v1", timeout=1.0)
    app = create_app(PolicyHolder.from_file(policy_file), adapter, reload_interval=0.05)
    with serve_in_thread(app) as url:
        yield url, app


def test_openai_client_non_streaming_and_streaming(gateway: tuple[str, GatewayApp], fake: FakeUpstream) -> None:
    url, _ = gateway
    client = openai.OpenAI(base_url=url + "/v1", api_key=KEY, max_retries=0)
    fake.config.reply = "Write to alice@example.org or call +1 212 555 0199."
    resp = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == "Write to [REDACTED:EMAIL] or call [REDACTED:PHONE]."
    parts = []
    stream = client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(parts) == "Write to [REDACTED:EMAIL] or call [REDACTED:PHONE]."
    assert usage is not None and usage.completion_tokens > 0
    models = client.models.list()
    assert {m.id for m in models.data} == {"fake-model", "other-model"}
    emb = client.embeddings.create(model="fake-model", input="x")
    assert len(emb.data[0].embedding) == 3
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
    # The openai client's extra_body reaches the gateway, which strips it before the upstream.
    client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"api_base": "http://evil.example"},
    )
    assert b"evil" not in fake.received[-1][1]


def test_fake_upstream_stamps_reach_the_client_for_the_benchmark(
    gateway: tuple[str, GatewayApp], fake: FakeUpstream
) -> None:
    """``benchmarks/gateway.py`` splits the added time to first token with the fake upstream's stamps: they
    must come through the gateway on the first content chunk, once, as arrival <= sent on the client's clock."""
    url, _ = gateway
    fake.config.stamp = True
    fake.config.chunk_chars = 4  # "The ": a first chunk the hold-back window releases at once, as in the benchmark
    fake.config.reply = "The incident began at nine. " * 3
    body = {**chat("hi", stream=True), "model": "fake-model+1ms/5ms"}  # one upstream write per chunk
    before = time.perf_counter_ns()
    r = httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10)
    after = time.perf_counter_ns()
    events = [json.loads(e[6:]) for e in r.text.split("\n\n") if e.startswith("data: {")]
    stamped = [e for e in events if "bench_t" in e]
    assert len(stamped) == 1
    assert stamped[0] is next(e for e in events if e["choices"] and e["choices"][0]["delta"].get("content"))
    arrived, sent = stamped[0]["bench_t"]
    assert before <= arrived <= sent <= after
    fake.config.stamp = False
    assert "bench_t" not in httpx.post(url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10).text


def test_upstream_timeout_and_reset(gateway: tuple[str, GatewayApp]) -> None:
    url, _ = gateway
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=10) as c:
        r = c.post("/v1/chat/completions", json={**chat("x"), "model": "fault:hang"})
        assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"
        r = c.post("/v1/chat/completions", json={**chat("x"), "model": "fault:reset"})
        assert r.status_code == 502
        assert c.get("/readyz").status_code == 200


@pytest.mark.parametrize("adapter", ["pooled", "httpx"])
def test_upstream_refused(adapter: str) -> None:
    from .conftest import compiled

    app = create_app(compiled(), ADAPTERS[adapter]("http://127.0.0.1:9", timeout=1.0))
    with (
        serve_in_thread(app) as url,
        httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}) as c,
    ):
        r = c.post("/v1/chat/completions", json=chat("x"))
        assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_connect"
        r = c.post("/v1/chat/completions", json=chat("x", stream=True))
        assert r.status_code == 502
        assert c.get("/readyz").status_code == 503


def test_client_disconnect_cancels_upstream_stream(gateway: tuple[str, GatewayApp], fake: FakeUpstream) -> None:
    url, app = gateway
    fake.config.reply = "word " * 400
    fake.config.chunk_delay = 0.01
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}) as c:
        with c.stream("POST", "/v1/chat/completions", json=chat("x", stream=True)) as r:
            it = r.iter_raw()
            next(it)
            next(it)
        # leaving the block closes the connection mid-stream
    deadline = time.monotonic() + 5
    while fake.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.cancelled == 1
    assert fake.completed_streams == 0
    deadline = time.monotonic() + 5
    while app.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert app.in_flight == 0


def test_policy_reload_on_file_change_keeps_serving(
    gateway: tuple[str, GatewayApp], policy_file: Path, fake: FakeUpstream
) -> None:
    url, app = gateway
    h = {"authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=url, headers=h) as c:
        assert c.post("/v1/chat/completions", json=chat("x")).status_code == 200
        # A broken edit: logged, the old policy stays in force.
        policy_file.write_text(policy_text() + "\nbogus: 1\n")  # deliberately not a policy the model accepts
        deadline = time.monotonic() + 5
        while app.holder.last_error is None and time.monotonic() < deadline:
            assert c.post("/v1/chat/completions", json=chat("x")).status_code == 200
        assert "bogus" in (app.holder.last_error or "")
        assert c.get("/readyz").json()["policy"] == "stale"  # a status word: no path, no error text
        # A good edit that blocks the model: takes effect without a restart.
        policy_file.write_text(policy_with({"limits.models": ["none"]}))
        deadline = time.monotonic() + 5
        codes = []
        while time.monotonic() < deadline:
            codes.append(c.post("/v1/chat/completions", json=chat("x")).status_code)
            if codes[-1] == 403:
                break
        assert codes[-1] == 403 and set(codes) <= {200, 403}
        assert 'llmops_gateway_policy_reloads_total{result="ok"} 1.0' in app.metrics.render().decode()


def test_client_disconnect_cancels_unary_upstream_request(gateway: tuple[str, GatewayApp], fake: FakeUpstream) -> None:
    url, app = gateway
    fake.config.latency = 3.0
    t0 = time.monotonic()
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {KEY}"}, timeout=0.3) as c:
        with pytest.raises(httpx.ReadTimeout):
            c.post("/v1/chat/completions", json=chat("x"))
    deadline = time.monotonic() + 2
    while app.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert app.in_flight == 0 and time.monotonic() - t0 < 2.5  # not waiting out the upstream's 3 s
    metrics = app.metrics.render().decode()
    assert 'route="/v1/chat/completions",status="499"} 1.0' in metrics


def test_startup_moves_import_time_objects_out_of_the_collector(gateway: tuple[str, GatewayApp]) -> None:
    assert gc.get_freeze_count() > 10_000  # modules, the policy, metrics: never walked by a full collection


@pytest.mark.anyio
@pytest.mark.parametrize("adapter", sorted(ADAPTERS))
async def test_a_finished_stream_leaves_no_async_generator_for_the_loop_to_close(upstream: str, adapter: str) -> None:
    """The gateway stops reading at ``[DONE]``. An adapter body iterator left suspended there is closed by the
    event loop's finalizer hook, with a thread-safe wake-up of the loop and one more task, on every stream."""
    left: list[str] = []
    hooks = sys.get_asyncgen_hooks()

    def finalizer(agen: AsyncGenerator[Any, None]) -> None:
        if "llmops_cli" in agen.ag_code.co_filename:
            left.append(agen.__qualname__)
        if hooks.finalizer is not None:
            hooks.finalizer(agen)

    sys.set_asyncgen_hooks(firstiter=hooks.firstiter, finalizer=finalizer)
    try:
        app = create_app(compiled(), ADAPTERS[adapter](upstream + "/v1", timeout=5.0))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
            for _ in range(3):
                r = await c.post("/v1/chat/completions", json=chat("hi", stream=True))
                assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
        await app.adapter.close()
        gc.collect()
    finally:
        sys.set_asyncgen_hooks(*hooks)
    assert left == []
