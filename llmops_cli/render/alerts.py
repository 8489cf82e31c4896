"""PrometheusRule groups, generated from the metric-name map and the SLOs in Settings.

Every alert carries a ``runbook_url`` annotation; each one has a `promtool test rules` unit test that fires
it on synthetic series and keeps it quiet on healthy ones (tests/render/test_alerts_promtool.py).
"""

from __future__ import annotations

from typing import Any

from llmops_cli.config.model import Settings
from llmops_cli.render import names
from llmops_cli.render.metrics import GATEWAY_METRICS, GPU_METRICS, PG_UP, gateway_5xx_ratio, vllm_metrics

RUNBOOK_BASE = "https://github.com/llmops/llmops/blob/main/docs/runbooks.md"


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, "team": "llmops"},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOK_BASE}#{name.lower()}",
        },
    }


def _num(x: float) -> str:
    return f"{x:g}"


def rule_groups(settings: Settings, *, gpu: bool, env: str = "dev") -> list[dict[str, Any]]:
    """The alert groups for the enabled stacks (alert names are stable; tests look them up), then the run-time
    risk groups (render.risk: recording rules per model release and the alerts that open incidents)."""
    stacks = settings.stacks
    slo = stacks.observability.slo
    m = vllm_metrics()
    ns = names.APPS_NAMESPACE
    groups: list[dict[str, Any]] = []
    if stacks.vllm.enabled:
        model = stacks.vllm.name
        job = names.vllm_service_name(model)
        sel = f'{m.model_label}="{model}"'
        groups.append(
            {
                "name": "llmops-vllm",
                "rules": [
                    _alert(
                        "VllmDown",
                        f'(max(up{{namespace="{ns}",job="{job}"}}) or vector(0)) == 0',
                        "5m",
                        "critical",
                        "vLLM is down",
                        f"No healthy scrape of {job} in {ns} for 5 minutes: the model endpoint is unavailable.",
                    ),
                    _alert(
                        "VllmTtftP95AboveSlo",
                        f"histogram_quantile(0.95, sum by (le) (rate({m.ttft}_bucket{{{sel}}}[5m]))) "
                        f"> {_num(slo.ttft_p95_seconds)}",
                        "10m",
                        "warning",
                        "vLLM time to first token p95 above SLO",
                        f"TTFT p95 for {model} is above {_num(slo.ttft_p95_seconds)}s.",
                    ),
                    _alert(
                        "VllmE2eLatencyP95AboveSlo",
                        f"histogram_quantile(0.95, sum by (le) (rate({m.e2e_latency}_bucket{{{sel}}}[5m]))) "
                        f"> {_num(slo.e2e_p95_seconds)}",
                        "10m",
                        "warning",
                        "vLLM end-to-end latency p95 above SLO",
                        f"End-to-end request latency p95 for {model} is above {_num(slo.e2e_p95_seconds)}s.",
                    ),
                    _alert(
                        "VllmKvCacheSaturated",
                        f"max({m.kv_cache_usage}{{{sel}}}) > 0.95 and sum({m.waiting}{{{sel}}}) > 0",
                        "10m",
                        "warning",
                        "vLLM KV cache saturated",
                        f"KV cache usage of {model} is above 95% with requests waiting: "
                        "add capacity or lower max_num_seqs.",
                    ),
                ],
            }
        )
    if stacks.gateway.enabled:
        g = GATEWAY_METRICS
        gsel = f'namespace="{ns}"'
        groups.append(
            {
                "name": "llmops-gateway",
                "rules": [
                    _alert(
                        "GatewayHigh5xxRate",
                        f"{gateway_5xx_ratio(gsel)} > {_num(slo.gateway_5xx_ratio)}",
                        "5m",
                        "critical",
                        "Policy Gateway 5xx rate above SLO",
                        f"More than {_num(slo.gateway_5xx_ratio * 100)}% of gateway responses are 5xx.",
                    ),
                    _alert(
                        "PolicyViolationSpike",
                        f'sum(rate({g.violations}{{namespace="{ns}"}}[5m])) > 0.1 '
                        f'and sum(rate({g.violations}{{namespace="{ns}"}}[5m])) '
                        f'> 3 * sum(rate({g.violations}{{namespace="{ns}"}}[1h]))',
                        "5m",
                        "warning",
                        "Policy violations spiking",
                        "Policy violations over the last 5 minutes run at more than 3x the hourly rate: "
                        "check the audit log for abuse or a misbehaving client.",
                    ),
                    _alert(
                        "GatewayRateLimitsNotShared",
                        f'sum(rate({g.ratelimit_store_errors}{{namespace="{ns}"}}[5m])) > 0',
                        "10m",
                        "warning",
                        "Policy Gateway rate limits are not shared",
                        "Gateway pods cannot reach the shared rate-limit store: each enforces the per-key "
                        "limits with its own buckets, so a key can get its limit once per pod.",
                    ),
                ],
            }
        )
    gpu_m = GPU_METRICS
    if gpu and settings.gpu.dcgm_exporter:
        groups.append(
            {
                "name": "llmops-gpu",
                "rules": [
                    _alert(
                        "GpuMemoryHigh",
                        f"max by ({gpu_m.host}, gpu) ({gpu_m.memory_used} / "
                        f"({gpu_m.memory_used} + {gpu_m.memory_free})) > 0.95",
                        "10m",
                        "warning",
                        "GPU memory almost full",
                        "A GPU has used more than 95% of its memory for 10 minutes.",
                    ),
                ],
            }
        )
    if stacks.pgvector.enabled:
        groups.append(
            {
                "name": "llmops-pgvector",
                "rules": [
                    _alert(
                        "PgvectorDown",
                        f'(max({PG_UP}{{namespace="{ns}"}}) or vector(0)) == 0',
                        "5m",
                        "critical",
                        "pgvector is down",
                        "PostgreSQL (pgvector) has not answered its exporter for 5 minutes.",
                    ),
                ],
            }
        )
    from llmops_cli.render.risk import rule_groups as risk_groups

    return groups + risk_groups(settings, env)
