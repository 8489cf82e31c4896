"""Dashboards: valid Grafana JSON, generated from the metric-name map, every query valid PromQL."""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from llmops_cli.render.metrics import GATEWAY_METRICS, vllm_metrics

from .conftest import gpu_tree, objects
from .exports import TARGET_LABELS, gateway_exports
from .tools import require_tool


def _dashboards() -> dict[str, dict]:
    out = {}
    for obj in objects(gpu_tree("dev")).values():
        if obj["kind"] == "ConfigMap" and obj["metadata"]["labels"].get("grafana_dashboard") == "1":
            ((name, text),) = obj["data"].items()
            doc = json.loads(text)
            assert name == f"{doc['uid']}.json"
            out[doc["uid"]] = doc
    return out


def _exprs(doc: dict) -> list[str]:
    return [t["expr"] for p in doc["panels"] for t in p["targets"]]


def test_one_dashboard_per_area():
    assert set(_dashboards()) == {
        "llmops-vllm", "llmops-gateway", "llmops-governance", "llmops-gpu", "llmops-pgvector", "llmops-model-risk",
    }  # fmt: skip


def test_vllm_dashboard_covers_the_metric_map_for_the_served_model():
    doc = _dashboards()["llmops-vllm"]
    text = " ".join(_exprs(doc))
    m = vllm_metrics()
    for metric in (m.ttft, m.inter_token_latency, m.e2e_latency, m.running, m.waiting, m.kv_cache_usage,
                   m.prompt_tokens, m.generation_tokens):  # fmt: skip
        assert metric in text, metric
    model_var = next(v for v in doc["templating"]["list"] if v["name"] == "model")
    assert model_var["query"] == "qwen2-5-0-5b-instruct"
    assert all('model_name="$model"' in e for e in _exprs(doc))


def test_governance_dashboard_reads_the_gateway_policy_decisions():
    text = " ".join(_exprs(_dashboards()["llmops-governance"]))
    assert GATEWAY_METRICS.violations in text and GATEWAY_METRICS.requests in text


def test_gateway_dashboard_shows_time_to_first_token_and_upstream_errors():
    # A stream that fails after its 200 headers counts in upstream_errors_total, never as a 5xx request: without
    # that panel, a vLLM crash mid-stream would not show on the dashboard at all.
    panels = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in _dashboards()["llmops-gateway"]["panels"]}
    g = GATEWAY_METRICS
    assert f"{g.ttft}_bucket" in panels["Time to first token (streams)"]
    assert f"sum by (kind) (rate({g.upstream_errors}" in panels["Upstream errors by kind"]


def test_every_dashboard_query_is_valid_promql(tmp_path):
    promtool = require_tool("promtool")
    rules = []
    for uid, doc in sorted(_dashboards().items()):
        for i, expr in enumerate(_exprs(doc)):
            rules.append({"record": f"dashboard:{uid.replace('-', '_')}:{i}", "expr": expr.replace("$model", "m")})
    path = tmp_path / "dash.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    r = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


_SELECTOR = re.compile(r"(llmops_gateway_[a-z_]+)\{([^}]*)\}")


def test_gateway_queries_use_metrics_and_labels_the_gateway_exports():
    """Every gateway series a dashboard panel or alert selects exists on /metrics with the labels it filters on
    (a panel that filtered on `code` while the label is `status` was always empty)."""
    exports = gateway_exports()
    exprs = [e for doc in _dashboards().values() for e in _exprs(doc)]
    for obj in objects(gpu_tree("dev")).values():
        if obj["kind"] == "PrometheusRule":
            exprs += [r["expr"] for g in obj["spec"]["groups"] for r in g["rules"]]
    seen = 0
    for expr in exprs:
        for name, selector in _SELECTOR.findall(expr):
            assert name in exports, f"{name} is not exported by the gateway: {expr}"
            used = {part.split("=")[0].rstrip("!~").strip() for part in selector.split(",") if part.strip()}
            assert used - TARGET_LABELS <= exports[name], f"{name} has no label {used - exports[name]}: {expr}"
            seen += 1
    assert seen >= 8  # the gateway and governance dashboards and the gateway alerts
