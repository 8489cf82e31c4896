"""Every series a PrometheusRule or dashboard of a render reads is exported by a component that the same
render deploys, at its pinned release, with the labels the query filters and groups on.

What a render deploys is read from the render itself (the model server's backend label, a dcgm-exporter
Application, the exporter sidecar...), so a dashboard or alert for a component that is not there fails.
"""

from __future__ import annotations

import json

import pytest

from llmops_cli.render.metrics import vllm_metrics

from .conftest import objects
from .exports import TARGET_LABELS, Exports, gateway_exports, governance_exports, promql_series, recorded_series
from .upstream.rendered import VARIANT_IDS, chart_sources, container, release, variants, workload
from .upstream.tables import TABLES


def deployed_exports(tree: dict[str, str]) -> Exports:
    ex = Exports()
    server = workload(tree, "Deployment", "vllm-")
    if server is not None:
        backend = server["metadata"]["labels"]["llmops.dev/backend"]
        image = container(server)["image"]
        if backend == "simulator":
            rel = TABLES["inference simulator"][image.rsplit(":", 1)[1]]
        else:
            rel = release("vllm")
        ex.add(f"{rel.component} {rel.version}", rel.names("metrics"), rel.names("metric_labels"))
    if workload(tree, "Deployment", "policy-gateway") is not None:
        for name, labels in gateway_exports().items():
            ex.add("policy gateway", {name}, labels)
        for name, labels in governance_exports().items():
            ex.add("policy gateway (governance gauges)", {name}, labels)
    groups = [g for obj in objects(tree).values() if obj["kind"] == "PrometheusRule" for g in obj["spec"]["groups"]]
    for name, labels in recorded_series(groups).items():
        ex.add("recording rule", {name}, labels)
    # The exporter: a sidecar of the single-node StatefulSet, or its own Deployment beside CloudNativePG (prod).
    pg = workload(tree, "StatefulSet", "pgvector") or workload(tree, "Deployment", "pgvector-exporter")
    if pg is not None and any(c["name"] == "exporter" for c in pg["spec"]["template"]["spec"]["containers"]):
        rel = release("postgres exporter image")
        ex.add(f"postgres_exporter {rel.version}", rel.names("metrics"), rel.names("metric_labels"))
    for _, chart, version, values in chart_sources(tree):
        if chart == "dcgm-exporter":
            rel = TABLES["dcgm-exporter chart"][version]
            ex.add(f"dcgm-exporter {version}", rel.names("metrics"), rel.names("metric_labels"))
        if chart == "argo-rollouts":
            shipped = TABLES["argo-rollouts chart"][version].scalars["appVersion"]
            # The controller the render runs: controller.image.tag, else the chart's appVersion.
            rel = TABLES["argo-rollouts"][values.get("controller", {}).get("image", {}).get("tag") or shipped]
            # The chart's ServiceMonitor keeps the target's namespace; the rollout's own becomes exported_namespace.
            ex.add(
                f"argo-rollouts {rel.version}",
                rel.names("metrics"),
                rel.names("metric_labels") | {"exported_namespace"},
            )
        if chart == "kube-prometheus-stack":
            ex.add("prometheus", TABLES["kube-prometheus-stack chart"][version].names("metrics"), set())
    return ex


def queries(tree: dict[str, str]) -> list[tuple[str, str]]:
    """(where, PromQL) of every alert rule and dashboard panel target in a render."""
    out = []
    for path, obj in objects(tree).items():
        if obj["kind"] == "PrometheusRule":
            out += [
                (f"{path} {r.get('alert') or r['record']}", r["expr"])
                for g in obj["spec"]["groups"]
                for r in g["rules"]
            ]
        if obj["kind"] == "ConfigMap" and obj["metadata"]["labels"].get("grafana_dashboard") == "1":
            ((_, text),) = obj["data"].items()
            doc = json.loads(text)
            out += [(f"{path} {p['title']}", t["expr"]) for p in doc["panels"] for t in p["targets"]]
    return out


@pytest.mark.parametrize(("variant", "tree"), variants(), ids=VARIANT_IDS)
def test_alerts_and_dashboards_read_only_series_the_render_deploys(variant, tree):
    ex = deployed_exports(tree)
    problems = []
    qs = queries(tree)
    for where, expr in qs:
        names, selectors, grouping = promql_series(expr.replace("$model", "m"))
        labels: set[str] = set(TARGET_LABELS)
        for series in names:
            metric = ex.resolve(series)
            if metric is None:
                problems.append(f"{where}: {series} is exported by nothing this render deploys")
                continue
            labels |= ex.metrics[metric] | ({"le"} if series.endswith("_bucket") else set())
            missing = selectors.get(series, set()) - TARGET_LABELS - ex.metrics[metric]
            if missing:
                problems.append(f"{where}: {ex.sources[metric]} gives {series} no label {sorted(missing)}")
        if grouping - labels:
            problems.append(f"{where}: groups by {sorted(grouping - labels)}, which no series in it carries")
    assert not problems, f"{variant}:\n" + "\n".join(problems)
    assert len(qs) > 15


def test_the_metric_map_is_what_both_model_servers_export():
    """vLLM and the simulator serve the same dashboards: every name in the map is exported by both."""
    m = vllm_metrics()
    used = {m.ttft, m.inter_token_latency, m.e2e_latency, m.running, m.waiting, m.kv_cache_usage, m.prompt_tokens,
            m.generation_tokens}  # fmt: skip
    for rel in (release("vllm"), release("inference simulator image")):
        assert used <= rel.names("metrics"), (rel.tag, used - rel.names("metrics"))
        assert m.model_label in rel.names("metric_labels")


def test_a_gpu_without_dcgm_exporter_has_no_gpu_dashboard_or_alert():
    tree = dict(variants())["dev-gpu-plain"]
    assert not any("DCGM_FI_" in expr for _, expr in queries(tree))
    assert not any(p.endswith("dashboard-llmops-gpu.yaml") for p in tree)
