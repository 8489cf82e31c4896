"""A small platform of real parts on loopback for `llmops verify`'s live checks.

- PostgreSQL 16 with pgvector (pgserver) and postgres_exporter (Debian's prometheus-postgres-exporter) on it;
- the fake OpenAI upstream with the pinned vLLM's /metrics (``vllm_facts``), standing in for vLLM;
- the real gateway (`llmops gateway serve`, a subprocess) in front of it, auditing to a file;
- a real Prometheus scraping the three with the labels prometheus-operator gives ServiceMonitor targets (``job``
  is the Service name, ``namespace`` its namespace) and loading the rendered alert rules;
- Grafana and Loki stand-ins (``standins``), Grafana querying that Prometheus, Loki serving the audit log.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from llmops_cli.config.model import Settings
from llmops_cli.gateway.testing.fake_upstream import serve_in_thread
from llmops_cli.render import names
from tests.gateway.conftest import KEY, policy_with
from tests.helpers import run_cli
from tests.realparts import free_port, need, start_gateway, stop, wait_for
from tests.render.tools import IN_CI
from tests.verify.standins import GrafanaStandIn, LokiStandIn, serve
from tests.verify.vllm_facts import VllmStandIn

ROOT = Path(__file__).resolve().parents[2]
MODEL = Settings().stacks.vllm.name
GRAFANA_USER, GRAFANA_PASSWORD = "admin", "verify-test-pw"


# ============================================================================================== PostgreSQL
@dataclass
class Postgres:
    dsn: str  # database with the vector extension
    dsn_noext: str  # a database of the same server without it
    socket_dir: str


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pgserver = pytest.importorskip("pgserver") if not IN_CI else __import__("pgserver")
    import psycopg

    data = tempfile.mkdtemp(prefix=f"llmops-verify-pg-{os.getpid()}-")
    srv = pgserver.get_server(data, cleanup_mode="delete")
    with psycopg.connect(srv.get_uri(), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        c.execute("CREATE DATABASE noext")
        c.execute("CREATE DATABASE llmops")  # stacks.pgvector.database, for verify inside a cluster
    with psycopg.connect(srv.get_uri("llmops"), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
    try:
        yield Postgres(srv.get_uri(), srv.get_uri("noext"), data)
    finally:
        srv.cleanup()


class Exporter:
    """postgres_exporter on a port of its own; stop() and start() again on the same port."""

    def __init__(self, dsn: str) -> None:
        self.exe = need("prometheus-postgres-exporter")
        self.port = free_port()
        # lib/pq's URL form: the socket directory as host=, no TLS on a Unix socket.
        self.dsn = dsn + "&sslmode=disable"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            env={"PATH": os.environ.get("PATH", ""), "DATA_SOURCE_NAME": self.dsn},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: "pg_up 1" in httpx.get(self.url + "/metrics").text, "postgres_exporter's pg_up 1")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)


# ============================================================================================== gateway
def gateway_policy(tmp: Path, *, input_email: str = "redact", output_email: str = "redact") -> Path:
    path = tmp / f"gateway-{input_email}-{output_email}.yaml"
    path.write_text(policy_with({"content.pii.input.email": input_email, "content.pii.output.email": output_email}))
    return path


# ============================================================================================== Prometheus
def rendered(kind: str) -> list[dict[str, Any]]:
    from llmops_cli.render.api import render_environment

    out = []
    for text in render_environment(Settings(), "dev").values():
        out += [d for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind") == kind]
    return out


def rule_file(path: Path) -> Path:
    """The rendered PrometheusRule groups as a rule file. Their ``for`` is 0s here: the real rules hold for 5-10
    minutes, which a test cannot wait; the expressions are the rendered ones."""
    groups = [g for obj in rendered("PrometheusRule") for g in obj["spec"]["groups"]]
    for g in groups:
        for r in g["rules"]:
            r["for"] = "0s"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=True))
    return path


@dataclass
class Platform:
    postgres: Postgres
    exporter: Exporter
    vllm: VllmStandIn
    vllm_url: str
    gateway_url: str
    gateway_metrics_url: str
    audit: Path
    prometheus_url: str
    grafana: GrafanaStandIn
    grafana_url: str
    loki: LokiStandIn
    loki_url: str
    tmp: Path
    procs: list[Any] = field(default_factory=list)

    def endpoint_args(self) -> list[str]:
        return [
            "--gateway-url",
            self.gateway_url,
            "--gateway-metrics-url",
            self.gateway_metrics_url + "/metrics",
            "--api-key",
            KEY,
            "--vllm-url",
            self.vllm_url,
            "--pg-dsn",
            self.postgres.dsn,
            "--prometheus-url",
            self.prometheus_url,
            "--grafana-url",
            self.grafana_url.replace("http://", f"http://{GRAFANA_USER}:{GRAFANA_PASSWORD}@"),
            "--loki-url",
            self.loki_url,
        ]

    def targets_health(self) -> dict[str, str]:
        data = httpx.get(self.prometheus_url + "/api/v1/targets").json()["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in data}


def start_prometheus(tmp: Path, scrape: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    exe = need("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(rule_file(tmp / "rules.yaml"))],
        "scrape_configs": [
            {
                "job_name": job,
                "static_configs": [{"targets": [target], "labels": {"namespace": names.APPS_NAMESPACE}}],
            }
            for job, target in scrape.items()
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [
            exe,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def platform(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    tmp = tmp_path_factory.mktemp("platform")
    exporter = Exporter(postgres.dsn)
    exporter.start()
    vllm = VllmStandIn(MODEL, chunk_chars=3)
    with serve_in_thread(vllm) as vllm_url:
        audit = tmp / "audit.jsonl"
        gw, gw_url, gw_metrics = start_gateway(vllm_url + "/v1", gateway_policy(tmp), audit)
        prom, prom_url = start_prometheus(
            tmp,
            {
                names.vllm_service_name(MODEL): vllm_url.removeprefix("http://"),
                names.GATEWAY_NAME: gw_metrics.removeprefix("http://"),
                names.PGVECTOR_NAME: exporter.url.removeprefix("http://"),
            },
        )
        try:
            dashboards = [
                json.loads(body)
                for cm in rendered("ConfigMap")
                if "grafana_dashboard" in (cm["metadata"].get("labels") or {})
                for body in cm["data"].values()
            ]
            grafana = GrafanaStandIn(prom_url, dashboards, user=GRAFANA_USER, password=GRAFANA_PASSWORD)
            loki = LokiStandIn(
                [({"namespace": names.APPS_NAMESPACE, "app": names.GATEWAY_NAME, "container": "gateway"}, audit)]
            )
            with serve(grafana) as grafana_url, serve(loki) as loki_url:
                p = Platform(
                    postgres,
                    exporter,
                    vllm,
                    vllm_url,
                    gw_url,
                    gw_metrics,
                    audit,
                    prom_url,
                    grafana,
                    grafana_url,
                    loki,
                    loki_url,
                    tmp,
                )
                # The first scrape lands ~5 s after Prometheus starts (a fixed discovery delay).
                wait_for(
                    lambda: len(p.targets_health()) == 3 and "unknown" not in p.targets_health().values(),
                    "Prometheus' first scrape of every target",
                    timeout=30,
                )
                # Rules evaluated before the first scrape saw no series (PgvectorDown's `or vector(0)`): wait for
                # an evaluation after it, as a fresh platform settles.
                wait_for(
                    lambda: httpx.get(prom_url + "/api/v1/alerts").json()["data"]["alerts"] == [],
                    "no alert firing on the healthy set",
                )
                yield p
                loki.close()
        finally:
            stop(prom)
            stop(gw)
            exporter.stop()


def verify(*args: str) -> tuple[int, dict[str, dict[str, Any]], str]:
    """`llmops verify --live-only -o json ARGS`: exit code, checks by name, stderr."""
    r = run_cli("verify", "--live-only", "-o", "json", *args)
    data = json.loads(r.stdout)["data"]
    return r.exit_code, {c["name"]: c for c in data["checks"]}, r.stderr
