"""`llmops verify` against real parts (see conftest): green on the healthy set, and each broken part turns its
own check red with the hint that fixes it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops_cli.config.model import Settings
from tests.gateway.conftest import KEY
from tests.helpers import run_cli
from tests.realparts import free_port, start_gateway, stop, wait_for
from tests.verify.conftest import GRAFANA_PASSWORD, GRAFANA_USER, MODEL, Platform, gateway_policy, verify

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

GATEWAY = ["gateway ready", "gateway refuses requests without a key", "gateway chat completion"]
GATEWAY += ["gateway streamed completion", "gateway redacts email"]
VLLM = ["vllm models", "vllm completion", "vllm metrics"]
PG = ["pgvector connect", "pgvector extension", "pgvector nearest neighbour"]
PROM = ["prometheus targets", "prometheus rules", "prometheus alerts"]
GRAFANA = ["grafana health", "grafana dashboards", "grafana queries"]


def test_healthy_platform_passes_every_check_with_grafana_and_loki_stand_ins(platform: Platform, workdir) -> None:
    code, checks, _ = verify(*platform.endpoint_args())
    assert code == 0, checks
    assert set(checks) == {"expected state", *GATEWAY, *VLLM, *PG, *PROM, *GRAFANA, "loki gateway logs"}
    bad = {n: c for n, c in checks.items() if c["status"] not in ("ok", "warn")}
    assert bad == {}
    # Grafana may find panels of events that did not happen (no 5xx, no upstream errors): a warning, not red.
    assert {n for n, c in checks.items() if c["status"] == "warn"} <= {"grafana queries"}
    assert "redacted before the upstream" in checks["gateway redacts email"]["detail"]
    assert "[DONE]" in checks["gateway streamed completion"]["detail"]
    assert "through the HNSW index" in checks["pgvector nearest neighbour"]["detail"]
    assert "audit line of request llmops-verify-" in checks["loki gateway logs"]["detail"]
    assert all(c["seconds"] >= 0 for c in checks.values())
    # Grafana got each query with its template variables filled in (it does not do that itself).
    assert platform.grafana.queries and not any("$" in q["expr"] for q in platform.grafana.queries)
    # The scratch table is gone.
    import psycopg

    with psycopg.connect(platform.postgres.dsn) as c:
        assert c.execute("SELECT count(*) FROM pg_class WHERE relname LIKE 'llmops_verify_%'").fetchone()[0] == 0


def test_an_explicit_endpoint_runs_only_its_checks(platform: Platform, workdir) -> None:
    code, checks, _ = verify("--pg-dsn", platform.postgres.dsn)
    assert code == 0 and set(checks) == {"expected state", *PG}, checks


def test_wrong_key_fails_the_completions_with_the_key_hint(platform: Platform, workdir) -> None:
    code, checks, _ = verify("--gateway-url", platform.gateway_url, "--api-key", "llmops-wrong-key-" + "0" * 40)
    assert code == 1
    assert checks["gateway ready"]["status"] == "ok"
    assert checks["gateway refuses requests without a key"]["status"] == "ok"
    for name in ("gateway chat completion", "gateway streamed completion", "gateway redacts email"):
        assert checks[name]["status"] == "fail", checks[name]
    assert "401" in checks["gateway chat completion"]["detail"]
    assert "gateway keys create" in checks["gateway chat completion"]["hint"]


def test_no_key_skips_what_needs_one(platform: Platform, workdir, monkeypatch) -> None:
    code, checks, _ = verify("--gateway-url", platform.gateway_url)
    assert code == 0
    assert checks["gateway chat completion"]["status"] == "skip"
    assert "--api-key" in checks["gateway chat completion"]["hint"]


@pytest.mark.parametrize(
    ("input_email", "output_email", "said"),
    [
        # The input policy lets the address through; the output policy then redacts the upstream's echo, so only
        # the gateway's own decisions (what its audit record holds) show the address reached the upstream.
        ("off", "redact", "made no decision"),
        ("log", "redact", "was log"),
        # Nothing redacts anything: the upstream's echo carries the address back.
        ("off", "off", "reply carries the email address unredacted"),
    ],
)
def test_redaction_off_fails_the_redaction_check(
    platform: Platform, workdir, tmp_path, input_email: str, output_email: str, said: str
) -> None:
    policy = gateway_policy(tmp_path, input_email=input_email, output_email=output_email)
    proc, url, metrics = start_gateway(platform.vllm_url + "/v1", policy, tmp_path / "audit.jsonl")
    try:
        code, checks, _ = verify("--gateway-url", url, "--gateway-metrics-url", metrics + "/metrics", "--api-key", KEY)
    finally:
        stop(proc)
    assert code == 1
    c = checks["gateway redacts email"]
    assert c["status"] == "fail" and said in c["detail"], c
    assert "content.pii.input.email: redact" in c["hint"]
    assert checks["gateway chat completion"]["status"] == "ok"


def test_missing_vector_extension_fails_with_the_create_extension_hint(platform: Platform, workdir) -> None:
    code, checks, _ = verify("--pg-dsn", platform.postgres.dsn_noext)
    assert code == 1
    assert checks["pgvector connect"]["status"] == "ok"
    assert checks["pgvector extension"]["status"] == "fail"
    assert "available" in checks["pgvector extension"]["detail"]
    assert "CREATE EXTENSION vector" in checks["pgvector extension"]["hint"]
    assert checks["pgvector nearest neighbour"]["status"] == "skip"


def test_unreachable_database_fails_connect(platform: Platform, workdir) -> None:
    code, checks, _ = verify(
        "--pg-dsn", f"postgresql://llmops:secret-pw@127.0.0.1:{free_port()}/llmops", "--timeout", "2"
    )
    assert code == 1
    assert checks["pgvector connect"]["status"] == "fail"
    assert "secret-pw" not in checks["pgvector connect"]["detail"]


def test_a_metric_the_dashboards_need_is_absent(platform: Platform, workdir) -> None:
    # llm-d-inference-sim v0.6.1 (the default dev backend today) lacks these four (issue 20).
    lacking = ["vllm:kv_cache_usage_perc", "vllm:inter_token_latency_seconds"]
    platform.vllm.set_metrics(drop=lacking)
    try:
        code, checks, _ = verify("--vllm-url", platform.vllm_url)
    finally:
        platform.vllm.set_metrics()
    assert code == 1
    c = checks["vllm metrics"]
    assert c["status"] == "fail"
    assert "vllm:kv_cache_usage_perc" in c["detail"] and "vllm:inter_token_latency_seconds_bucket" in c["detail"]
    assert "metrics.py" in c["hint"]
    assert checks["vllm models"]["status"] == "ok" and checks["vllm completion"]["status"] == "ok"


def test_series_of_another_model_fail_the_metrics_check(platform: Platform, workdir) -> None:
    platform.vllm.set_metrics(model="some-other-model")
    try:
        code, checks, _ = verify("--vllm-url", platform.vllm_url)
    finally:
        platform.vllm.set_metrics()
    assert code == 1
    assert "model_name=some-other-model" in checks["vllm metrics"]["detail"]


def test_wrong_credentials_fail_the_dashboards_of_a_grafana_stand_in(platform: Platform, workdir) -> None:
    url = platform.grafana_url.replace("http://", "http://admin:nope@")
    code, checks, _ = verify("--grafana-url", url)
    assert code == 1
    assert checks["grafana health"]["status"] == "ok"
    assert checks["grafana dashboards"]["status"] == "fail" and "credentials" in checks["grafana dashboards"]["hint"]


def test_a_grafana_stand_in_missing_a_dashboard_is_named(platform: Platform, workdir) -> None:
    gone = platform.grafana.dashboards.pop("llmops-pgvector")
    try:
        code, checks, _ = verify(
            "--grafana-url", platform.grafana_url.replace("http://", "http://admin:verify-test-pw@")
        )
    finally:
        platform.grafana.dashboards["llmops-pgvector"] = gone
    assert code == 1
    assert "llmops-pgvector" in checks["grafana dashboards"]["detail"]


def test_a_loki_stand_in_without_the_gateway_lines_fails(platform: Platform, workdir) -> None:
    sources = platform.loki.sources
    platform.loki.sources = []
    lines = platform.loki.lines
    platform.loki.lines = []
    try:
        code, checks, _ = verify("--loki-url", platform.loki_url)
    finally:
        platform.loki.sources, platform.loki.lines = sources, lines
    assert code == 1
    assert checks["loki gateway logs"]["status"] == "fail" and "alloy" in checks["loki gateway logs"]["hint"]


# ---------------------------------------------------------------------------------------------- inside a cluster
def _cluster(platform: Platform, api: Any, env: str = "dev") -> None:
    """Services, pods, Secrets and Applications as the rendered tree and `up` leave them, each pod port bridged
    to the real part of the platform fixture."""
    import base64

    from llmops_cli.render import names
    from llmops_cli.verify.expected import expected_for
    from tests.adapters.kubeapi_ws import pod, service

    apps, mon = names.APPS_NAMESPACE, names.MONITORING_NAMESPACE

    def hostport(url: str) -> tuple[str, str, int]:
        host, port = url.removeprefix("http://").split(":")
        return ("tcp", host, int(port))

    def part(
        ns: str, name: str, ports: list[dict[str, Any]], pod_ports: dict[str, int], where: dict[int, Any], **kw: Any
    ) -> None:
        sel = {"app.kubernetes.io/name": name}
        api.put(service(name, ns, sel, ports, **kw), "services")
        api.put(pod(f"{name}-0", ns, sel, pod_ports), "pods")
        for port, target in where.items():
            api.ports[(ns, f"{name}-0", port)] = target

    part(
        apps,
        names.GATEWAY_NAME,
        [
            {"name": "http", "port": 8080, "targetPort": "http"},
            {"name": "metrics", "port": 9464, "targetPort": "metrics"},  # as rendered: metrics on their own port
        ],
        {"http": 8080, "metrics": 9464},
        {8080: hostport(platform.gateway_url), 9464: hostport(platform.gateway_metrics_url)},
    )
    part(
        apps,
        names.vllm_service_name(MODEL),
        [{"name": "http", "port": 8000, "targetPort": "http"}],
        {"http": 8000},
        {8000: hostport(platform.vllm_url)},
    )
    part(
        apps,
        names.PGVECTOR_NAME,
        [
            {"name": "postgres", "port": 5432, "targetPort": "postgres"},
            {"name": "metrics", "port": 9187, "targetPort": "metrics"},
        ],
        {"postgres": 5432, "metrics": 9187},
        {5432: ("unix", f"{platform.postgres.socket_dir}/.s.PGSQL.5432")},
    )
    part(
        mon,
        "kube-prometheus-stack-prometheus",
        [{"name": "http-web", "port": 9090, "targetPort": 9090}],
        {"http-web": 9090},
        {9090: hostport(platform.prometheus_url)},
    )
    part(
        mon,
        "kube-prometheus-stack-grafana",
        [{"name": "http-web", "port": 80, "targetPort": 3000}],
        {"grafana": 3000},
        {3000: hostport(platform.grafana_url)},
        labels={"app.kubernetes.io/name": "grafana"},
    )
    api.objects[("services", mon, "kube-prometheus-stack-grafana")]["spec"]["selector"] = {
        "app.kubernetes.io/name": "kube-prometheus-stack-grafana"
    }
    part(
        mon,
        "loki",
        [{"name": "http-metrics", "port": 3100, "targetPort": "http-metrics"}],
        {"http-metrics": 3100},
        {3100: hostport(platform.loki_url)},
    )

    def secret(name: str, ns: str, data: dict[str, str]) -> None:
        api.put(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": ns},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            },
            "secrets",
        )

    secret(names.PGVECTOR_SECRET, apps, {"username": "postgres", "password": "pw-unused-by-trust-auth"})
    secret(names.GRAFANA_ADMIN_SECRET, mon, {"admin-user": GRAFANA_USER, "admin-password": GRAFANA_PASSWORD})
    for name in expected_for(Settings(), env).applications:
        chart = name not in (f"llmops-{env}", "gateway", "vllm", "pgvector", "observability")
        api.put(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": name, "namespace": names.ARGOCD_NAMESPACE},
                "spec": {"project": names.PROJECT},
                # As Argo CD writes it: a chart source's revision is the chart version, a Git source's the commit.
                "status": {
                    "sync": {
                        "status": "Synced",
                        "revision": "77.14.0" if chart else "0123456789abcdef0123456789abcdef01234567",
                    },
                    "health": {"status": "Healthy"},
                },
            },
            "applications",
        )


@pytest.fixture
def cluster(platform: Platform, hermetic_env: Path) -> Iterator[Any]:
    """The stand-in API server, and the kubeconfig context llmops-llmops pointing at it."""
    from llmops_cli.adapters import kubeconfig as kc
    from tests.adapters.kubeapi_ws import KubeApi, kubeconfig, serve

    api = KubeApi()
    _cluster(platform, api)
    with serve(api) as url:
        cfg = kubeconfig(url)
        cfg["contexts"][0]["name"] = cfg["current-context"] = "llmops-llmops"
        path = Path(os.environ["KUBECONFIG"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kc.dump(cfg))
        yield api


def test_inside_a_cluster_verify_port_forwards_to_every_part(platform: Platform, cluster: Any, workdir) -> None:
    r = run_cli("verify", "--live-only", "--api-key", KEY, "-o", "json")
    data = json.loads(r.stdout)["data"]
    checks = {c["name"]: c for c in data["checks"]}
    assert r.exit_code == 0, {n: c for n, c in checks.items() if c["status"] == "fail"}
    assert data["mode"] == "cluster" and data["environment"] == "dev"  # detected from the root Application
    assert {*GATEWAY, *VLLM, *PG, *PROM, *GRAFANA, "loki gateway logs"} <= set(checks)
    argo = {n: c for n, c in checks.items() if c["component"] == "argocd"}
    assert len(argo) == 11 and all(
        c["status"] == "ok" for c in argo.values()
    )  # the root app + apps/ (argo-rollouts too)
    assert argo["argocd llmops-dev"]["detail"] == "Synced/Healthy at 0123456"
    assert argo["argocd loki"]["detail"] == "Synced/Healthy at 77.14.0"
    # Every connection went through a port-forward, and every one was closed at the end.
    assert cluster.forwards >= 6
    deadline = time.monotonic() + 5
    while cluster.open_forwards and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cluster.open_forwards == 0


@pytest.fixture
def remote(platform: Platform, hermetic_env: Path) -> Iterator[Any]:
    """A remote environment's cluster (prod) as its kubeconfig context llmops-prod, beside the user's current
    context `work` (another cluster, unreachable); no llmops-llmops context."""
    from llmops_cli.adapters import kubeconfig as kc
    from tests.adapters.kubeapi_ws import KubeApi, kubeconfig, serve

    api = KubeApi()
    _cluster(platform, api, env="prod")
    with serve(api) as url:
        cfg = kubeconfig(url)
        cfg["contexts"][0]["name"] = "llmops-prod"
        cfg["clusters"].append({"name": "work", "cluster": {"server": "https://127.0.0.1:1"}})
        cfg["contexts"].append({"name": "work", "context": {"cluster": "work", "user": "u"}})
        cfg["current-context"] = "work"
        path = Path(os.environ["KUBECONFIG"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kc.dump(cfg))
        yield api


def test_a_remote_environment_is_checked_through_its_context(platform: Platform, remote: Any, workdir) -> None:
    r = run_cli("verify", "--live-only", "--context", "llmops-prod", "--api-key", KEY, "-o", "json")
    data = json.loads(r.stdout)["data"]
    checks = {c["name"]: c for c in data["checks"]}
    assert data["mode"] == "cluster" and data["environment"] == "prod"  # the root Application llmops-prod
    # Everything passes but the rules: the fixture's Prometheus holds dev's rules, and prod (a gated environment)
    # expects alerts dev lacks; verify names exactly those, so it judged the cluster against prod's tree.
    from llmops_cli.verify.expected import expected_for

    def alerts(env: str) -> set[str]:
        return {a for group in expected_for(Settings(), env).rule_groups.values() for a in group}

    prod_only = alerts("prod") - alerts("dev")
    assert prod_only and r.exit_code == 1
    assert [n for n, c in checks.items() if c["status"] == "fail"] == ["prometheus rules"]
    assert set(checks["prometheus rules"]["detail"].split(": ", 1)[1].split(", ")) == prod_only
    assert {*GATEWAY, *VLLM, *PG, *PROM, *GRAFANA, "loki gateway logs"} <= set(checks)
    assert checks["argocd llmops-prod"]["status"] == "ok" and "argocd llmops-dev" not in checks
    assert remote.forwards >= 6  # every part through port-forwards on that cluster
    # without --context, verify looks for llmops-llmops (absent here) and never uses the current context
    plain = run_cli("verify", "--live-only", "-o", "json")
    skipped = {c["name"]: c for c in json.loads(plain.stdout)["data"]["checks"]}
    assert plain.exit_code == 0 and skipped["cluster"]["status"] == "skip"
    assert "llmops-llmops" in skipped["cluster"]["detail"]


def test_inside_a_cluster_a_missing_service_and_a_degraded_app_turn_red(
    platform: Platform, cluster: Any, workdir
) -> None:
    from llmops_cli.render import names

    del cluster.objects[("services", names.APPS_NAMESPACE, names.PGVECTOR_NAME)]
    cluster.objects[("applications", names.ARGOCD_NAMESPACE, "pgvector")]["status"] = {
        "sync": {"status": "Synced", "revision": "0123456789abcdef0123456789abcdef01234567"},
        "health": {"status": "Degraded"},
        "resources": [
            {
                "kind": "StatefulSet",
                "namespace": "llmops",
                "name": "pgvector",
                "status": "Synced",
                "health": {"status": "Degraded", "message": "0 of 1 replicas ready"},
            }
        ],
    }
    r = run_cli("verify", "--live-only", "--api-key", KEY, "-o", "json")
    checks = {c["name"]: c for c in json.loads(r.stdout)["data"]["checks"]}
    assert r.exit_code == 1
    assert checks["pgvector reachable"]["status"] == "fail"
    assert "Service pgvector in namespace llmops not found" in checks["pgvector reachable"]["detail"]
    a = checks["argocd pgvector"]
    assert (
        a["status"] == "fail"
        and "Synced/Degraded" in a["detail"]
        and "StatefulSet llmops/pgvector: Synced/Degraded (0 of 1 replicas ready)" in a["detail"]
    )
    assert "describe application pgvector" in a["hint"]
    assert checks["gateway chat completion"]["status"] == "ok"


def test_target_down_fails_targets_and_fires_its_alert(platform: Platform, workdir) -> None:
    """Last in the module: stops postgres_exporter, then brings it back."""
    platform.exporter.stop()
    try:
        wait_for(lambda: platform.targets_health().get("pgvector") == "down", "the pgvector target to go down")
        wait_for(
            lambda: "PgvectorDown" in __import__("httpx").get(platform.prometheus_url + "/api/v1/alerts").text,
            "PgvectorDown",
        )
        code, checks, _ = verify("--prometheus-url", platform.prometheus_url)
    finally:
        platform.exporter.start()
    assert code == 1
    t = checks["prometheus targets"]
    assert t["status"] == "fail" and "pgvector" in t["detail"] and "down" in t["detail"]
    assert checks["prometheus rules"]["status"] == "ok"
    a = checks["prometheus alerts"]
    assert a["status"] == "fail" and "PgvectorDown" in a["detail"]
