"""The one metric-name map: what the pinned vLLM (and the inference simulator) and our gateway export.

vLLM renames metrics between releases (v0.10 replaced ``vllm:gpu_cache_usage_perc`` with
``vllm:kv_cache_usage_perc``; v0.11 added ``vllm:inter_token_latency_seconds`` in place of
``vllm:time_per_output_token_seconds``). Dashboards and alert rules are generated from this map only, so a
vLLM bump is one edit here plus ``llmops render --all``. The upstream contract tests
(tests/render/upstream/) hold every name here to what the component deployed by the same render exports at
its pinned release: vLLM, the inference simulator, dcgm-exporter, postgres_exporter and the gateway.
"""

from __future__ import annotations

# ruff: noqa: S106 - "token" here is an LLM token counter, not a credential
from dataclasses import dataclass

from llmops_cli.versions import VLLM_VERSION


@dataclass(frozen=True)
class VllmMetrics:
    version: str
    model_label: str  # label carrying --served-model-name
    ttft: str  # histogram, seconds
    inter_token_latency: str  # histogram, seconds
    e2e_latency: str  # histogram, seconds
    running: str  # gauge
    waiting: str  # gauge
    kv_cache_usage: str  # gauge, 0..1
    prompt_tokens: str  # counter
    generation_tokens: str  # counter


VLLM_METRICS: dict[str, VllmMetrics] = {
    "v0.34.0": VllmMetrics(
        version="v0.34.0",
        model_label="model_name",
        ttft="vllm:time_to_first_token_seconds",
        inter_token_latency="vllm:inter_token_latency_seconds",
        e2e_latency="vllm:e2e_request_latency_seconds",
        running="vllm:num_requests_running",
        waiting="vllm:num_requests_waiting",
        kv_cache_usage="vllm:kv_cache_usage_perc",
        prompt_tokens="vllm:prompt_tokens_total",
        generation_tokens="vllm:generation_tokens_total",
    ),
}


def vllm_metrics() -> VllmMetrics:
    """Metric names of the pinned vLLM version."""
    return VLLM_METRICS[VLLM_VERSION]


@dataclass(frozen=True)
class GatewayMetrics:
    """What `llmops gateway serve` exports on /metrics (the gateway's contract with dashboards/alerts)."""

    requests: str = "llmops_gateway_requests_total"  # counter; labels: route, model, status
    status_label: str = "status"  # the HTTP status code
    latency: str = "llmops_gateway_request_duration_seconds"  # histogram; labels: route
    ttft: str = "llmops_gateway_time_to_first_token_seconds"  # histogram; labels: route
    # One increment per policy decision (redact, deny, log, flag, clamp...): a triggered policy.
    violations: str = "llmops_gateway_policy_decisions_total"  # counter; labels: rule, action
    rule_label: str = "rule"
    tokens: str = "llmops_gateway_tokens_total"  # counter; labels: direction (in|out), model
    # Timeouts, refused connections, protocol errors and non-2xx replies of the upstream, by kind.
    upstream_errors: str = "llmops_gateway_upstream_errors_total"  # counter; labels: kind
    # A stream that an upstream failure cuts short after its 200 headers went out stays a 200 in `requests`; it
    # counts here too (and in `upstream_errors`), so that the 5xx ratio can add it.
    stream_errors: str = "llmops_gateway_stream_errors_total"  # counter; labels: route, kind
    # Rate-limit checks the shared store (Redis/Valkey) could not answer; each fell back to per-pod buckets.
    ratelimit_store_errors: str = "llmops_gateway_ratelimit_store_errors_total"  # counter; labels: kind


GATEWAY_METRICS = GatewayMetrics()


def gateway_5xx_ratio(selector: str) -> str:
    """PromQL: the share of gateway requests over 5 minutes that failed server-side, streams that an upstream
    failure cut short after their 200 headers included. Each term is 0 when its series does not exist yet."""
    g = GATEWAY_METRICS
    return (
        f'((sum(rate({g.requests}{{{selector},{g.status_label}=~"5.."}}[5m])) or vector(0)) '
        f"+ (sum(rate({g.stream_errors}{{{selector}}}[5m])) or vector(0))) "
        f"/ sum(rate({g.requests}{{{selector}}}[5m]))"
    )


@dataclass(frozen=True)
class GpuMetrics:
    """DCGM exporter fields."""

    utilization: str = "DCGM_FI_DEV_GPU_UTIL"
    memory_used: str = "DCGM_FI_DEV_FB_USED"  # MiB
    memory_free: str = "DCGM_FI_DEV_FB_FREE"  # MiB


GPU_METRICS = GpuMetrics()

# postgres_exporter
PG_UP = "pg_up"
PG_CONNECTIONS = "pg_stat_database_numbackends"
