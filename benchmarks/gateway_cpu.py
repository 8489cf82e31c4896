"""Policy Gateway CPU cost per request, in process: the ASGI app with the shipped policy in front of an in-memory
upstream (no sockets, no other process), non-streaming and streaming (61 chunks of 4 characters).

CPU time of this process (``time.process_time``), the best of 5 batches of 1,000 requests after 300 warm-up
requests: what the gateway's own code costs, which a shared machine's other load shifts far less than the
wall-clock figures of ``benchmarks/gateway.py``. With ``--baseline-src DIR`` (another checkout, e.g. the main
branch extracted with ``git archive``) both trees are measured in alternating subprocesses, three rounds each,
and printed side by side.

Usage: python benchmarks/gateway_cpu.py [--baseline-src DIR] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KEY = "llmops-benchmark-key-0000000000000000000000000000000000000"
PROMPT = (
    "Summarise the attached incident report for the on-call channel. The reporter can be reached at "
    "ops.lead@example.com; keep it under five sentences and do not include customer identifiers."
)
REPLY = (
    "The incident began at 09:12 when the ingestion queue stalled after a configuration push. Alerts fired "
    "within two minutes, the change was rolled back at 09:31, and the backlog drained by 09:50. No data was "
    "lost. Follow-up: add a canary stage for queue configuration changes."
)


def measure(src: Path) -> dict[str, float]:
    """µs of CPU per request of the gateway in ``src``, non-streaming and streaming."""
    sys.path.insert(0, str(src))
    import orjson

    from llmops_cli.gateway.app import create_app
    from llmops_cli.gateway.audit import AuditLog
    from llmops_cli.gateway.policy import CompiledPolicy, parse_policy
    from llmops_cli.gateway.policy.keys import hash_key

    try:
        from llmops_cli.gateway.upstream.base import UpstreamResponse
    except ModuleNotFoundError:  # a baseline from before gateway/adapters became gateway/upstream
        from llmops_cli.gateway.adapters import UpstreamResponse  # type: ignore[no-redef]

    key_entry = (
        f'  keys:\n    - {{id: bench, name: bench, hash: "{hash_key(KEY)}", '
        "requests_per_minute: 100000000, tokens_per_minute: 100000000000}"
    )
    policy = (src / "policies" / "gateway.yaml").read_text().replace("  keys: []", key_entry)
    base = {"id": "chatcmpl-1", "created": 1, "model": "fake-model"}
    unary = orjson.dumps(
        {
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100},
        }
    )
    chunk = {**base, "object": "chat.completion.chunk"}
    events = [
        {
            **chunk,
            "choices": [{"index": 0, "delta": {"content": REPLY[i : i + 4]}, "logprobs": None, "finish_reason": None}],
        }
        for i in range(0, len(REPLY), 4)
    ]
    events.append(
        {
            **chunk,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 60},
        }
    )
    raw = [b"data: " + orjson.dumps(e) + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]

    class Stream:
        status = 200

        async def aiter_raw(self) -> AsyncIterator[bytes]:
            for r in raw:
                yield r

        async def aread(self) -> bytes:
            return b""

    class Upstream:
        async def request(self, method: str, path: str, body: bytes | None = None) -> Any:
            return UpstreamResponse(200, unary)

        @contextlib.asynccontextmanager
        async def stream(self, path: str, body: bytes) -> AsyncIterator[Stream]:
            yield Stream()

        async def ready(self) -> bool:
            return True

        async def close(self) -> None:
            pass

    app = create_app(CompiledPolicy(parse_policy(policy, "gateway.yaml")), Upstream(), audit=AuditLog(None))
    request = {"model": "fake-model", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 128}
    bodies = {"unary": orjson.dumps(request), "stream": orjson.dumps({**request, "stream": True})}

    async def one(body: bytes) -> None:
        pending = [{"type": "http.request", "body": body, "more_body": False}]
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if pending:
                return pending.pop()
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(m: dict[str, Any]) -> None:
            if m["type"] == "http.response.body" and not m.get("more_body"):
                done.set()

        headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
        await app({"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}, receive, send)

    async def run() -> dict[str, float]:
        out = {}
        for name, body in bodies.items():
            for _ in range(300):
                await one(body)
            batches = []
            for _ in range(5):
                gc.collect()
                t = time.process_time()
                for _ in range(1000):
                    await one(body)
                batches.append((time.process_time() - t) / 1000 * 1e6)
            out[name] = min(batches)
        return out

    return asyncio.run(run())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-src", default=None, metavar="DIR", help="another checkout to compare with")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per tree (default 3)")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args, _ = ap.parse_known_args()  # `nox -s bench -- ...` passes the other benchmarks' flags too
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return 0
    trees = {"this tree": ROOT}
    if args.baseline_src:
        trees = {"baseline": Path(args.baseline_src).resolve(), **trees}
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for label, src in trees.items():
            out = subprocess.run(
                [sys.executable, __file__, "--measure", str(src)], capture_output=True, text=True, check=True, cwd=src
            )
            got = json.loads(out.stdout)
            prev = best.setdefault(label, got)
            best[label] = {k: min(v, prev[k]) for k, v in got.items()}
    print("gateway CPU per request, in process (µs; best of each tree's rounds):")
    print(f"  {'':<28}" + "".join(f"{label:>12}" for label in best) + ("       added" if len(best) == 2 else ""))
    for kind, label in (("unary", "non-streaming"), ("stream", "streaming, 61 chunks")):
        row = [best[t][kind] for t in best]
        added = f"  {row[1] - row[0]:>+10.1f}" if len(row) == 2 else ""
        print(f"  {label:<28}" + "".join(f"{v:>12.1f}" for v in row) + added)
    return 0


if __name__ == "__main__":
    sys.exit(main())
