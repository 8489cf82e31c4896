"""Policy Gateway overhead: the fake upstream directly vs through `llmops gateway serve` (default policy).

One run, same machine. The fake upstream and the load generator share core 0; the gateway (one worker) runs
alone on core 1 (``os.sched_setaffinity``). Everything binds 127.0.0.1. The load generator is a minimal
HTTP/1.1 keep-alive client on raw asyncio streams (uvloop when installed), so it is not the bottleneck the way
a general-purpose client would be. It and the fake upstream keep the cyclic collector off their long-lived
objects (``gc.freeze``; the upstream holds streamed chunks as bytes): their collections took 20-38 ms here
and set the p99 time to first token of every side before.

Figures:
  0. this machine's wake cost: the request policy check back to back and right after 5 ms idle. On the 2-core
     reference VM the second is about 7 times the first; a lightly loaded gateway pays it on every hop, which
     is most of what it adds to time to first token there.
  1. cost per request: 1 client, zero-latency upstream; added p50/p99, non-streaming and time to first token.
  2. 100 concurrent requests in flight against an upstream that answers after L ms (10, 25, 50, 100 by
     default; a model never answers faster), clients staggered so they do not arrive in lock-step; added
     p50/p99 latency, and added time to first token on streams paced like a model (first chunk at L, then one
     every 20 ms), which is where a hold-back window would show. Direct and gateway runs alternate for
     --rounds rounds and their samples are pooled, so that drift of this shared machine falls on both sides.
     The last column is what a do-nothing TCP relay on the gateway's core adds to time to first token under
     the same load: the floor of any proxy on this machine (the cross-core hops and wake-ups), measured in
     the same rounds. A second line splits the added time to first token into its two legs, from timestamps
     the fake upstream (``--stamp``) puts on each stream's first content chunk: the request leg (client write
     to the upstream having the request: parsing, policies, forwarding) and the first-chunk leg (the upstream
     writing that chunk to the client reading it: the streaming pipeline).
  3. saturation: 100 clients against a zero-latency upstream. Every request queues, so latency is
     100 / throughput (Little's law): this is a throughput comparison, not the gateway's added latency.
  4. open loop at increasing fixed rates: the highest rate one worker holds with p99 <= 50 ms;
  5. memory soak at a fixed rate for --soak seconds: gateway RSS growth after warm-up.
  6. refused-request flood: a second gateway (same core) where one key sends 1 MB requests that a blocked
     pattern refuses, from 16 connections as fast as it is answered, while another key sends ordinary requests
     at 50/s: that key's p50/p99 without and with the flood, and what the flood was answered. The flooding key
     has the shipped policy's limits (600 requests/min, 200,000 tokens/min).

The policy is the shipped ``policies/gateway.yaml`` plus one benchmark key whose per-key limits are raised
(the default 600 requests/min would otherwise answer 429 from the first second).

Usage: python benchmarks/gateway.py [--soak 60] [--quick] [--latencies 10,25,50,100] [--rounds 2]
                                   [--sections 1,2,3,4,5,6] [--gateway-src DIR]
                                   [--litellm-bin /path/to/venv/bin/litellm] [--busy-poll MS] [--redis]

``--gateway-src DIR`` runs the gateway (with its shipped policy) from another checkout, e.g. the main branch
extracted with ``git archive``, so a change's figures and its baseline's come from the same script, machine
and load generator.

``--redis`` starts a redis-server (pinned with the load generator) and the gateway with ``--redis-url``, so
every figure includes the shared rate-limit check: one script call per request before it goes upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmops_cli.gateway.policy.keys import hash_key  # noqa: E402

KEY = "llmops-benchmark-key-0000000000000000000000000000000000000"
FLOOD_KEY = "llmops-benchmark-flood-00000000000000000000000000000000000"
SRC = ROOT  # where the gateway runs from (--gateway-src)
PROMPT = (
    "Summarise the attached incident report for the on-call channel. The reporter can be reached at "
    "ops.lead@example.com; keep it under five sentences and do not include customer identifiers."
)
REPLY = (
    "The incident began at 09:12 when the ingestion queue stalled after a configuration push. Alerts fired "
    "within two minutes, the change was rolled back at 09:31, and the backlog drained by 09:50. No data was "
    "lost. Follow-up: add a canary stage for queue configuration changes."
)
LITELLM_KEY = "sk-benchmark-0123456789abcdef0123456789abcdef"
CORE_LOAD, CORE_GATEWAY = 0, 1
_CONTENT = re.compile(rb'"(?:content|text)":"[^"]')
_STAMP = re.compile(rb'"bench_t":\[(\d+),(\d+)\]')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(core: int):  # type: ignore[no-untyped-def]
    def fn() -> None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {core % os.cpu_count()})  # type: ignore[operator]

    return fn


def _wait_http(port: int, proc: subprocess.Popen[bytes], path: str = "/healthz", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited: {proc.args}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                if s.recv(64).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.args} did not start")


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------------------------------ load generator
def _quantile(values: list[float], q: float) -> float:
    xs = sorted(values)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


@dataclass
class Result:
    latencies: list[float]
    ttfts: list[float]
    errors: int
    elapsed: float
    # streams: (request leg, chunk leg) in seconds, from the fake upstream's stamps (see ``Conn.request``)
    legs: list[tuple[float, float]] = field(default_factory=list)

    def leg(self, i: int, q: float = 0.5) -> float:
        """Percentile of the request leg (``i`` = 0) or the chunk leg (1), in µs."""
        return _quantile([x[i] for x in self.legs], q) * 1e6

    def pct(self, q: float, ttft: bool = False) -> float:
        return _quantile(self.ttfts if ttft else self.latencies, q) * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def merge(self, other: Result) -> Result:
        """Both runs' samples together (the rate over both runs' time)."""
        return Result(
            self.latencies + other.latencies,
            self.ttfts + other.ttfts,
            self.errors + other.errors,
            self.elapsed + other.elapsed,
            self.legs + other.legs,
        )


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    async def request(self, raw: bytes) -> tuple[int, float | None, tuple[float, float] | None]:
        """Send one request; read the whole response. Returns (status, ttft seconds for streams, legs).

        ``legs``, when the first content chunk carries the fake upstream's ``bench_t`` stamp: seconds from
        this client's write to the upstream having the request (the request leg), and from the upstream writing
        that chunk to this client reading it (the chunk leg). Both clocks are ``perf_counter`` (one monotonic
        clock for all processes on Linux)."""
        t0 = time.perf_counter()
        self.w.write(raw)
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        ttft = None
        legs = None
        if b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await self.r.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await self.r.readuntil(b"\r\n")
                    break
                data = await self.r.readexactly(size + 2)
                if ttft is None and _CONTENT.search(data):
                    t1 = time.perf_counter()
                    ttft = t1 - t0
                    stamp = _STAMP.search(data)
                    if stamp:
                        arrived, sent = int(stamp.group(1)) / 1e9, int(stamp.group(2)) / 1e9
                        legs = (arrived - t0, t1 - sent)
        else:
            m = re.search(rb"content-length: (\d+)", lower)
            await self.r.readexactly(int(m.group(1)) if m else 0)
        return status, ttft, legs

    def close(self) -> None:
        self.w.close()


def build_request(path: str, body: dict[str, object], key: str | None) -> bytes:
    payload = json.dumps(body).encode()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload


async def closed_loop(
    port: int, raw: bytes, concurrency: int, total: int, max_s: float, stagger: float = 0.0
) -> Result:
    """``concurrency`` clients, each sending its next request as soon as the last one is answered.

    ``stagger``: client i starts i × stagger seconds late, so that against a slow upstream the clients do not
    all arrive in the same instant and stay in lock-step (100 users do not click at once)."""
    conns = await asyncio.gather(*(Conn.open(port) for _ in range(concurrency)))
    lat: list[float] = []
    ttfts: list[float] = []
    legs: list[tuple[float, float]] = []
    errors = 0
    remaining = total
    deadline = time.perf_counter() + max_s + stagger * concurrency

    async def worker(i: int, c: Conn) -> None:
        nonlocal remaining, errors
        if stagger:
            await asyncio.sleep(i * stagger)
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            t0 = time.perf_counter()
            status, ttft, leg = await c.request(raw)
            if status != 200:
                errors += 1
                continue
            lat.append(time.perf_counter() - t0)
            if ttft is not None:
                ttfts.append(ttft)
            if leg is not None:
                legs.append(leg)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return Result(lat, ttfts, errors, elapsed, legs)


async def open_loop(port: int, raw: bytes, rate: float, seconds: float, pool: int = 256) -> Result:
    """Requests start on a fixed schedule; waiting for a free connection counts in the latency."""
    conns: asyncio.Queue[Conn] = asyncio.Queue()
    for c in await asyncio.gather(*(Conn.open(port) for _ in range(pool))):
        conns.put_nowait(c)
    lat: list[float] = []
    errors = 0
    n = int(rate * seconds)
    start = time.perf_counter()
    tasks = []

    async def one(scheduled: float) -> None:
        nonlocal errors
        c = await conns.get()
        try:
            status, _, _ = await c.request(raw)
        finally:
            conns.put_nowait(c)
        if status != 200:
            errors += 1
        else:
            lat.append(time.perf_counter() - scheduled)

    for i in range(n):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(at)))
    _, pending = await asyncio.wait(tasks, timeout=seconds + 30)
    for t in pending:  # the target fell too far behind: count what never finished as errors
        t.cancel()
    errors += len(pending)
    elapsed = time.perf_counter() - start
    while not conns.empty():
        conns.get_nowait().close()
    return Result(lat, [], errors, elapsed)


# ------------------------------------------------------------------------------------------ processes
def start_gateway(
    tmp: Path,
    upstream: str,
    port: int,
    procs: list[subprocess.Popen[bytes]],
    *,
    pin: int | None = None,
    env: dict[str, str] | None = None,
    busy_poll_ms: float = 0.0,
    flood: bool = False,
) -> subprocess.Popen[bytes]:
    """`llmops gateway serve` on ``port`` in front of ``upstream``, with the shipped policy plus the benchmark
    key (per-key limits raised: the default 600 requests/min would answer 429 from the first second); added to
    ``procs`` and answering when this returns. ``flood``: also a key with the shipped limits and a blocked
    pattern (section 6)."""
    policy = (SRC / "policies" / "gateway.yaml").read_text()
    bench_key = (
        f'  keys:\n    - {{id: bench, name: bench, hash: "{hash_key(KEY)}", '
        "requests_per_minute: 100000000, tokens_per_minute: 100000000000, max_concurrency: 1000}"
    )
    if "max_concurrency_per_key" not in policy:  # a checkout from before per-key slots
        bench_key = bench_key.replace(", max_concurrency: 1000", "")
    if flood:
        bench_key += f'\n    - {{id: flood, name: flood, hash: "{hash_key(FLOOD_KEY)}"}}'
        policy = policy.replace(
            "  blocked_patterns: []", "  blocked_patterns:\n    - {id: codename, pattern: bluebird}"
        )
    name = "gateway-flood.yaml" if flood else "gateway.yaml"
    (tmp / name).write_text(policy.replace("  keys: []", bench_key))
    gw = subprocess.Popen(
        [
            *(sys.executable, "-m", "llmops_cli", "gateway", "serve", "--policies", str(tmp / name)),
            *("--upstream", upstream, "--port", str(port)),
            *(("--busy-poll", f"{busy_poll_ms:g}") if busy_poll_ms else ()),
        ],
        env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
        cwd=SRC,  # `python -m` puts the working directory first on sys.path
        preexec_fn=_pin(pin) if pin is not None else None,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(gw)
    _wait_http(port, gw)
    return gw


class _RelayDown(asyncio.Protocol):
    """One client connection of the do-nothing relay: bytes in either direction are written on as they come."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.pending: list[bytes] | None = []
        self.up: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        down = self

        class Up(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def data_received(self, data: bytes) -> None:
                down.t.write(data)

            def connection_lost(self, exc: Exception | None) -> None:
                down.t.close()

        loop = asyncio.get_running_loop()
        up, _ = await loop.create_connection(Up, "127.0.0.1", self.upstream_port)
        self.up = up  # type: ignore[assignment]
        for data in self.pending or ():
            up.write(data)
        self.pending = None

    def data_received(self, data: bytes) -> None:
        if self.up is None:
            assert self.pending is not None
            self.pending.append(data)
        else:
            self.up.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.up is not None:
            self.up.close()


async def serve_relay(port: int, upstream_port: int) -> None:
    server = await asyncio.get_running_loop().create_server(lambda: _RelayDown(upstream_port), "127.0.0.1", port)
    await server.serve_forever()


class Stack:
    def __init__(
        self,
        policy_override: str | None = None,
        litellm_bin: str | None = None,
        busy_poll_ms: float = 0.0,
        redis: bool = False,
    ) -> None:
        self.busy_poll_ms = busy_poll_ms
        self.redis = redis
        self.tmp = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.up_port = _free_port()
        self.gw_port = _free_port()
        self.litellm_bin = litellm_bin
        self.litellm_port: int | None = None
        self.litellm_proc: subprocess.Popen[bytes] | None = None
        self.relay_port = _free_port()

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        up = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llmops_cli.gateway.testing.fake_upstream",
                "--port",
                str(self.up_port),
                "--chunk-chars",
                "4",
                "--reply",
                REPLY,
                "--stamp",
            ],
            env=env,
            preexec_fn=_pin(CORE_LOAD),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(up)
        _wait_http(self.up_port, up, "/v1/models")
        gw_env = {"PAC_AUDIT_LOG": str(self.tmp / "audit.jsonl")}
        if self.redis:
            gw_env["PAC_REDIS_URL"] = self._start_redis()
        self.gateway_pid = start_gateway(
            self.tmp,
            f"http://127.0.0.1:{self.up_port}/v1",
            self.gw_port,
            self.procs,
            pin=CORE_GATEWAY,
            env=gw_env,
            busy_poll_ms=self.busy_poll_ms,
        ).pid
        relay = subprocess.Popen(
            [sys.executable, __file__, "--serve-relay", f"{self.relay_port}:{self.up_port}"],
            preexec_fn=_pin(CORE_GATEWAY),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(relay)
        _wait_http(self.relay_port, relay, "/v1/models")

    def _start_redis(self) -> str:
        """redis-server on a free port, pinned to the load core; its URL once it answers."""
        import shutil

        exe = shutil.which("redis-server") or shutil.which("valkey-server")
        if exe is None:
            raise SystemExit("--redis needs redis-server (apt-get install redis-server)")
        port = _free_port()
        p = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.tmp,
            preexec_fn=_pin(CORE_LOAD),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(p)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return f"redis://127.0.0.1:{port}/0"
            if time.monotonic() > deadline or p.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)

    def start_litellm(self) -> None:
        """Started only for its own measurements and stopped after them: an idle LiteLLM proxy still runs
        background tasks, which would steal time from the gateway's core."""
        self.litellm_port = _free_port()
        cfg = self.tmp / "litellm.yaml"
        cfg.write_text(
            "model_list:\n  - model_name: fake-model\n    litellm_params:\n      model: openai/fake-model\n"
            f"      api_base: http://127.0.0.1:{self.up_port}/v1\n      api_key: x\n"
        )
        env = {
            **os.environ,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_MASTER_KEY": LITELLM_KEY,
        }
        p = subprocess.Popen(
            [
                self.litellm_bin,
                "--config",
                str(cfg),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.litellm_port),
                "--num_workers",
                "1",
            ],  # type: ignore[list-item]
            env=env,
            preexec_fn=_pin(CORE_GATEWAY),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(p)
        self.litellm_proc = p
        _wait_http(self.litellm_port, p, "/health/liveliness", timeout=120)

    def stop_litellm(self) -> None:
        p = self.litellm_proc
        if p is None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


# ------------------------------------------------------------------------------------------ main
def _wake_cost(n: int = 200) -> tuple[float, float]:
    """Median µs of the gateway's request policy check (the default policy, the benchmark's prompt) run back
    to back, and run right after a 5 ms sleep. On a VM the second can be several times the first (caches and
    the core's state after an idle period); it is what each hop costs when the gateway is lightly loaded."""
    from llmops_cli.gateway.reload import PolicyHolder

    policy = PolicyHolder.from_file(ROOT / "policies" / "gateway.yaml").current
    body = json.dumps({"model": "fake-model", "messages": [{"role": "user", "content": PROMPT}]})

    def once() -> float:
        t = time.perf_counter()
        policy.check_request("chat", json.loads(body), None)
        return time.perf_counter() - t

    warm = sorted(once() for _ in range(n))
    idle = []
    for _ in range(n):
        time.sleep(0.005)
        idle.append(once())
    idle.sort()
    return warm[n // 2] * 1e6, idle[n // 2] * 1e6


def _row(label: str, direct: float, via: float, unit: str = "ms") -> str:
    return f"  {label:<34} {direct:>9.2f} {via:>11.2f} {via - direct:>+10.2f} {unit}"


def _latency_table(results: dict[tuple[str, str, int], Result], conc: int) -> None:
    """Direct vs gateway p50/p99 at ``conc`` clients: non-streaming latency and streaming TTFT."""
    print(f"  {'':<34} {'direct':>9} {'gateway':>11} {'added':>10}")
    for kind, label, ttft in (("unary", "non-streaming", False), ("stream", "streaming TTFT", True)):
        d, g = results[("direct", kind, conc)], results[("gateway", kind, conc)]
        for q in (0.5, 0.99):
            print(_row(f"{label} p{round(q * 100)}", d.pct(q, ttft), g.pct(q, ttft)))


async def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {CORE_LOAD % (os.cpu_count() or 1)})
    stack = Stack(litellm_bin=args.litellm_bin, busy_poll_ms=args.busy_poll, redis=args.redis)
    stack.start()
    # This process is the load generator: its own collections would stall every client at once (one full
    # collection took 38 ms here). What exists now lives to the end; keep the collector off it.
    gc.collect()
    gc.freeze()
    try:
        chat = {"model": "fake-model", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 128}
        stream = {**chat, "stream": True}
        targets = {"direct": (stack.up_port, None), "gateway": (stack.gw_port, KEY), "relay": (stack.relay_port, None)}
        sections = args.sections
        n_total = 1000 if args.quick else 4000
        print(
            f"cores: load generator + fake upstream on {CORE_LOAD}, gateway on {CORE_GATEWAY}; "
            f"python {sys.version.split()[0]}; cpus {os.cpu_count()}; gateway busy polling "
            + (f"{args.busy_poll:g} ms after activity" if args.busy_poll else "off (the default)")
            + ("; rate limits shared through redis-server (--redis)" if args.redis else "")
        )
        warm, idle = _wake_cost()
        print(
            f"this machine: the request policy check takes {warm:.0f} us warm and {idle:.0f} us right after 5 ms "
            "idle; a gateway that is mostly idle between events pays the second figure on its hops"
        )
        results: dict[tuple[str, str, int], Result] = {}
        concs = [c for c, sec in ((1, 1), (100, 3)) if sec in sections]
        for name in ("direct", "gateway") if concs else ():
            port, key = targets[name]
            for kind, body in (("unary", chat), ("stream", stream)):
                raw = build_request("/v1/chat/completions", body, key)
                await closed_loop(port, raw, 20, 200, 10)  # warm-up
                for conc in concs:
                    total = 400 if conc == 1 else n_total
                    results[(name, kind, conc)] = await closed_loop(port, raw, conc, total, 30)

        if 1 in sections:
            print("\n== 1. cost per request: 1 client, zero-latency upstream (ms) ==")
            _latency_table(results, 1)
            d, g = results[("direct", "stream", 1)], results[("gateway", "stream", 1)]
            print(_row("streaming total p50", d.pct(0.5), g.pct(0.5)))
        if 2 in sections:
            await _in_flight(args, targets, chat, stream)
        best = 0.0
        if 3 in sections:
            _saturation(results)
        if args.litellm_bin and concs:
            await _litellm(stack, results, concs, chat, stream, n_total)
        if 4 in sections:
            best = await _open_loop_max(stack, args, chat)
        if 5 in sections:
            await _soak(stack, args, chat, stream, args.soak_rate or max(100.0, best * 0.5 or 750.0))
        if 6 in sections:
            await _flood(stack, args, chat)
        return 0
    finally:
        stack.stop()


async def _in_flight(
    args: argparse.Namespace,
    targets: dict[str, tuple[int, str | None]],
    chat: dict[str, object],
    stream: dict[str, object],
) -> None:
    print(
        "\n== 2. 100 requests in flight; the upstream answers after L ms (a model's minimum). Non-streaming: "
        "the whole answer at L. Streaming: the first chunk at L, then one every 20 ms (50 tokens/s) =="
    )
    print(
        f"  {'L':>6} {'offered':>9}   {'direct p50/p99':>15} {'gateway p50/p99':>16} "
        f"{'added p50/p99':>15}   {'TTFT direct':>11} {'TTFT added p50/p99':>19} {'relay':>6}"
    )
    secs = 3.0 if args.quick else 6.0
    stream_s = 0.02 * (len(REPLY) // 4 + 2)  # chunks after the first, 20 ms apart
    for lat_ms in args.latencies:
        row = {(n, k): Result([], [], 0, 0.0) for n in ("direct", "gateway", "relay") for k in ("unary", "stream")}
        # Direct and gateway runs alternate for --rounds rounds and their samples are pooled, so a slow spell
        # of this shared machine lands on both sides instead of deciding the difference.
        for _ in range(args.rounds):
            for name in ("direct", "gateway", "relay"):
                port, key = targets[name]
                await asyncio.sleep(0.5)  # let the previous run's connections close
                if name != "relay":  # the relay's floor is measured on streams only
                    body = {**chat, "model": f"fake-model+{lat_ms:g}ms"}
                    raw = build_request("/v1/chat/completions", body, key)
                    res = await closed_loop(port, raw, 100, 10**9, secs, stagger=lat_ms / 1000 / 100)
                    row[(name, "unary")] = row[(name, "unary")].merge(res)
                paced = {**stream, "model": f"fake-model+{lat_ms:g}ms/20ms"}
                raw = build_request("/v1/chat/completions", paced, key)
                each = lat_ms / 1000 + stream_s
                res = await closed_loop(port, raw, 100, 10**9, max(secs, 3 * each), stagger=each / 100)
                row[(name, "stream")] = row[(name, "stream")].merge(res)
        du, gu = row[("direct", "unary")], row[("gateway", "unary")]
        ds, gs, rs = row[("direct", "stream")], row[("gateway", "stream")], row[("relay", "stream")]
        print(
            f"  {lat_ms:>4g}ms {100 / (lat_ms / 1000):>6.0f}/s   "
            f"{du.pct(0.5):>7.2f}/{du.pct(0.99):<7.2f} {gu.pct(0.5):>8.2f}/{gu.pct(0.99):<7.2f} "
            f"{gu.pct(0.5) - du.pct(0.5):>+7.2f}/{gu.pct(0.99) - du.pct(0.99):<+7.2f}   "
            f"{ds.pct(0.5, True):>11.2f} "
            f"{gs.pct(0.5, True) - ds.pct(0.5, True):>+9.2f}/{gs.pct(0.99, True) - ds.pct(0.99, True):<+9.2f}"
            f" {rs.pct(0.5, True) - ds.pct(0.5, True):>+6.2f}"
            f"   ({gu.rate:.0f} req/s, {len(gs.ttfts)} streams, errors {gu.errors + gs.errors})"
        )
        if gs.legs and ds.legs:
            print(
                f"  {'':>6} where the added TTFT goes, p50 µs: request leg gateway "
                f"{gs.leg(0) - ds.leg(0):+.0f}, relay {rs.leg(0) - ds.leg(0):+.0f}; first-chunk leg gateway "
                f"{gs.leg(1) - ds.leg(1):+.0f}, relay {rs.leg(1) - ds.leg(1):+.0f}"
            )


def _saturation(results: dict[tuple[str, str, int], Result]) -> None:
    print(
        "\n== 3. saturation: 100 clients, zero-latency upstream (a throughput test: every request queues, "
        "latency = 100 / throughput) =="
    )
    _latency_table(results, 100)
    d, g = results[("direct", "unary", 100)], results[("gateway", "unary", 100)]
    print(_row("throughput non-streaming", d.rate, g.rate, "req/s"))
    d, g = results[("direct", "stream", 100)], results[("gateway", "stream", 100)]
    print(_row("throughput streaming", d.rate, g.rate, "streams/s"))
    errs = sum(r.errors for r in results.values())
    print(f"  errors (non-200), all runs: {errs}")


async def _litellm(
    stack: Stack,
    results: dict[tuple[str, str, int], Result],
    concs: list[int],
    chat: dict[str, object],
    stream: dict[str, object],
    n_total: int,
) -> None:
    print("\n== LiteLLM proxy (1 worker, on the gateway's core), the same closed loops, for comparison ==")
    stack.start_litellm()
    assert stack.litellm_port is not None
    for kind, body in (("unary", chat), ("stream", stream)):
        raw = build_request("/v1/chat/completions", body, LITELLM_KEY)
        await closed_loop(stack.litellm_port, raw, 20, 200, 10)  # warm-up
        for conc in concs:
            total = 400 if conc == 1 else n_total
            results[("litellm", kind, conc)] = await closed_loop(stack.litellm_port, raw, conc, total, 30)
    stack.stop_litellm()
    for conc in concs:
        lu, ls = results[("litellm", "unary", conc)], results[("litellm", "stream", conc)]
        print(
            f"  @ {conc} conc: non-streaming p50 {lu.pct(0.5):.2f} p99 {lu.pct(0.99):.2f} ms, "
            f"{lu.rate:.0f} req/s; streaming TTFT p50 {ls.pct(0.5, True):.2f} ms"
        )


async def _open_loop_max(stack: Stack, args: argparse.Namespace, chat: dict[str, object]) -> float:
    """The highest fixed rate the gateway holds with p99 <= 50 ms and no errors."""
    print("\n== 4. open loop: highest rate one gateway worker holds with p99 <= 50 ms (non-streaming) ==")
    raw = build_request("/v1/chat/completions", chat, KEY)
    best = 0.0
    rates = [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000]
    for rate in rates:
        res = await open_loop(stack.gw_port, raw, rate, 3 if args.quick else 5)
        ok = res.pct(0.99) <= 50 and res.errors == 0
        print(
            f"  {rate:>5} req/s offered: achieved {res.rate:>7.0f} req/s, p50 {res.pct(0.5):6.2f} ms, "
            f"p99 {res.pct(0.99):7.2f} ms, errors {res.errors} {'ok' if ok else 'FAIL'}"
        )
        if not ok:
            break
        best = rate
    direct_best = 0.0
    for rate in rates:
        res = await open_loop(stack.up_port, raw, rate, 3 if args.quick else 5)
        if res.pct(0.99) > 50 or res.errors:
            break
        direct_best = rate
    print(
        f"  gateway holds {best:.0f} req/s (fake upstream alone holds {direct_best:.0f} req/s on core 0, "
        "so a cap at the upstream's rate is the upstream's, not the gateway's)"
    )
    return best


async def _soak(
    stack: Stack, args: argparse.Namespace, chat: dict[str, object], stream: dict[str, object], rate: float
) -> None:
    soak_rate = rate
    raw = build_request("/v1/chat/completions", chat, KEY)
    print(f"\n== 5. memory soak: {args.soak:.0f} s at {soak_rate:.0f} req/s (alternating unary / streaming) ==")
    raws = [raw, build_request("/v1/chat/completions", stream, KEY)]
    samples: list[tuple[float, int]] = []
    t_end = time.monotonic() + args.soak
    i = 0
    step = max(5.0, args.soak / 12)
    while time.monotonic() < t_end:
        seconds = min(step, t_end - time.monotonic())
        if seconds < 1:
            break
        await open_loop(stack.gw_port, raws[i % 2], soak_rate, seconds, pool=64)
        samples.append((args.soak - (t_end - time.monotonic()), _rss_kib(stack.gateway_pid)))
        i += 1
    if len(samples) >= 3:
        base = samples[1][1]  # after the first interval: pools, caches and histograms are warm
        last = samples[-1][1]
        growth = (last - base) / base * 100
        print("  RSS (MiB): " + ", ".join(f"{t:.0f}s={kib / 1024:.1f}" for t, kib in samples))
        print(f"  growth after warm-up: {growth:+.1f} % (target < 10 %)")


async def _flood(stack: Stack, args: argparse.Namespace, chat: dict[str, object]) -> None:
    print("\n== 6. refused-request flood: another key's latency while one key floods 1 MB requests that are refused ==")
    port = _free_port()
    gw = start_gateway(
        stack.tmp,
        f"http://127.0.0.1:{stack.up_port}/v1",
        port,
        stack.procs,
        pin=CORE_GATEWAY,
        env={"PAC_AUDIT_LOG": str(stack.tmp / "audit-flood.jsonl")},
        flood=True,
    )
    victim = build_request("/v1/chat/completions", chat, KEY)
    text = "the quarterly numbers look fine " * 32_000 + "project bluebird"
    flood = build_request(
        "/v1/chat/completions", {"model": "fake-model", "messages": [{"role": "user", "content": text}]}, FLOOD_KEY
    )
    secs = 5.0 if args.quick else 10.0
    await open_loop(port, victim, 50, 1, pool=8)  # warm-up
    quiet = await open_loop(port, victim, 50, secs, pool=8)
    stop = asyncio.Event()
    answered: dict[int, int] = {}

    async def flooder() -> None:
        while not stop.is_set():
            try:
                c = await Conn.open(port)
            except OSError:
                await asyncio.sleep(0.01)
                continue
            try:
                while not stop.is_set():
                    status, _, _ = await c.request(flood)
                    answered[status] = answered.get(status, 0) + 1
            except (OSError, asyncio.IncompleteReadError, ValueError):
                pass  # the gateway closed the connection: open another
            finally:
                c.close()

    flooders = [asyncio.ensure_future(flooder()) for _ in range(16)]
    await asyncio.sleep(1.0)
    loud = await open_loop(port, victim, 50, secs, pool=8)
    stop.set()
    await asyncio.wait(flooders, timeout=30)
    print(f"  ordinary requests of another key at 50/s, {secs:.0f} s each (ms):")
    print(f"    without the flood: p50 {quiet.pct(0.5):8.2f}  p99 {quiet.pct(0.99):8.2f}  errors {quiet.errors}")
    print(f"    during the flood:  p50 {loud.pct(0.5):8.2f}  p99 {loud.pct(0.99):8.2f}  errors {loud.errors}")
    print("  the flood was answered: " + ", ".join(f"{n} x {s}" for s, n in sorted(answered.items())))
    gw.send_signal(signal.SIGTERM)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--soak", type=float, default=60.0, help="memory soak length in seconds (default 60)")
    ap.add_argument(
        "--sections",
        type=lambda v: {int(x) for x in v.split(",")},
        default={1, 2, 3, 4, 5, 6},
        help="which figures to measure, e.g. 2 or 1,3 (default all: 1,2,3,4,5,6)",
    )
    ap.add_argument("--soak-rate", type=float, default=None, help="soak request rate (default: half the max)")
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    ap.add_argument(
        "--redis", action="store_true", help="shared rate limits: the gateway checks each request in a redis-server"
    )
    ap.add_argument(
        "--latencies",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[10.0, 25.0, 50.0, 100.0],
        help="upstream latencies in ms for the 100-in-flight table (default 10,25,50,100)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="alternating direct/gateway rounds per latency in the 100-in-flight table (default 2)",
    )
    ap.add_argument("--litellm-bin", default=None, help="`litellm` executable of a venv with litellm[proxy]")
    ap.add_argument("--gateway-src", default=None, metavar="DIR", help="run the gateway from this checkout")
    ap.add_argument("--serve-relay", default=None, metavar="PORT:UPSTREAM", help=argparse.SUPPRESS)
    ap.add_argument(
        "--busy-poll",
        type=float,
        default=0.0,
        metavar="MS",
        help="start the gateway with `--busy-poll MS` (default 0: off, as shipped)",
    )
    args = ap.parse_args()
    if args.gateway_src:
        global SRC
        SRC = Path(args.gateway_src).resolve()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.serve_relay:  # the do-nothing relay of section 2, started by Stack as its own process
        port, upstream = (int(x) for x in args.serve_relay.split(":"))
        asyncio.run(serve_relay(port, upstream))
        return 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
