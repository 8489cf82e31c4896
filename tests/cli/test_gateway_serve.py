"""`llmops gateway serve` as a real process: the openai client, SIGHUP reload, graceful drain on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from llmops_cli.gateway.testing.fake_upstream import FakeConfig, FakeUpstream, serve_in_thread
from tests.gateway.conftest import SHIPPED, policy_with

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(90), pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "llmops_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _wait_healthy(proc: subprocess.Popen[str], url: str, timeout: float = 20) -> None:
    """Until the served gateway answers /healthz; the process's output in the error if it exits or stalls."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise AssertionError(proc.communicate()[0])
        time.sleep(0.1)


@pytest.fixture
def fake() -> Iterator[tuple[FakeUpstream, str]]:
    f = FakeUpstream(FakeConfig(chunk_chars=5))
    with serve_in_thread(f) as url:
        yield f, url


@pytest.fixture
def served(tmp_path: Path, fake: tuple[FakeUpstream, str]) -> Iterator[tuple[subprocess.Popen[str], str, Path, str]]:
    policy = tmp_path / "gateway.yaml"
    policy.write_text(SHIPPED.read_text())
    key = _cli("gateway", "keys", "create", "demo", "--policies", str(policy)).stdout.strip()
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PAC_UPSTREAM_URL": fake[1] + "/v1",
        "PAC_RELOAD_INTERVAL": "0",
        "PAC_AUDIT_LOG": str(tmp_path / "audit.jsonl"),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmops_cli",
            "gateway",
            "serve",
            "--policies",
            str(policy),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(proc, url)
    try:
        yield proc, url, policy, key
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_serve_answers_openai_client_with_redacted_output(served: tuple, fake: tuple) -> None:
    _, url, policy, key = served
    fake[0].config.reply = "Card 4242 4242 4242 4242 belongs to joe@example.net."
    client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    r = client.chat.completions.create(model="fake-model", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "Card [REDACTED:CREDIT_CARD] belongs to [REDACTED:EMAIL]."
    text = "".join(
        c.choices[0].delta.content or ""
        for c in client.chat.completions.create(
            model="fake-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        if c.choices
    )
    assert text == "Card [REDACTED:CREDIT_CARD] belongs to [REDACTED:EMAIL]."
    audit = (policy.parent / "audit.jsonl").read_text()
    assert audit.count('"key_id":"demo"') == 2 and "joe@example.net" not in audit


def test_served_responses_do_not_name_the_server_software(served: tuple) -> None:
    _, url, _, key = served
    for r in (
        httpx.get(url + "/healthz"),
        httpx.post(
            url + "/v1/chat/completions",
            json={"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": f"Bearer {key}"},
        ),
    ):
        assert r.status_code == 200 and "server" not in r.headers and "date" in r.headers


def test_sighup_reloads_keys_and_sigterm_drains_streams(served: tuple, fake: tuple) -> None:
    proc, url, policy, _ = served
    new_key = _cli("gateway", "keys", "create", "late", "--policies", str(policy)).stdout.strip()
    h = {"authorization": f"Bearer {new_key}"}
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "x"}]}
    assert httpx.post(url + "/v1/chat/completions", json=body, headers=h).status_code == 401  # not reloaded yet
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while httpx.post(url + "/v1/chat/completions", json=body, headers=h).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    # A slow stream is in flight when SIGTERM arrives: it finishes before the process exits.
    fake[0].config.reply = "slow " * 40
    fake[0].config.chunk_delay = 0.05
    with (
        httpx.Client(timeout=30) as c,
        c.stream("POST", url + "/v1/chat/completions", json={**body, "stream": True}, headers=h) as r,
    ):
        chunks = r.iter_text()
        first = next(chunks)
        proc.send_signal(signal.SIGTERM)
        rest = "".join(chunks)
    assert (first + rest).rstrip().endswith("data: [DONE]")
    assert proc.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after draining


def test_sighup_reopens_the_audit_log_for_rotation(served: tuple) -> None:
    """logrotate's way: rename the file, SIGHUP; the next records go to a new file, created 0600."""
    import stat

    proc, url, policy, key = served
    audit = policy.parent / "audit.jsonl"
    body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
    h = {"authorization": f"Bearer {key}"}
    assert httpx.post(url + "/v1/chat/completions", json=body, headers=h).status_code == 200
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600
    audit.rename(policy.parent / "audit.jsonl.1")
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not audit.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert httpx.post(url + "/v1/chat/completions", json=body, headers=h).status_code == 200
    assert stat.S_IMODE(audit.stat().st_mode) == 0o600 and audit.read_text().count('"status":200') == 1
    assert (policy.parent / "audit.jsonl.1").read_text().count('"status":200') == 1


def test_workers_share_one_metrics_view_and_clean_it_up(tmp_path: Path, fake: tuple) -> None:
    """With ``--workers 2`` the metrics port answers with both workers' counts (the serving process reads their
    shared files); the API port has no /metrics. The shared metrics directory lives under TMPDIR for the run
    only."""
    policy = tmp_path / "gateway.yaml"
    policy.write_text(SHIPPED.read_text())
    key = _cli("gateway", "keys", "create", "demo", "--policies", str(policy)).stdout.strip()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PAC_UPSTREAM_URL": fake[1] + "/v1",
        "PAC_RELOAD_INTERVAL": "0",
        "TMPDIR": str(tmp),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "llmops_cli", "gateway", "serve"),
            *("--policies", str(policy), "--port", str(port), "--workers", "2"),
            *("--metrics-port", str(metrics_port)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url, 30)
        body = {"model": "fake-model+20ms", "messages": [{"role": "user", "content": "hi"}]}
        h = {"authorization": f"Bearer {key}"}

        def one(_: int) -> int:
            return httpx.post(url + "/v1/chat/completions", json=body, headers=h, timeout=10).status_code

        with ThreadPoolExecutor(8) as pool:  # new connections, several at once: both workers accept some
            assert set(pool.map(one, range(24))) == {200}
        (shared,) = tmp.glob("llmops-gateway-metrics-*")
        assert list(shared.glob("counter_*.db"))
        assert httpx.get(url + "/metrics").status_code == 404
        for _ in range(3):
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            served = sum(
                float(ln.rsplit(" ", 1)[1])
                for ln in text.splitlines()
                if ln.startswith("llmops_gateway_requests_total{") and 'status="200"' in ln
            )
            assert served == 24, text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert not list(tmp.glob("llmops-gateway-metrics-*"))


def test_replicas_share_rate_limits_through_redis(tmp_path: Path, fake: tuple) -> None:
    """Two gateway processes (two replicas behind one Service) with ``--redis-url``: a key limited to 5
    requests/minute gets 5 in all, though requests alternate between them (each alone would allow 5). The
    password comes from PAC_REDIS_PASSWORD and appears in no output."""
    from tests.gateway.redis_server import RedisServer

    redis = RedisServer(tmp_path, password="tr0ub4dor-and-3").start()
    policy = tmp_path / "gateway.yaml"
    policy.write_text(policy_with({"limits.requests_per_minute": 5}))
    key = _cli("gateway", "keys", "create", "demo", "--policies", str(policy)).stdout.strip()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PAC_UPSTREAM_URL": fake[1] + "/v1",
        "PAC_RELOAD_INTERVAL": "0",
        "PAC_REDIS_PASSWORD": "tr0ub4dor-and-3",
    }
    procs, urls = [], []
    for _ in range(2):
        port = _free_port()
        procs.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "llmops_cli", "gateway", "serve"),
                    *("--policies", str(policy), "--port", str(port), "--redis-url", redis.url),
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    outs = []
    try:
        for proc, url in zip(procs, urls, strict=True):
            _wait_healthy(proc, url, 30)
            assert httpx.get(url + "/readyz").json()["rate_limits"] == "shared"
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        h = {"authorization": f"Bearer {key}"}
        codes = [
            httpx.post(urls[i % 2] + "/v1/chat/completions", json=body, headers=h, timeout=10).status_code
            for i in range(12)
        ]
        assert codes == [200] * 5 + [429] * 7
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                outs.append(proc.communicate(timeout=20)[0])
            except subprocess.TimeoutExpired:
                proc.kill()
                outs.append(proc.communicate()[0])
        redis.stop()
    for out in outs:
        assert f"rate limits shared in redis://127.0.0.1:{redis.port}/0" in out
        assert "tr0ub4dor" not in out
