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
    # The node's label on a GPU series (dcgm-exporter 4.6.0-4.8.3 internal/pkg/rendermetrics/render_metrics.go;
    # `Hostname` up to 4.5.3-4.8.2).
    host: str = "hostname"


GPU_METRICS = GpuMetrics()

# postgres_exporter
PG_UP = "pg_up"
PG_CONNECTIONS = "pg_stat_database_numbackends"


# ------------------------------------------------------------------------------------------ governance
@dataclass(frozen=True)
class GovernanceMetrics:
    """What the gateway exports from its release record and the incident index (llmops_cli/gateway/governance.py).

    Every gateway series joins to a model release through ``release_info`` on the pod that served it
    (``* on (namespace, pod) group_left (model, model_version, served_model) release_info``): the model and
    version come from the evidence the release was promoted on, not from anything a client sends.
    """

    release_info: str = "llmops_model_release_info"  # 1; model, model_version, served_model, env, run, ...
    risk_score: str = "llmops_model_risk_score"
    risk_level: str = "llmops_model_risk_level"  # 1 low .. 4 critical
    fairness: str = "llmops_model_fairness_delta"  # attribute, metric
    llm_eval: str = "llmops_model_llm_eval_failure_ratio"  # measure
    evidence_created: str = "llmops_model_evidence_created_timestamp_seconds"
    promoted: str = "llmops_model_promoted_timestamp_seconds"
    signature_verified: str = "llmops_model_evidence_signature_verified"
    evidence_passed: str = "llmops_model_evidence_passed"
    incidents: str = "llmops_incidents"  # model, incident_severity, state
    incidents_overdue: str = "llmops_incidents_review_overdue"  # model, incident_severity
    release_labels: tuple[str, ...] = ("model", "model_version", "served_model")


GOVERNANCE_METRICS = GovernanceMetrics()


@dataclass(frozen=True)
class RolloutMetrics:
    """Argo Rollouts' controller (argoproj/argo-rollouts v1.9.0 controller/metrics/prommetrics.go). Its chart's
    ServiceMonitor does not honour the metrics' labels, so Prometheus keeps the target's ``namespace`` (the
    controller's) and renames each rollout's own to ``exported_namespace`` (Prometheus scrape_config
    ``honor_labels: false``)."""

    rollout_info: str = "rollout_info"  # 1; namespace, name, strategy, traffic_router, phase
    analysis_run_info: str = "analysis_run_info"  # 1; namespace, name, phase
    namespace_label: str = "exported_namespace"
    # The pod label rollouts-pod-template-hash (pkg/apis/rollouts/v1alpha1/types.go DefaultRolloutUniqueLabelKey)
    # as a target label: prometheus-operator's podTargetLabels replaces characters a label name cannot hold
    # with "_" (prometheus-operator pkg/prometheus/promcfg.go sanitizeLabelName).
    pod_hash_label: str = "rollouts_pod_template_hash"
    pod_hash_pod_label: str = "rollouts-pod-template-hash"


ROLLOUT_METRICS = RolloutMetrics()

# The gateway's request-duration histogram buckets (llmops_cli/gateway/metrics.py _LATENCY) as the `le` label
# values prometheus_client writes (a float in Go's shortest form, integral values with ".0").
GATEWAY_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# Policy rules whose `deny` is a content refusal (not an auth failure or a rate limit): blocked patterns, PII set
# to deny, prompt injection set to deny, models outside the allowlist, remote media.
REFUSAL_RULES = r"blocked_pattern:.+|pii\\..+|injection:.+|model_allowlist|media_url"


def le_label(bucket: float) -> str:
    """The `le` value prometheus_client writes for a bucket bound (``floatToGoString``)."""
    f = float(bucket)
    return f"{f:.1f}" if f.is_integer() else repr(f)


def slo_bucket(seconds: float) -> float:
    """The largest gateway latency bucket at or below ``seconds`` (the smallest one when all are above): a
    request counts as slow from there, so the SLO is never read more leniently than it is written."""
    below = [b for b in GATEWAY_LATENCY_BUCKETS if b <= seconds]
    return below[-1] if below else GATEWAY_LATENCY_BUCKETS[0]


@dataclass(frozen=True)
class RiskKpi:
    """A run-time risk KPI: events per gateway request, from the gateway's own counters."""

    name: str  # redaction | blocked | injection | refusal | error
    title: str
    # (metric, extra label matchers) summed as the numerator; each term is 0 while its series does not exist.
    terms: tuple[tuple[str, str], ...]


def _kpis() -> tuple[RiskKpi, ...]:
    g = GATEWAY_METRICS
    return (
        RiskKpi("redaction", "PII redactions per request", ((g.violations, 'action="redact"'),)),
        RiskKpi("blocked", "Blocked-pattern hits per request", ((g.violations, 'rule=~"blocked_pattern:.+"'),)),
        RiskKpi(
            "injection",
            "Prompt-injection flags per request",
            ((g.violations, 'rule=~"injection:.+",rule!="injection:classifier_error"'),),
        ),
        RiskKpi(
            "refusal",
            "Requests refused by a content policy",
            ((g.violations, f'action="deny",rule=~"{REFUSAL_RULES}"'),),
        ),
        RiskKpi(
            "error",
            "Requests failed server-side",
            ((g.requests, f'{g.status_label}=~"5.."'), (g.stream_errors, "")),
        ),
    )


RISK_KPIS: tuple[RiskKpi, ...] = _kpis()


def _sel(metric: str, *matchers: str) -> str:
    m = ",".join(x for x in matchers if x)
    return f"{metric}{{{m}}}" if m else metric


def risk_ratio(kpi: RiskKpi, matchers: str, window: str) -> str:
    """PromQL: ``kpi`` per request over ``window`` for the gateway pods ``matchers`` selects (one number; empty
    while they served nothing, NaN when their request rate is 0)."""
    g = GATEWAY_METRICS
    num = " + ".join(f"(sum(rate({_sel(m, matchers, extra)}[{window}])) or vector(0))" for m, extra in kpi.terms)
    return f"({num}) / sum(rate({_sel(g.requests, matchers)}[{window}]))"


def served_requests(matchers: str, window: str) -> str:
    return f"sum(increase({_sel(GATEWAY_METRICS.requests, matchers)}[{window}]))"


def latency_slow_ratio(matchers: str, window: str, slo_seconds: float) -> str:
    """PromQL: the share of the selected pods' requests slower than the SLO bucket, over ``window``."""
    g = GATEWAY_METRICS
    le = 'le="' + le_label(slo_bucket(slo_seconds)) + '"'
    bucket = _sel(g.latency + "_bucket", matchers, le)
    count = _sel(g.latency + "_count", matchers)
    return f"1 - sum(rate({bucket}[{window}])) / sum(rate({count}[{window}]))"


def per_release(expr_by_pod: str) -> str:
    """Attach the release labels to a per-pod expression (``... by (namespace, pod)``) and sum by release."""
    gm = GOVERNANCE_METRICS
    labels = ", ".join(gm.release_labels)
    return (
        f"sum by ({labels}) ({expr_by_pod} * on (namespace, pod) group_left ({labels}) "
        f"max by (namespace, pod, {labels}) ({gm.release_info}))"
    )
