"""Rate limits shared through Redis: the RESP client, the Lua token bucket against a real redis-server, the
fallback to per-worker buckets, and two gateway apps (two workers or replicas) drawing from one bucket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmops_cli.gateway.app import create_app
from llmops_cli.gateway.metrics import Metrics
from llmops_cli.gateway.policy.limits import Limiter
from llmops_cli.gateway.redis_client import RedisClient, RedisURL, RespError, StoreError, _Incomplete, encode, parse
from llmops_cli.gateway.sharedlimits import SharedLimiter, bucket_key
from llmops_cli.gateway.testing.fake_upstream import FakeConfig, FakeUpstream
from llmops_cli.gateway.upstream.http import HttpAdapter
from tests.gateway.conftest import AUTH, chat, compiled, policy_with
from tests.gateway.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def limiter(url: str, *, timeout: float = 0.5, errors: list[str] | None = None, **kw: object) -> SharedLimiter:
    sink = errors if errors is not None else []
    return SharedLimiter(RedisClient(RedisURL.parse(url), timeout), Limiter(), on_error=sink.append, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ RESP and URLs
def test_resp_replies_parse_whole_and_wait_for_the_rest() -> None:
    wire = b"*4\r\n:0\r\n$5\r\nhello\r\n$-1\r\n*2\r\n+OK\r\n-ERR bad\r\n"
    value, end = parse(wire)
    assert end == len(wire)
    assert value[:3] == [0, b"hello", None]
    assert value[3][0] == "OK" and isinstance(value[3][1], RespError) and str(value[3][1]) == "ERR bad"
    for cut in range(1, len(wire)):  # any prefix is incomplete, never a wrong value
        with pytest.raises(_Incomplete):
            parse(wire[:cut])
    assert encode("EVALSHA", b"ab", 1, 2.5) == b"*4\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n$3\r\n2.5\r\n"
    with pytest.raises(StoreError):
        parse(b"?what\r\n")


def test_redis_urls() -> None:
    u = RedisURL.parse("rediss://app:s3cr%40t@cache.internal:6380/2")
    assert (u.host, u.port, u.db, u.username, u.password, u.tls) == ("cache.internal", 6380, 2, "app", "s3cr@t", True)
    assert "s3cr" not in u.safe() and u.safe() == "rediss://cache.internal:6380/2"
    assert RedisURL.parse("redis://r", password="from-env").password == "from-env"
    assert RedisURL.parse("redis://:pw@r").password == "pw" and RedisURL.parse("redis://r").port == 6379
    for bad, why in [
        ("http://r", "redis://"),
        ("redis://", "no host"),
        ("redis://r/x", "database"),
        ("redis://r:99999", "port"),
        ("redis://r/0?x=1", "query"),
    ]:
        with pytest.raises(ValueError, match=why):
            RedisURL.parse(bad)


# ------------------------------------------------------------------------------------------ a real Redis
async def test_two_workers_share_one_request_bucket(redis: RedisServer) -> None:
    """Two limiters (two workers, or two replicas) and one key with 4 requests/minute: 4 in all pass, then
    both refuse, with the time until the next request slot."""
    a, b = limiter(redis.url), limiter(redis.url)
    await a.start()
    await b.start()
    results = [await (a if i % 2 else b).admit("team-a", 4, None, 10) for i in range(6)]
    assert [r[0] for r in results] == [None] * 4 + ["requests_per_minute"] * 2
    assert all(shared for _, _, shared in results)
    assert 14.0 < results[-1][1] <= 15.0  # one slot of 4/min refills in 15 s
    # another key has its own bucket
    assert (await a.admit("team-b", 4, None, 10))[0] is None
    # the bucket expires once it would be full again (a missing bucket is a full one): 60 s + 1 s at most
    ttl = int(redis.command("PTTL", bucket_key("team-a")).split(b":")[1])
    assert 55_000 < ttl <= 61_000
    await a.close()
    await b.close()


async def test_token_reservation_is_reconciled_in_the_shared_bucket(redis: RedisServer) -> None:
    a, b = limiter(redis.url), limiter(redis.url)
    await a.start()
    await b.start()
    assert (await a.admit("k", None, 1000, 700))[0] is None
    reason, retry, shared = await b.admit("k", None, 1000, 700)
    assert (reason, shared) == ("tokens_per_minute", True)
    assert 23.0 < retry <= 24.0  # 400 tokens short at 1000/min
    a.reconcile("k", None, 1000, 700, 100, True)  # the answer used 100 of the 700 reserved
    await asyncio.sleep(0.05)  # sent without waiting; let Redis apply it
    assert (await b.admit("k", None, 1000, 700))[0] is None
    assert (await a.admit("k", None, 1000, 300))[0] == "tokens_per_minute"
    # larger than the whole bucket: refused without asking Redis
    assert await a.admit("k", None, 1000, 1001) == ("request_exceeds_tokens_per_minute", 0.0, False)
    await a.close()
    await b.close()


async def test_overrun_is_debt_and_a_refused_token_check_returns_the_request_slot(redis: RedisServer) -> None:
    a = limiter(redis.url)
    await a.start()
    assert (await a.admit("k", 100, 600, 500))[0] is None
    a.reconcile("k", 100, 600, 500, 1100, True)  # used 600 more than reserved: the bucket owes 500
    await asyncio.sleep(0.05)
    level = float(redis.command("HGET", bucket_key("k"), "t").split(b"\r\n")[1])
    assert -501 < level < -499
    reason, retry, _ = await a.admit("k", 100, 600, 10)
    assert reason == "tokens_per_minute" and 50.0 < retry <= 51.1  # 510 tokens at 600/min
    requests_left = float(redis.command("HGET", bucket_key("k"), "r").split(b"\r\n")[1])
    assert 98.9 < requests_left < 99.5  # one taken by the first request (then refilling), none by the refused one
    await a.close()


async def test_scripts_flushed_on_the_server_are_sent_again(redis: RedisServer) -> None:
    a = limiter(redis.url)
    await a.start()
    assert (await a.admit("k", 10, None, 1))[0] is None
    redis.command("SCRIPT", "FLUSH")
    assert (await a.admit("k", 10, None, 1))[0] is None
    redis.command("SCRIPT", "FLUSH")
    a.reconcile("k", 10, 100, 50, 10, True)
    await asyncio.sleep(0.05)
    assert (await a.admit("k", 10, None, 1)) == (None, 0.0, True)
    await a.close()


async def test_password_from_the_environment_and_never_in_errors(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, password="correct-horse").start()
    try:
        good = RedisClient(RedisURL.parse(server.url, password="correct-horse"))
        await good.connect()
        assert await good.call("PING") == "PONG"
        good.close()
        bad = RedisClient(RedisURL.parse(server.url, password="wrong-battery"))
        with pytest.raises(StoreError) as e:
            await bad.connect()
        assert e.value.kind == "connect" and "wrong-battery" not in str(e.value) and "WRONGPASS" in str(e.value)
    finally:
        server.stop()


async def test_store_down_falls_back_to_local_buckets_and_comes_back(
    redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    errors: list[str] = []
    lim = limiter(redis.url, errors=errors, retry_s=1.0, clock=lambda: now[0])
    await lim.start()
    assert lim.state == "shared"
    assert (await lim.admit("k", 3, None, 1)) == (None, 0.0, True)
    redis.stop()
    with caplog.at_level(logging.WARNING, "llmops.gateway"):
        # the first request after the loss finds the connection gone and uses this worker's bucket
        got = [await lim.admit("k", 3, None, 1) for _ in range(4)]
    assert [g[0] for g in got] == [None, None, None, "requests_per_minute"]  # the local bucket: 3/min
    assert not any(g[2] for g in got) and lim.state == "local"
    assert errors and set(errors) <= {"lost", "connect"}
    warnings = [r for r in caplog.records if "shared rate limits unavailable" in r.getMessage()]
    assert len(warnings) == 1  # logged once per outage, not per request
    tried = len(errors)
    await lim.admit("k", 3, None, 1)
    assert len(errors) == tried  # within retry_s: no new connection attempt
    redis.start()  # same port
    now[0] += 1.5
    # this request starts the reconnection in the background and does not wait for it: local bucket (empty)
    assert (await lim.admit("k", 3, None, 1))[1:] == (pytest.approx(20.0, abs=0.5), False)
    for _ in range(50):
        if lim.state == "shared":
            break
        await asyncio.sleep(0.02)
    assert (await lim.admit("k", 3, None, 1)) == (None, 0.0, True)  # the shared bucket again (it was at 2)
    assert lim.state == "shared"
    await lim.close()


async def test_a_store_that_does_not_answer_times_out_to_local_buckets() -> None:
    async def mute(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await r.read(1 << 16)
            await asyncio.sleep(30)

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    errors: list[str] = []
    lim = limiter(f"redis://127.0.0.1:{port}", timeout=0.05, errors=errors)
    try:
        await lim.start()
        t0 = asyncio.get_running_loop().time()
        assert await lim.admit("k", 3, None, 1) == (None, 0.0, False)
        assert asyncio.get_running_loop().time() - t0 < 1.0
        assert errors == ["timeout"]
    finally:
        await lim.close()
        server.close()


async def test_a_late_reply_is_consumed_by_its_timed_out_command_not_the_next_one() -> None:
    """Replies match commands by order: a reply that comes after its command timed out must not be taken as
    the answer to the command after it."""
    got: list[bytes] = []

    async def slow_first(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        for i, answer in enumerate((b"+FIRST\r\n", b"+SECOND\r\n")):
            got.append(await r.readuntil(b"\r\n"))
            while (await r.readuntil(b"\r\n")).strip() not in (b"PING", b"ECHO"):
                pass
            if i == 0:
                await asyncio.sleep(0.3)
            w.write(answer)
            await w.drain()
        await asyncio.sleep(5)

    server = await asyncio.start_server(slow_first, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RedisClient(RedisURL.parse(f"redis://127.0.0.1:{port}"), timeout=0.1)
    try:
        await client.connect()
        with pytest.raises(StoreError) as e:
            await client.call("PING")
        assert e.value.kind == "timeout" and "100 ms" in str(e.value)
        assert await client.call("ECHO", timeout=2.0) == "SECOND"
    finally:
        client.close()
        server.close()


async def test_nothing_listening_is_a_connect_error_and_local_limits() -> None:
    errors: list[str] = []
    lim = limiter(f"redis://127.0.0.1:{free_port()}", errors=errors)
    await lim.start()
    assert errors == ["connect"] and lim.state == "local"
    assert await lim.admit("k", 1, None, 1) == (None, 0.0, False)
    assert (await lim.admit("k", 1, None, 1))[0] == "requests_per_minute"


# ------------------------------------------------------------------------------------------ through the app
async def test_two_gateway_apps_enforce_one_limit_through_redis(redis: RedisServer) -> None:
    """Two gateways (two replicas) in front of one upstream, with a key limited to 3 requests/minute: 3 in all
    are served, the rest get 429 `requests_per_minute` from whichever gateway they reach. /readyz says the
    limits are shared."""
    fake = FakeUpstream(FakeConfig())
    text = policy_with({"limits.requests_per_minute": 3})
    clients = []
    for _ in range(2):
        metrics = Metrics()
        shared = limiter(redis.url)
        adapter = HttpAdapter("http://upstream", transport=httpx.ASGITransport(fake))
        app = create_app(compiled(text), adapter, metrics=metrics, shared_limits=shared)
        await app.startup()
        clients.append((app, httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH)))
    try:
        codes = []
        for i in range(6):
            r = await clients[i % 2][1].post("/v1/chat/completions", json=chat("hello"))
            codes.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "requests_per_minute"
                assert int(r.headers["retry-after"]) >= 1
        assert codes == [200, 200, 200, 429, 429, 429]
        ready = (await clients[0][1].get("/readyz")).json()
        assert ready["rate_limits"] == "shared"
    finally:
        for app, c in clients:
            await c.aclose()
            await app.shutdown()


async def test_app_without_redis_keeps_serving_with_local_limits() -> None:
    metrics = Metrics()
    shared = SharedLimiter(
        RedisClient(RedisURL.parse(f"redis://127.0.0.1:{free_port()}"), 0.2),
        Limiter(),
        on_error=lambda kind: metrics.child(metrics.ratelimit_store_errors, kind).inc(),
    )
    adapter = HttpAdapter("http://upstream", transport=httpx.ASGITransport(FakeUpstream(FakeConfig())))
    app = create_app(compiled(), adapter, metrics=metrics, shared_limits=shared)
    await app.startup()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw", headers=AUTH) as c:
        r = await c.post("/v1/chat/completions", json=chat("hello"))
        assert r.status_code == 200
        ready = await c.get("/readyz")
        assert ready.status_code == 200 and ready.json()["rate_limits"] == "local"
        scrape = app.metrics.render().decode()
        assert 'llmops_gateway_ratelimit_store_errors_total{kind="connect"} 1.0' in scrape
    await app.shutdown()


# ------------------------------------------------------------------------------------------ the rendered store
async def test_the_rendered_store_runs_with_the_secret_up_creates_and_the_gateway_gets_in(tmp_path: Path) -> None:
    """The prod tree's Valkey container arguments, run by a real redis-server (Valkey's command line is
    Redis's), with the config file from the Secret that `up` generates: it demands the password, and the
    gateway's client, given the Secret's password file as in the rendered gateway pod, gets in."""
    import subprocess

    import yaml

    from llmops_cli.cluster.steps.secrets import secret_object
    from llmops_cli.cluster.up import platform_secrets
    from llmops_cli.config.model import Settings
    from llmops_cli.gateway.settings import redis_password
    from llmops_cli.render import names
    from llmops_cli.render.api import render_environment
    from tests.render.tools import require_tool

    (spec,) = [s for s in platform_secrets(Settings()) if s.name == names.GATEWAY_REDIS_SECRET]
    secret = secret_object(spec, {"password": "generated-at-up"})["stringData"]
    mount = tmp_path / "secret"
    mount.mkdir()
    for key, value in secret.items():
        (mount / key).write_text(value)
    tree = render_environment(Settings(), "prod")
    (store,) = [yaml.safe_load(t) for p, t in tree.items() if p.endswith(f"deployment-{names.GATEWAY_REDIS_NAME}.yaml")]
    container = store["spec"]["template"]["spec"]["containers"][0]
    secret_dir = f"/var/run/secrets/{names.GATEWAY_REDIS_SECRET}"
    args = [a.replace(secret_dir, str(mount)).replace("/data", str(tmp_path)) for a in container["args"]]
    port = free_port()
    args[args.index("--port") + 1] = str(port)
    proc = subprocess.Popen(
        [require_tool("redis-server"), *args, "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = RedisURL.parse(f"redis://127.0.0.1:{port}/0")
        anonymous = RedisClient(url, timeout=1.0)
        for _ in range(100):
            try:
                await anonymous.connect()
                break
            except StoreError:
                await asyncio.sleep(0.05)
        with pytest.raises(RespError, match="NOAUTH"):
            await anonymous.call("PING")
        anonymous.close()
        password = redis_password({"PAC_REDIS_PASSWORD_FILE": str(mount / "password")})
        lim = SharedLimiter(RedisClient(RedisURL.parse(url.safe(), password), 1.0), Limiter())
        await lim.start()
        assert lim.state == "shared"
        assert await lim.admit("k", 2, None, 1) == (None, 0.0, True)
        await lim.close()
    finally:
        proc.terminate()
        proc.wait(10)


async def test_a_store_that_cannot_run_the_script_stays_down_without_flapping_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that accepts connections but refuses EVAL (scripting disabled): connecting is not enough to
    count as available, so there is one warning, not a 'back again' / 'unavailable' pair every second."""

    async def no_scripts(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while line := await r.readuntil(b"\r\n"):
                if line.startswith(b"*"):
                    w.write(b"-ERR unknown command, scripting is disabled\r\n")
                    await w.drain()

    server = await asyncio.start_server(no_scripts, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    now = [0.0]
    errors: list[str] = []
    lim = limiter(f"redis://127.0.0.1:{port}", errors=errors, clock=lambda: now[0])
    try:
        with caplog.at_level(logging.WARNING, "llmops.gateway"):
            await lim.start()
            for _ in range(3):
                now[0] += 1.5
                assert (await lim.admit("k", 5, None, 1))[2] is False
                await asyncio.sleep(0.05)  # the background reconnection and its probe
        assert lim.state == "local" and errors and set(errors) == {"error"}
        messages = [r.getMessage() for r in caplog.records]
        assert sum("unavailable" in m for m in messages) == 1
        assert not any("available again" in m for m in messages)
    finally:
        await lim.close()
        server.close()
