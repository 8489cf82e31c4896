"""Real parts on loopback for the run-time governance tests: Prometheus, Alertmanager (Debian's 0.25), the real
gateway (`llmops gateway serve`) in front of the fake upstream, and a webhook receiver recording what arrives.

Every process binds 127.0.0.1 on a free port and is stopped by its PID; every directory is the test's tmp.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import yaml

from tests.render.tools import IN_CI

ROOT = Path(__file__).resolve().parents[1]
HINTS = {
    "prometheus": "apt-get install -y --no-install-recommends prometheus (.ci/system-deps.sh)",
    "prometheus-postgres-exporter": "apt-get install -y --no-install-recommends prometheus-postgres-exporter "
    "(.ci/system-deps.sh)",
    "prometheus-alertmanager": "apt-get install -y --no-install-recommends prometheus-alertmanager (.ci/system-deps.sh)",
    "amtool": "apt-get install -y --no-install-recommends prometheus-alertmanager (.ci/system-deps.sh)",
}

__all__ = [
    "Webhook",
    "free_port",
    "need",
    "start_alertmanager",
    "start_gateway",
    "start_prometheus",
    "stop",
    "wait_for",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(probe: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except (httpx.HTTPError, OSError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def need(tool: str) -> str:
    import shutil

    import pytest

    path = shutil.which(tool)
    if path:
        return path
    msg = f"{tool} is not installed: {HINTS.get(tool, '')}"
    if IN_CI:
        pytest.fail(msg + " (CI is set: this proof must run)")
    pytest.skip(msg)


def start_prometheus(
    tmp: Path,
    scrape_configs: list[dict[str, Any]],
    *,
    rule_files: list[Path] = (),  # type: ignore[assignment]
    alertmanager: str | None = None,
    interval: str = "1s",
) -> tuple[subprocess.Popen[bytes], str]:
    exe = need("prometheus")
    port = free_port()
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": scrape_configs,
    }
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [
                {"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}], "api_version": "v2"}
            ]
        }
    cfg = tmp / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(url + "/-/ready").status_code == 200, "Prometheus ready", timeout=30)
    except AssertionError:
        stop(proc)
        raise
    return proc, url


def start_alertmanager(tmp: Path, config: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    exe = need("prometheus-alertmanager")
    port = free_port()
    cfg = tmp / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={cfg}",
            f"--storage.path={tmp / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: a single, loopback-only instance
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(url + "/-/ready").status_code == 200 or proc.poll() is not None, "Alertmanager")
    except AssertionError:
        stop(proc)
        raise
    if proc.poll() is not None:
        raise AssertionError((proc.stderr.read() if proc.stderr else b"").decode())
    return proc, url


class GatewayProcess(NamedTuple):
    proc: subprocess.Popen[str]
    url: str  # the API
    metrics_url: str  # its own port (--metrics-port): the gateway serves /metrics there only


def start_gateway(
    upstream: str,
    policy: Path,
    audit: Path,
    *,
    release: Path | None = None,
    incidents: Path | None = None,
    env: dict[str, str] | None = None,
) -> GatewayProcess:
    """`llmops gateway serve` as a process on loopback, ready (/healthz answers)."""
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PAC_UPSTREAM_URL": upstream,
        "PAC_RELOAD_INTERVAL": "0",
        "PAC_AUDIT_LOG": str(audit),
        **(env or {}),
    }
    argv = [sys.executable, "-m", "llmops_cli", "gateway", "serve", "--policies", str(policy), "--port", str(port)]
    argv += ["--metrics-port", str(metrics_port)]
    if release is not None:
        argv += ["--release", str(release)]
    if incidents is not None:
        argv += ["--incidents", str(incidents)]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(url + "/healthz").status_code == 200 or proc.poll() is not None, "the gateway")
    except AssertionError:
        stop(proc)
        raise
    if proc.poll() is not None:
        raise AssertionError(proc.communicate()[1])
    return GatewayProcess(proc, url, f"http://127.0.0.1:{metrics_port}")


class Webhook:
    """An HTTP receiver on loopback that records each POST body (Alertmanager's webhook payloads)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                with hook._lock:
                    hook.bodies.append(body)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.bodies)

    @contextmanager
    def running(self) -> Iterator[Webhook]:
        self._thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
