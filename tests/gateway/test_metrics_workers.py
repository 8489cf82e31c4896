"""Metrics of several workers (``--workers N``): every scrape answers with the sum over all of them.

Each "worker" is a separate Python process, as uvicorn's are; prometheus_client picks its multiprocess values
when it is imported, so this cannot run in the test process itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import sys
from llmops_cli.gateway.metrics import Metrics
m = Metrics()
assert m.shared
n, in_flight, exits = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "exit"
for _ in range(n):
    m.child(m.requests, "/v1/chat/completions", "fake-model", "200").inc()
    m.child(m.duration, "/v1/chat/completions").observe(0.01)
m.in_flight.set(in_flight)
if exits:
    m.close()
"""

SCRAPE = """
from llmops_cli.gateway.metrics import Metrics
print(Metrics().render().decode())
"""


def _run(code: str, *args: str, env: dict[str, str]) -> str:
    r = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def _value(text: str, prefix: str) -> float:
    lines = [ln for ln in text.splitlines() if ln.startswith(prefix)]
    assert len(lines) == 1, lines
    return float(lines[0].rsplit(" ", 1)[1])


def test_a_scrape_sums_all_workers_and_live_gauges_only(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    _run(WORKER, "3", "5", "exit", env=env)  # a worker that served 3 requests and has shut down
    _run(WORKER, "4", "2", "live", env=env)  # one still running, 2 requests in flight
    text = _run(SCRAPE, env=env)
    assert (
        _value(text, 'llmops_gateway_requests_total{model="fake-model",route="/v1/chat/completions",status="200"}') == 7
    )
    assert _value(text, 'llmops_gateway_request_duration_seconds_count{route="/v1/chat/completions"}') == 7
    assert _value(text, "llmops_gateway_in_flight_requests") == 2  # the exited worker's 5 left the sum


def test_one_worker_keeps_plain_in_memory_values() -> None:
    env = {k: v for k, v in os.environ.items() if k.upper() != "PROMETHEUS_MULTIPROC_DIR"}
    code = "from llmops_cli.gateway.metrics import Metrics\nm = Metrics()\nprint(m.shared)"
    assert _run(code, env={**env, "PYTHONPATH": str(ROOT)}).strip() == "False"
