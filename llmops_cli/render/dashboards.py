"""Grafana dashboards as data, generated from the metric-name map (vLLM, gateway, GPU, pgvector, governance).

Dashboards are plain Grafana JSON (schemaVersion 39) with a Prometheus datasource variable; the served
model name is a constant variable so every vLLM panel selects the same model the Deployment serves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmops_cli.config.model import Settings
from llmops_cli.render import names
from llmops_cli.render.metrics import (
    GATEWAY_METRICS,
    GPU_METRICS,
    PG_CONNECTIONS,
    PG_UP,
    gateway_5xx_ratio,
    vllm_metrics,
)


@dataclass(frozen=True)
class Dashboard:
    uid: str
    json: str


def _panel(pid: int, title: str, exprs: list[tuple[str, str]], unit: str, x: int, y: int) -> dict[str, Any]:
    return {
        "id": pid,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend} for i, (legend, expr) in enumerate(exprs)
        ],
    }


def _dashboard(
    uid: str,
    title: str,
    panels: list[tuple[str, list[tuple[str, str]], str]],
    extra_vars: list[dict[str, Any]] | None = None,
) -> Dashboard:
    built = [_panel(i + 1, t, exprs, unit, (i % 2) * 12, (i // 2) * 8) for i, (t, exprs, unit) in enumerate(panels)]
    variables: list[dict[str, Any]] = [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}
    ]
    variables += extra_vars or []
    doc = {
        "uid": uid,
        "title": title,
        "tags": ["llmops"],
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": variables},
        "panels": built,
    }
    return Dashboard(uid, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _q(metric: str, sel: str, q: float) -> str:
    return f"histogram_quantile({q:g}, sum by (le) (rate({metric}_bucket{{{sel}}}[5m])))"


def _quantiles(metric: str, sel: str) -> list[tuple[str, str]]:
    """p50, p95 and p99 of a histogram, one panel target each."""
    return [(f"p{q}", _q(metric, sel, q / 100)) for q in (50, 95, 99)]


def dashboards(settings: Settings, *, gpu: bool) -> list[Dashboard]:
    stacks = settings.stacks
    out: list[Dashboard] = []
    ns = names.APPS_NAMESPACE
    if stacks.vllm.enabled:
        m = vllm_metrics()
        sel = f'{m.model_label}="$model"'

        model_var = {
            "name": "model",
            "type": "constant",
            "query": stacks.vllm.name,
            "hide": 2,
            "label": "served model",
        }
        out.append(
            _dashboard(
                "llmops-vllm",
                f"vLLM: {stacks.vllm.name}",
                [
                    ("Time to first token", _quantiles(m.ttft, sel), "s"),
                    ("Inter-token latency", _quantiles(m.inter_token_latency, sel), "s"),
                    ("End-to-end request latency", _quantiles(m.e2e_latency, sel), "s"),
                    (
                        "Requests running / waiting",
                        [
                            ("running", f"sum({m.running}{{{sel}}})"),
                            ("waiting", f"sum({m.waiting}{{{sel}}})"),
                        ],
                        "short",
                    ),
                    ("KV cache usage", [("usage", f"max({m.kv_cache_usage}{{{sel}}})")], "percentunit"),
                    (
                        "Tokens per second",
                        [
                            ("prompt", f"sum(rate({m.prompt_tokens}{{{sel}}}[1m]))"),
                            ("generation", f"sum(rate({m.generation_tokens}{{{sel}}}[1m]))"),
                        ],
                        "short",
                    ),
                ],
                [model_var],
            )
        )
    if stacks.gateway.enabled:
        g = GATEWAY_METRICS
        gsel = f'namespace="{ns}"'
        out.append(
            _dashboard(
                "llmops-gateway",
                "Policy Gateway",
                [
                    (
                        "Requests by status",
                        [("{{status}}", f"sum by (status) (rate({g.requests}{{{gsel}}}[5m]))")],
                        "reqps",
                    ),
                    (
                        # Streams an upstream failure cut short after their 200 headers count as 5xx here.
                        "5xx ratio",
                        [("5xx", gateway_5xx_ratio(gsel))],
                        "percentunit",
                    ),
                    ("Latency", _quantiles(g.latency, gsel), "s"),
                    ("Time to first token (streams)", _quantiles(g.ttft, gsel), "s"),
                    (
                        "Upstream errors by kind",
                        [("{{kind}}", f"sum by (kind) (rate({g.upstream_errors}{{{gsel}}}[5m]))")],
                        "reqps",
                    ),
                    (
                        "Tokens per second",
                        [("{{direction}}", f"sum by (direction) (rate({g.tokens}{{{gsel}}}[1m]))")],
                        "short",
                    ),
                ],
            )
        )
        out.append(
            _dashboard(
                "llmops-governance",
                "Governance risk KPIs",
                [
                    (
                        "Policy violations by policy",
                        [("{{rule}}", f"sum by (rule) (increase({g.violations}{{{gsel}}}[1h]))")],
                        "short",
                    ),
                    (
                        "Violations by action",
                        [("{{action}}", f"sum by (action) (rate({g.violations}{{{gsel}}}[5m]))")],
                        "short",
                    ),
                    (
                        "Blocked request ratio",
                        [
                            (
                                "blocked",
                                f'sum(rate({g.requests}{{{gsel},{g.status_label}=~"4.."}}[5m])) '
                                f"/ sum(rate({g.requests}{{{gsel}}}[5m]))",
                            )
                        ],
                        "percentunit",
                    ),
                    (
                        "Violations per 1k requests",
                        [
                            (
                                "rate",
                                f"1000 * sum(rate({g.violations}{{{gsel}}}[1h])) "
                                f"/ sum(rate({g.requests}{{{gsel}}}[1h]))",
                            )
                        ],
                        "short",
                    ),
                ],
            )
        )
    if gpu and settings.gpu.dcgm_exporter:  # DCGM_FI_* series exist only where dcgm-exporter is rendered
        gm = GPU_METRICS
        out.append(
            _dashboard(
                "llmops-gpu",
                "GPU",
                [
                    (
                        "GPU utilization",
                        [("{{Hostname}} gpu {{gpu}}", f"avg by (Hostname, gpu) ({gm.utilization})")],
                        "percent",
                    ),
                    (
                        "GPU memory used",
                        [
                            (
                                "{{Hostname}} gpu {{gpu}}",
                                f"max by (Hostname, gpu) ({gm.memory_used} / ({gm.memory_used} + {gm.memory_free}))",
                            )
                        ],
                        "percentunit",
                    ),
                ],
            )
        )
    if stacks.pgvector.enabled:
        out.append(
            _dashboard(
                "llmops-pgvector",
                "pgvector",
                [
                    ("PostgreSQL up", [("up", f'max({PG_UP}{{namespace="{ns}"}})')], "short"),
                    (
                        "Connections",
                        [("{{datname}}", f'sum by (datname) ({PG_CONNECTIONS}{{namespace="{ns}"}})')],
                        "short",
                    ),
                ],
            )
        )
    return out
