"""The rollouts stack: Argo Rollouts (controller and CRDs, from its pinned chart) and the canary objects the
vLLM and gateway stacks add to their folders.

Each workload keeps its Deployment as the pod template (validated like any Deployment) at zero replicas, and a
Rollout references it (``workloadRef``; argoproj/argo-rollouts v1.9.0 docs/migrating.md, "Reference
Deployment From Rollout") and runs the pods: a change of the template (a new release record, policy or model)
goes out as a canary, serves for ``rollouts.pause``, and is then judged by an analysis over the risk KPIs of
its own pods (``render.risk``). A failing analysis aborts the rollout: the canary is scaled down and the
stable ReplicaSet, the last release that passed, keeps serving; the Rollout turns Degraded, which the
ModelRolloutAborted alert raises as an incident.

The conditions use Argo Rollouts' expression language (github.com/antonmedv/expr v1.15.5, evaluated by
utils/evaluate/evaluate.go with ``result`` bound to the query's vector as a list of numbers): ``len(result) ==
0`` and NaN (no traffic) satisfy neither condition, which Argo Rollouts counts as Inconclusive (the rollout
pauses for a person) rather than as a pass.
"""

from __future__ import annotations

from typing import Any

from llmops_cli import versions as versions_view
from llmops_cli.render import names
from llmops_cli.render.metrics import (
    GOVERNANCE_METRICS,
    RISK_KPIS,
    ROLLOUT_METRICS,
    latency_slow_ratio,
    risk_ratio,
    served_requests,
    vllm_metrics,
)
from llmops_cli.render.stacks.common import (
    WAVE_OPERATORS,
    Files,
    RenderContext,
    add,
    app,
)
from llmops_cli.riskdata import RISK_LEVELS, duration_seconds

GATEWAY_TEMPLATE = "llmops-gateway-risk"
VLLM_TEMPLATE = "llmops-model-risk"
HASH_ARG = "canary-hash"
KPI_LIMITS = {
    "redaction": "max_redaction_ratio",
    "blocked": "max_blocked_ratio",
    "injection": "max_injection_ratio",
    "refusal": "max_refusal_ratio",
}


def rollouts_values(ctx: RenderContext) -> dict[str, Any]:
    return {
        "installCRDs": True,
        "keepCRDs": True,
        "controller": {
            "replicas": 2 if ctx.profile.name == "prod" else 1,
            # The pinned controller patch release, not the chart's appVersion (versions.ARGO_ROLLOUTS_APP_VERSION).
            "image": {"tag": versions_view.ARGO_ROLLOUTS_APP_VERSION},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "metrics": {
                "enabled": True,
                "serviceMonitor": {"enabled": ctx.settings.stacks.observability.enabled},
            },
        },
        "dashboard": {"enabled": False},
        # Canaries here shift traffic by replica counts; no service mesh or ingress is driven.
        "providerRBAC": {"enabled": False},
    }


def stack_rollouts(ctx: RenderContext) -> Files:
    if not ctx.settings.stacks.rollouts.enabled:
        return {}
    files: Files = {}
    add(
        files,
        "apps",
        app(
            ctx,
            "argo-rollouts",
            names.ROLLOUTS_NAMESPACE,
            WAVE_OPERATORS,
            chart={
                "repo": versions_view.ARGOCD_CHART_REPO,
                "name": "argo-rollouts",
                "version": versions_view.ARGO_ROLLOUTS_CHART_VERSION,
            },
            values=rollouts_values(ctx),
            server_side=True,
        ),
    )
    return files


# ----------------------------------------------------------------------------------------- analysis
def _measured(ctx: RenderContext) -> dict[str, Any]:
    r = ctx.settings.stacks.rollouts
    out: dict[str, Any] = {"interval": r.interval, "count": r.count, "failureLimit": r.failure_limit}
    # One measurement without enough traffic is tolerated (the window is still filling); two pause the rollout.
    out["inconclusiveLimit"] = 1
    return out


def _ratio_metric(ctx: RenderContext, name: str, query: str, limit: float) -> dict[str, Any]:
    known = "len(result) > 0 && !isNaN(result[0])"
    return {
        "name": name,
        **_measured(ctx),
        "successCondition": f"{known} && result[0] <= {limit:g}",
        "failureCondition": f"{known} && result[0] > {limit:g}",
        "provider": {"prometheus": {"address": _prometheus(), "query": query, "timeout": 30}},
    }


def _once(name: str, query: str, success: str) -> dict[str, Any]:
    """A single measurement: anything but success (no series included) fails."""
    return {
        "name": name,
        "successCondition": success,
        "provider": {"prometheus": {"address": _prometheus(), "query": query, "timeout": 30}},
    }


def _prometheus() -> str:
    from llmops_cli.render.stacks.observability import PROMETHEUS_URL

    return PROMETHEUS_URL


def _enough(ctx: RenderContext, query: str, matchers: str) -> str:
    """``query`` only while the selected pods served ``rollouts.min_requests`` in the window (else empty)."""
    r = ctx.settings.stacks.rollouts
    return f"({query}) and on () ({served_requests(matchers, r.window)} >= {r.min_requests})"


def _risk_metrics(ctx: RenderContext, matchers: str) -> list[dict[str, Any]]:
    risk = ctx.settings.governance.runtime.risk
    slo = ctx.settings.stacks.observability.slo
    w = ctx.settings.stacks.rollouts.window
    out = []
    for kpi in RISK_KPIS:
        limit = slo.gateway_5xx_ratio if kpi.name == "error" else getattr(risk, KPI_LIMITS[kpi.name])
        out.append(_ratio_metric(ctx, f"{kpi.name}-ratio", _enough(ctx, risk_ratio(kpi, matchers, w), matchers), limit))
    slow = _enough(ctx, latency_slow_ratio(matchers, w, slo.e2e_p95_seconds), matchers)
    out.append(_ratio_metric(ctx, "latency-slow-ratio", slow, round(1 - risk.latency_slo_target, 6)))
    return out


def _hash_matchers() -> str:
    return f'namespace="{names.APPS_NAMESPACE}",{ROLLOUT_METRICS.pod_hash_label}="{{{{args.{HASH_ARG}}}}}"'


def gateway_analysis_template(ctx: RenderContext, labels: dict[str, str]) -> dict[str, Any]:
    """The canary gateway pods' own risk KPIs, and the evidence their release record carries."""
    risk = ctx.settings.governance.runtime.risk
    gm = GOVERNANCE_METRICS
    sel = _hash_matchers()
    metrics = _risk_metrics(ctx, sel)
    if ctx.settings.stacks.gateway.release_file is not None or ctx.settings.environments[ctx.env].requires_evidence:
        metrics += [
            _once("evidence-passed", f"min({gm.evidence_passed}{{{sel}}})", "len(result) > 0 && result[0] == 1"),
            _once(
                "evidence-fresh",
                f"max(time() - {gm.evidence_created}{{{sel}}})",
                f"len(result) > 0 && result[0] <= {duration_seconds(risk.max_evidence_age)}",
            ),
            _once(
                "risk-level",
                f"max({gm.risk_level}{{{sel}}})",
                f"len(result) > 0 && result[0] <= {RISK_LEVELS.index(risk.max_risk_level) + 1}",
            ),
        ]
        if risk.require_signed_evidence:
            metrics.append(
                _once(
                    "evidence-signed",
                    f"min({gm.signature_verified}{{{sel}}})",
                    "len(result) > 0 && result[0] == 1",
                )
            )
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": GATEWAY_TEMPLATE, "namespace": names.APPS_NAMESPACE, "labels": labels},
        "spec": {"args": [{"name": HASH_ARG}], "metrics": metrics},
    }


def vllm_analysis_template(ctx: RenderContext, labels: dict[str, str]) -> dict[str, Any]:
    """A new model version: every gateway pod's risk KPIs (the gateway fronts this one model, and the canary takes
    all of its traffic before it is judged) and the canary vLLM pods' own latency."""
    m = vllm_metrics()
    slo = ctx.settings.stacks.observability.slo
    w = ctx.settings.stacks.rollouts.window
    served = ctx.settings.stacks.vllm.name
    metrics = _risk_metrics(ctx, f'namespace="{names.APPS_NAMESPACE}"') if ctx.settings.stacks.gateway.enabled else []
    sel = f'{_hash_matchers()},{m.model_label}="{served}"'
    p95 = f"histogram_quantile(0.95, sum by (le) (rate({m.e2e_latency}_bucket{{{sel}}}[{w}])))"
    known = "len(result) > 0 && !isNaN(result[0])"
    metrics.append(
        {
            "name": "e2e-latency-p95",
            **_measured(ctx),
            "successCondition": f"{known} && result[0] <= {slo.e2e_p95_seconds:g}",
            "failureCondition": f"{known} && result[0] > {slo.e2e_p95_seconds:g}",
            "provider": {"prometheus": {"address": _prometheus(), "query": p95, "timeout": 30}},
        }
    )
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": VLLM_TEMPLATE, "namespace": names.APPS_NAMESPACE, "labels": labels},
        "spec": {"args": [{"name": HASH_ARG}], "metrics": metrics},
    }


def rollout(
    ctx: RenderContext,
    *,
    name: str,
    labels: dict[str, str],
    selector: dict[str, str],
    replicas: int | None,
    template: str,
    weight: int,
    gpu: bool = False,
) -> dict[str, Any]:
    """A canary Rollout running the pods of Deployment ``name``: ``weight`` percent, a pause, then the analysis."""
    r = ctx.settings.stacks.rollouts
    canary: dict[str, Any] = {
        "steps": [
            {"setWeight": weight},
            {"pause": {"duration": r.pause}},
            {
                "analysis": {
                    "templates": [{"templateName": template}],
                    "args": [{"name": HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}],
                }
            },
        ]
    }
    if gpu:
        # One GPU holds one vLLM: the canary replaces the stable pod rather than running beside it (an abort
        # scales the stable ReplicaSet back up).
        canary["maxSurge"] = 0
        canary["maxUnavailable"] = 1
    spec: dict[str, Any] = {
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": selector},
        "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "scaleDown": "never"},
        "strategy": {"canary": canary},
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": names.APPS_NAMESPACE, "labels": labels},
        "spec": spec,
    }
