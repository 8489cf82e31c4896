"""Run-time risk KPIs per model release: recording rules, alert rules and the canary analysis queries.

Everything here is PromQL over what the Policy Gateway exports: its request counters and policy decisions
(per pod), and the release record it serves under (``llmops_model_release_info``), which names the model,
its version and the served model. Recording rules carry each KPI per release; the alerts fire on them and on
the release's evidence; the canary analysis (``rollouts``) asks the same questions of the canary's pods only.

Alerts that should open an incident carry ``incident: "true"``; Alertmanager routes those to every incident
receiver (``render.alerting``) and `llmops govern incident open` turns the notification into a record.
"""

from __future__ import annotations

from typing import Any

from llmops_cli.config.model import Settings
from llmops_cli.render import names
from llmops_cli.render.metrics import (
    GATEWAY_METRICS,
    GOVERNANCE_METRICS,
    RISK_KPIS,
    ROLLOUT_METRICS,
    RiskKpi,
    le_label,
    per_release,
    slo_bucket,
)
from llmops_cli.riskdata import RISK_LEVELS, duration_seconds

RUNBOOK_BASE = "https://github.com/llmops/llmops/blob/main/docs/runbooks.md"
WINDOWS = ("5m", "1h")
REQUESTS_RULE = "llmops:model_requests:rate{w}"


def kpi_rule(kpi: RiskKpi | str, window: str = "5m") -> str:
    name = kpi if isinstance(kpi, str) else kpi.name
    return f"llmops:model_{name}_ratio:rate{window}"


def burn_rule(window: str) -> str:
    return f"llmops:model_latency_burn_rate:rate{window}"


def _num(x: float) -> str:
    return f"{x:g}"


def _by_pod(metric: str, extra: str, window: str) -> str:
    sel = f"{metric}{{{extra}}}" if extra else metric
    return f"sum by (namespace, pod) (rate({sel}[{window}]))"


def _requests_by_pod(window: str) -> str:
    return _by_pod(GATEWAY_METRICS.requests, "", window)


def _kpi_by_pod(kpi: RiskKpi, window: str) -> str:
    """The KPI's numerator per pod; 0 for pods that served requests but never counted one of its events."""
    zero = f"({_requests_by_pod(window)} * 0)"
    terms = [f"({_by_pod(m, extra, window)} or {zero})" for m, extra in kpi.terms]
    return terms[0] if len(terms) == 1 else "(" + " + ".join(terms) + ")"


def recording_rules(settings: Settings) -> list[dict[str, Any]]:
    risk = settings.governance.runtime.risk
    slo = settings.stacks.observability.slo
    g = GATEWAY_METRICS
    le = le_label(slo_bucket(slo.e2e_p95_seconds))
    rules: list[dict[str, Any]] = []
    on = "on (" + ", ".join(GOVERNANCE_METRICS.release_labels) + ")"
    for w in WINDOWS:
        requests = REQUESTS_RULE.format(w=w)
        rules.append({"record": requests, "expr": per_release(_requests_by_pod(w))})
        for kpi in RISK_KPIS:
            rules.append({"record": kpi_rule(kpi, w), "expr": f"{per_release(_kpi_by_pod(kpi, w))} / {on} {requests}"})
        fast = _by_pod(f"{g.latency}_bucket", f'le="{le}"', w)
        count = _by_pod(f"{g.latency}_count", "", w)
        rules.append(
            {
                "record": burn_rule(w),
                "expr": f"(1 - {per_release(fast)} / {on} {per_release(count)}) / {_num(1 - risk.latency_slo_target)}",
            }
        )
    return rules


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, "team": "llmops", "incident": "true"},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{RUNBOOK_BASE}#{name.lower()}",
        },
    }


KPI_ALERTS = {
    "redaction": ("ModelRedactionRatioHigh", "warning", "max_redaction_ratio"),
    "blocked": ("ModelBlockedPatternRatioHigh", "warning", "max_blocked_ratio"),
    "injection": ("ModelInjectionRatioHigh", "warning", "max_injection_ratio"),
    "refusal": ("ModelRefusalRatioHigh", "warning", "max_refusal_ratio"),
}


def of_release(metric: str, agg: str = "max") -> str:
    """A release gauge (labelled model, model_version) with the served model its release record names."""
    gm = GOVERNANCE_METRICS
    labels = ", ".join(gm.release_labels)
    return (
        f"{agg} by ({labels}) ({metric} * on (model, model_version) group_left (served_model) "
        f"max by ({labels}) ({gm.release_info}))"
    )


def alert_rules(settings: Settings, env: str) -> list[dict[str, Any]]:
    risk = settings.governance.runtime.risk
    slo = settings.stacks.observability.slo
    gm = GOVERNANCE_METRICS
    rm = ROLLOUT_METRICS
    who = "{{ $labels.model }} {{ $labels.model_version }} ({{ $labels.served_model }})"
    out: list[dict[str, Any]] = []
    for kpi in RISK_KPIS:
        if kpi.name not in KPI_ALERTS:
            continue
        name, severity, field = KPI_ALERTS[kpi.name]
        limit = getattr(risk, field)
        out.append(
            _alert(
                name,
                f"{kpi_rule(kpi)} > {_num(limit)}",
                "10m",
                severity,
                f"{kpi.title} above the release's limit",
                f"{kpi.title} for {who} is {{{{ $value | humanize }}}}, above {_num(limit)} "
                f"(governance.runtime.risk.{field}) for 10 minutes.",
            )
        )
    out.append(
        _alert(
            "ModelErrorRatioHigh",
            f"{kpi_rule('error')} > {_num(slo.gateway_5xx_ratio)}",
            "5m",
            "critical",
            "Model release failing requests server-side",
            f"{{{{ $value | humanizePercentage }}}} of the requests to {who} fail server-side "
            f"(more than {_num(slo.gateway_5xx_ratio * 100)}%).",
        )
    )
    budget = _num(risk.max_burn_rate)
    out.append(
        _alert(
            "ModelLatencyBudgetBurn",
            f"{burn_rule('5m')} > {budget} and {burn_rule('1h')} > {budget}",
            "2m",
            "critical",
            "Model release burning its latency error budget",
            f"{who} answers more than {_num((1 - risk.latency_slo_target) * 100)}% of its requests slower than "
            f"{_num(slo_bucket(slo.e2e_p95_seconds))}s, at {budget}x the rate the budget allows, over both the "
            "last 5 minutes and the last hour.",
        )
    )
    age = duration_seconds(risk.max_evidence_age)
    out.append(
        _alert(
            "ModelEvidenceStale",
            f"time() - {of_release(gm.evidence_created)} > {age}",
            "1h",
            "warning",
            "Model release served on stale evidence",
            f"The evidence {who} was released on is older than {risk.max_evidence_age}: run `llmops govern check` "
            "again and release the new bundle.",
        )
    )
    if risk.require_signed_evidence:
        out.append(
            _alert(
                "ModelEvidenceUnsigned",
                f"{of_release(gm.signature_verified, 'min')} == 0",
                "15m",
                "critical",
                "Model release served on unsigned evidence",
                f"The evidence {who} was released on carries no verified signature "
                "(governance.runtime.risk.require_signed_evidence).",
            )
        )
    out.append(
        _alert(
            "ModelEvidenceFailing",
            f"{of_release(gm.evidence_passed, 'min')} == 0",
            "5m",
            "critical",
            "Model release served on failing evidence",
            f"The policy rules of the evidence {who} was released on do not pass.",
        )
    )
    level = RISK_LEVELS.index(risk.max_risk_level) + 1
    out.append(
        _alert(
            "ModelRiskAboveAppetite",
            f"{of_release(gm.risk_level)} > {level}",
            "5m",
            "critical",
            "Model release above the risk appetite",
            f"The residual risk of {who} is above {risk.max_risk_level} (governance.runtime.risk.max_risk_level).",
        )
    )
    if settings.environments[env].requires_evidence:
        out.append(
            _alert(
                "ModelServedWithoutEvidence",
                f"sum by (namespace, pod) (rate({GATEWAY_METRICS.requests}[5m])) > 0 "
                f"unless on (namespace, pod) {gm.release_info}",
                "15m",
                "critical",
                "Gateway serving without a release record",
                "Gateway pod {{ $labels.pod }} serves requests but exports no release record: this environment "
                "requires evidence (environments.<env>.requires_evidence). Set stacks.gateway.release_file.",
            )
        )
    if settings.stacks.rollouts.enabled:
        out.append(
            _alert(
                "ModelRolloutAborted",
                f"max by ({rm.namespace_label}, name) "
                f'({rm.rollout_info}{{{rm.namespace_label}="{names.APPS_NAMESPACE}",phase="Degraded"}}) == 1',
                "0m",
                "critical",
                "A model rollout was aborted and rolled back",
                "Rollout {{ $labels.name }} is Degraded: its canary analysis failed (or it ran out of time) and "
                "Argo Rollouts returned it to the last compliant release. Open the incident with the "
                "AnalysisRun: `kubectl -n llmops get analysisrun -l rollouts-pod-template-hash -o yaml`.",
            )
        )
    out.append(
        _alert(
            "IncidentReviewOverdue",
            f"max by (model, incident_severity) ({gm.incidents_overdue}) > 0",
            "0m",
            "warning",
            "Incident review overdue",
            "{{ $value }} {{ $labels.incident_severity }} incident(s) of {{ $labels.model }} have no post-incident "
            "review past their deadline: `llmops govern incident list --overdue`.",
        )
    )
    return out


def rule_groups(settings: Settings, env: str) -> list[dict[str, Any]]:
    if not settings.stacks.gateway.enabled:
        return []
    return [
        {"name": "llmops-risk-kpis", "rules": recording_rules(settings)},
        {"name": "llmops-risk", "rules": alert_rules(settings, env)},
    ]
