"""Grafana dashboards as data, generated from the metric-name map (vLLM, gateway, GPU, pgvector, governance,
and the live risk dashboard of the model release).

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
                        [(f"{{{{{gm.host}}}}} gpu {{{{gpu}}}}", f"avg by ({gm.host}, gpu) ({gm.utilization})")],
                        "percent",
                    ),
                    (
                        "GPU memory used",
                        [
                            (
                                f"{{{{{gm.host}}}}} gpu {{{{gpu}}}}",
                                f"max by ({gm.host}, gpu) ({gm.memory_used} / ({gm.memory_used} + {gm.memory_free}))",
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
    if stacks.gateway.enabled:
        out.append(risk_dashboard(settings))
    return out


# ----------------------------------------------------------------------------------------- model risk
def _target(expr: str, legend: str = "", *, instant: bool = False, ref: int = 0) -> dict[str, Any]:
    t: dict[str, Any] = {"refId": chr(ord("A") + ref), "expr": expr, "legendFormat": legend}
    if instant:
        t.update({"instant": True, "range": False})
    return t


def _typed(
    pid: int,
    kind: str,
    title: str,
    targets: list[dict[str, Any]],
    grid: tuple[int, int, int, int],
    unit: str = "short",
    **extra: Any,
) -> dict[str, Any]:
    x, y, w, h = grid
    panel: dict[str, Any] = {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit, **extra.pop("defaults", {})}, "overrides": []},
        "targets": [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(targets)],
    }
    panel.update(extra)
    return panel


RISK_DASHBOARD = "llmops-model-risk"
_STAT: dict[str, Any] = {
    "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "textMode": "auto"}
}


def _mapping(values: dict[str, str]) -> dict[str, Any]:
    return {"mappings": [{"type": "value", "options": {k: {"text": v} for k, v in values.items()}}]}


def risk_dashboard(settings: Settings) -> Dashboard:
    """The live risk dashboard of the environment's model release: the evidence card, the run-time risk KPIs,
    fairness and LLM-evaluation results of the evidence, the serving KPIs beside them, and open incidents."""
    from llmops_cli.render.metrics import GOVERNANCE_METRICS, ROLLOUT_METRICS
    from llmops_cli.render.risk import REQUESTS_RULE, burn_rule, kpi_rule
    from llmops_cli.riskdata import RISK_LEVELS

    gm = GOVERNANCE_METRICS
    rm = ROLLOUT_METRICS
    sel = 'served_model="$served_model"'
    rel = f"{gm.release_info}{{{sel}}}"
    by = "model, model_version"

    def of_release(metric: str, agg: str = "max") -> str:
        """A release gauge of the served model, selected through release_info (which names the served model)."""
        return f"{agg} by ({by}) ({metric} * on ({by}) group_left () max by ({by}) ({rel}))"

    open_incidents = (
        f'sum(max by (model, incident_severity) ({gm.incidents}{{state="open"}} '
        f"* on (model) group_left () max by (model) ({rel}))) or vector(0)"
    )
    overdue = (
        f"sum(max by (model, incident_severity) ({gm.incidents_overdue} "
        f"* on (model) group_left () max by (model) ({rel}))) or vector(0)"
    )
    panels: list[dict[str, Any]] = []

    def add(
        kind: str,
        title: str,
        targets: list[dict[str, Any]],
        grid: tuple[int, int, int, int],
        unit: str = "short",
        **kw: Any,
    ) -> None:
        panels.append(_typed(len(panels) + 1, kind, title, targets, grid, unit, **kw))

    # Evidence card (row 0).
    add(
        "stat",
        "Release",
        [
            _target(
                f"max by ({by}, run, env) ({rel})", "{{model}} {{model_version}} (run {{run}}, {{env}})", instant=True
            )
        ],
        (0, 0, 5, 4),
        **{**_STAT, "options": {**_STAT["options"], "textMode": "name"}},
    )
    add(
        "stat",
        "EU AI Act class",
        [_target(f"max by (ai_act_class) ({rel})", "{{ai_act_class}}", instant=True)],
        (5, 0, 3, 4),
        **{**_STAT, "options": {**_STAT["options"], "textMode": "name"}},
    )
    add(
        "stat",
        "Residual risk level",
        [_target(of_release(gm.risk_level), "{{model_version}}", instant=True)],
        (8, 0, 4, 4),
        defaults=_mapping({str(i + 1): n for i, n in enumerate(RISK_LEVELS)}),
        **_STAT,
    )
    add(
        "stat",
        "Risk score",
        [_target(of_release(gm.risk_score), "{{model_version}}", instant=True)],
        (12, 0, 3, 4),
        **_STAT,
    )
    add(
        "stat",
        "Evidence signature",
        [_target(of_release(gm.signature_verified, "min"), "{{model_version}}", instant=True)],
        (15, 0, 3, 4),
        defaults=_mapping({"1": "verified", "0": "not verified"}),
        **_STAT,
    )
    add(
        "stat",
        "Evidence age",
        [_target(f"time() - {of_release(gm.evidence_created)}", "{{model_version}}", instant=True)],
        (18, 0, 3, 4),
        "s",
        **_STAT,
    )
    add(
        "stat",
        "Last check",
        [_target(f"1000 * {of_release(gm.evidence_created)}", "{{model_version}}", instant=True)],
        (21, 0, 3, 4),
        "dateTimeFromNow",
        **_STAT,
    )
    # Incidents (row 4): "zero unreviewed incidents" reads 0 here, never "no data".
    add("stat", "Open incidents", [_target(open_incidents, "open", instant=True)], (0, 4, 6, 4), **_STAT)
    add(
        "stat",
        "Reviews overdue",
        [_target(overdue, "overdue", instant=True)],
        (6, 4, 6, 4),
        defaults={
            "thresholds": {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": 1}],
            }
        },
        **_STAT,
    )
    add(
        "stat",
        "Rollout",
        [
            _target(
                f'max by (name, phase) ({rm.rollout_info}{{{rm.namespace_label}="{names.APPS_NAMESPACE}"}}) == 1',
                "{{name}}: {{phase}}",
                instant=True,
            )
        ],
        (12, 4, 12, 4),
        **{**_STAT, "options": {**_STAT["options"], "textMode": "name"}},
    )
    # Run-time risk KPIs (row 8).
    add(
        "timeseries",
        "Risk KPIs per request",
        [
            _target(f"{kpi_rule(k)}{{{sel}}}", f"{k} {{{{model_version}}}}")
            for k in ("redaction", "blocked", "injection", "refusal")
        ],
        (0, 8, 12, 8),
        "percentunit",
    )
    add(
        "timeseries",
        "Server-side failures",
        [_target(f"{kpi_rule('error')}{{{sel}}}", "{{model_version}}")],
        (12, 8, 6, 8),
        "percentunit",
    )
    add(
        "timeseries",
        "Latency error-budget burn rate",
        [_target(f"{burn_rule(w)}{{{sel}}}", f"{w} {{{{model_version}}}}") for w in ("5m", "1h")],
        (18, 8, 6, 8),
    )
    # Evidence results (row 16).
    add(
        "bargauge",
        "Fairness deltas of the evidence",
        [_target(of_release_labels(gm.fairness, rel, "attribute, metric"), "{{attribute}} {{metric}}", instant=True)],
        (0, 16, 12, 8),
        options={
            "displayMode": "basic",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "values": False},
        },
    )
    add(
        "bargauge",
        "LLM-evaluation failure rates of the evidence",
        [_target(of_release_labels(gm.llm_eval, rel, "measure"), "{{measure}}", instant=True)],
        (12, 16, 12, 8),
        "percentunit",
        options={
            "displayMode": "basic",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "values": False},
        },
    )
    # Serving KPIs (row 24).
    m = vllm_metrics()
    vsel = f'{m.model_label}="$served_model"'
    add(
        "timeseries",
        "Requests per second",
        [_target(f"{REQUESTS_RULE.format(w='5m')}{{{sel}}}", "{{model_version}}")],
        (0, 24, 8, 8),
        "reqps",
    )
    add("timeseries", "Time to first token (vLLM)", _quantiles_t(m.ttft, vsel), (8, 24, 8, 8), "s")
    add("timeseries", "End-to-end latency (vLLM)", _quantiles_t(m.e2e_latency, vsel), (16, 24, 8, 8), "s")
    doc = {
        "uid": RISK_DASHBOARD,
        "title": f"Model risk: {settings.stacks.vllm.name}",
        "tags": ["llmops", "governance"],
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
                {
                    "name": "served_model",
                    "type": "constant",
                    "query": settings.stacks.vllm.name,
                    "hide": 2,
                    "label": "served model",
                },
            ]
        },
        "panels": panels,
    }
    return Dashboard(RISK_DASHBOARD, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def of_release_labels(metric: str, rel: str, labels: str) -> str:
    by = "model, model_version"
    return f"max by ({by}, {labels}) ({metric} * on ({by}) group_left () max by ({by}) ({rel}))"


def _quantiles_t(metric: str, sel: str) -> list[dict[str, Any]]:
    return [_target(expr, legend) for legend, expr in _quantiles(metric, sel)]
