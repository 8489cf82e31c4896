"""The run-time risk rules: `promtool check rules`, and a `promtool test rules` unit test for every recording
rule (its value on synthetic series) and every alert (fires on a risky series set, stays quiet on a healthy one).

Series carry the labels Prometheus gives a scraped gateway pod (prometheus-operator: namespace, pod, job...);
the release record's labels reach the KPIs through ``llmops_model_release_info`` on the same pod.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from llmops_cli.config.model import Settings
from llmops_cli.render.risk import rule_groups

from .tools import require_tool

POD = 'namespace="llmops",pod="policy-gateway-7d9f-x",job="policy-gateway",rollouts_pod_template_hash="7d9f"'
RELEASE = {"model": "credit-approval", "model_version": "1.3.0", "served_model": "qwen2-5-0-5b-instruct"}
REL_LABELS = ",".join(f'{k}="{v}"' for k, v in RELEASE.items())
INFO = {
    "series": f'llmops_model_release_info{{{POD},{REL_LABELS},env="prod",run="2da3",risk_level="low",'
    'ai_act_class="high-risk",status="pass",signature="verified"}',
    "values": "1x130",
}
MV = 'model="credit-approval",model_version="1.3.0"'


def groups() -> list[dict]:
    return rule_groups(Settings(), "prod")  # prod: requires evidence, so every risk alert is rendered


def alerts() -> dict[str, dict]:
    return {r["alert"]: r for g in groups() for r in g["rules"] if "alert" in r}


def records() -> dict[str, dict]:
    return {r["record"]: r for g in groups() for r in g["rules"] if "record" in r}


def _requests(per_min: int, status: str = "200") -> dict[str, str]:
    return {"series": f'llmops_gateway_requests_total{{{POD},route="/v1/chat/completions",model="m",status="{status}"}}',
            "values": f"0+{per_min}x130"}  # fmt: skip


def _decisions(rule: str, action: str, per_min: int) -> dict[str, str]:
    return {"series": f'llmops_gateway_policy_decisions_total{{{POD},rule="{rule}",action="{action}"}}',
            "values": f"0+{per_min}x130"}  # fmt: skip


def _latency(le30_per_min: int, total_per_min: int) -> list[dict[str, str]]:
    base = "llmops_gateway_request_duration_seconds"
    return [
        {"series": f'{base}_bucket{{{POD},route="/v1/chat/completions",le="30.0"}}', "values": f"0+{le30_per_min}x130"},
        {
            "series": f'{base}_bucket{{{POD},route="/v1/chat/completions",le="+Inf"}}',
            "values": f"0+{total_per_min}x130",
        },
        {"series": f'{base}_count{{{POD},route="/v1/chat/completions"}}', "values": f"0+{total_per_min}x130"},
    ]


def _gauge(name: str, value: str, extra: str = MV) -> dict[str, str]:
    return {"series": f"{name}{{{POD},{extra}}}", "values": f"{value}x130"}


# recording rule -> (series, eval time, expected value)
RECORDS: dict[str, tuple[list[dict], str, float]] = {
    "llmops:model_requests:rate5m": ([INFO, _requests(60)], "10m", 1.0),
    "llmops:model_requests:rate1h": ([INFO, _requests(60)], "70m", 1.0),
    "llmops:model_redaction_ratio:rate5m": ([INFO, _requests(60), _decisions("pii.output.email", "redact", 6)], "10m", 0.1),
    "llmops:model_redaction_ratio:rate1h": ([INFO, _requests(60), _decisions("pii.input.phone", "redact", 3)], "70m", 0.05),
    "llmops:model_blocked_ratio:rate5m": ([INFO, _requests(60), _decisions("blocked_pattern:x", "deny", 12)], "10m", 0.2),
    "llmops:model_blocked_ratio:rate1h": ([INFO, _requests(60), _decisions("blocked_pattern:x", "deny", 12)], "70m", 0.2),
    # the classifier failing is not an injection
    "llmops:model_injection_ratio:rate5m": (
        [INFO, _requests(60), _decisions("injection:ignore_previous", "flag", 3),
         _decisions("injection:classifier_error", "flag", 30)], "10m", 0.05),
    "llmops:model_injection_ratio:rate1h": ([INFO, _requests(60), _decisions("injection:role_play", "flag", 6)], "70m", 0.1),
    # a rate limit is not a content refusal
    "llmops:model_refusal_ratio:rate5m": (
        [INFO, _requests(60), _decisions("pii.input.credit_card", "deny", 6), _decisions("limit:rpm", "deny", 30)],
        "10m", 0.1),
    "llmops:model_refusal_ratio:rate1h": ([INFO, _requests(60), _decisions("model_allowlist", "deny", 3)], "70m", 0.05),
    # no decision series at all: 0, not "no data"
    "llmops:model_error_ratio:rate5m": ([INFO, _requests(60)], "10m", 0.0),
    "llmops:model_error_ratio:rate1h": ([INFO, _requests(30), _requests(30, "502")], "70m", 0.5),
    "llmops:model_latency_burn_rate:rate5m": ([INFO, *_latency(30, 60)], "10m", 10.0),
    "llmops:model_latency_burn_rate:rate1h": ([INFO, *_latency(45, 60)], "70m", 5.0),
}  # fmt: skip

# alert -> (eval time, firing series, healthy series, labels of the fired alert beyond the rule's, $value shown)
NEW_ALERTS: dict[str, tuple[str, list[dict], list[dict], dict[str, str], float]] = {
    "ModelRedactionRatioHigh": (
        "20m", [INFO, _requests(60), _decisions("pii.output.email", "redact", 6)],
        [INFO, _requests(60), _decisions("pii.output.email", "redact", 1)], RELEASE, 0.1),
    "ModelBlockedPatternRatioHigh": (
        "20m", [INFO, _requests(60), _decisions("blocked_pattern:x", "deny", 6)],
        [INFO, _requests(60), _decisions("blocked_pattern:x", "deny", 1)], RELEASE, 0.1),
    "ModelInjectionRatioHigh": (
        "20m", [INFO, _requests(60), _decisions("injection:ignore_previous", "flag", 6)],
        [INFO, _requests(60), _decisions("injection:classifier_error", "flag", 30)], RELEASE, 0.1),
    "ModelRefusalRatioHigh": (
        "20m", [INFO, _requests(60), _decisions("blocked_pattern:x", "deny", 6)],
        [INFO, _requests(60), _decisions("limit:rpm", "deny", 30)], RELEASE, 0.1),
    "ModelErrorRatioHigh": (
        "20m", [INFO, _requests(30), _requests(30, "503")], [INFO, _requests(60), _requests(1, "503")], RELEASE, 0.5),
    "ModelLatencyBudgetBurn": ("70m", [INFO, *_latency(12, 60)], [INFO, *_latency(57, 60)], RELEASE, 0.0),
    "ModelEvidenceStale": (
        "120m", [INFO, _gauge("llmops_model_evidence_created_timestamp_seconds", "-8000000")],
        [INFO, _gauge("llmops_model_evidence_created_timestamp_seconds", "0")], RELEASE, 0.0),
    "ModelEvidenceUnsigned": (
        "20m", [INFO, _gauge("llmops_model_evidence_signature_verified", "0")],
        [INFO, _gauge("llmops_model_evidence_signature_verified", "1")], RELEASE, 0.0),
    "ModelEvidenceFailing": (
        "20m", [INFO, _gauge("llmops_model_evidence_passed", "0")],
        [INFO, _gauge("llmops_model_evidence_passed", "1")], RELEASE, 0.0),
    "ModelRiskAboveAppetite": (
        "20m", [INFO, _gauge("llmops_model_risk_level", "4")], [INFO, _gauge("llmops_model_risk_level", "3")], RELEASE, 0.0),
    # a pod serving without a release record; one with its record is fine
    "ModelServedWithoutEvidence": (
        "20m", [_requests(60)], [INFO, _requests(60)], {"namespace": "llmops", "pod": "policy-gateway-7d9f-x"}, 0.0),
    # Argo Rollouts' chart scrapes without honor_labels: the rollout's namespace is exported_namespace
    "ModelRolloutAborted": (
        "2m",
        [{"series": 'rollout_info{namespace="argo-rollouts",exported_namespace="llmops",name="policy-gateway",'
                    'strategy="Canary",traffic_router="",phase="Degraded"}', "values": "1x10"}],
        [{"series": 'rollout_info{namespace="argo-rollouts",exported_namespace="llmops",name="policy-gateway",'
                    'strategy="Canary",traffic_router="",phase="Healthy"}', "values": "1x10"}],
        {"exported_namespace": "llmops", "name": "policy-gateway"}, 0.0),
    "IncidentReviewOverdue": (
        "5m", [_gauge("llmops_incidents_review_overdue", "1", 'model="credit-approval",incident_severity="critical"')],
        [_gauge("llmops_incidents_review_overdue", "0", 'model="credit-approval",incident_severity="critical"')],
        {"model": "credit-approval", "incident_severity": "critical"}, 1.0),
}  # fmt: skip


def _humanize(v: float) -> str:
    """Prometheus' humanize for the values used here (SI prefix, %.4g)."""
    if v == 0:
        return "0"
    for factor, prefix in ((1e-3, "m"), (1e-6, "u")):
        if abs(v) < 1 and abs(v) >= factor:
            return f"{v / factor:.4g}{prefix}"
    return f"{v:.4g}"


def expand(text: str, labels: dict[str, str], value: float) -> str:
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), text)
    text = text.replace("{{ $value | humanizePercentage }}", f"{value * 100:.4g}%")
    text = text.replace("{{ $value | humanize }}", _humanize(value))
    return text.replace("{{ $value }}", f"{value:g}")


def _run(tmp_path: Path, tests: list[dict]) -> None:
    promtool = require_tool("promtool")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups()}, sort_keys=True))
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    r = subprocess.run(
        [promtool, "test", "rules", "test.yaml"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_risk_rule_has_a_unit_test_and_every_alert_a_runbook_section():
    assert set(alerts()) == set(NEW_ALERTS)
    assert set(records()) == set(RECORDS)
    runbooks = (Path(__file__).resolve().parents[2] / "docs" / "runbooks.md").read_text()
    for name, rule in alerts().items():
        assert rule["labels"]["incident"] == "true" and rule["labels"]["team"] == "llmops"
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower() and f"\n## {name}\n" in runbooks, name


def test_promtool_check_rules(tmp_path):
    promtool = require_tool("promtool")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups()}, sort_keys=True))
    r = subprocess.run(
        [promtool, "check", "rules", "rules.yaml"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(NEW_ALERTS) + len(RECORDS)} rules found" in r.stdout


@pytest.mark.parametrize("record", sorted(RECORDS))
def test_recording_rule_value(record, tmp_path):
    series, at, value = RECORDS[record]
    _run(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": record,
                        "eval_time": at,
                        "exp_samples": [{"labels": f"{record}{{{REL_LABELS}}}", "value": value}],
                    }
                ],
            }
        ],
    )


@pytest.mark.parametrize("alert", sorted(NEW_ALERTS))
def test_alert_fires_and_stays_quiet(alert, tmp_path):
    at, firing, healthy, extra, value = NEW_ALERTS[alert]
    rule = alerts()[alert]
    labels = {**rule["labels"], **extra}
    annotations = {k: expand(v, labels, value) for k, v in rule["annotations"].items()}
    _run(
        tmp_path,
        [
            {
                "name": f"{alert} fires",
                "interval": "1m",
                "input_series": firing,
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": alert,
                        "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
                    }
                ],
            },
            {
                "name": f"{alert} stays quiet",
                "interval": "1m",
                "input_series": healthy,
                "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": []}],
            },
        ],
    )


def test_the_stricter_settings_render_stricter_alerts():
    s = Settings.model_validate(
        {"governance": {"runtime": {"risk": {"max_redaction_ratio": 0.01, "require_signed_evidence": False}}}}
    )
    rules = {r["alert"]: r for g in rule_groups(s, "dev") for r in g["rules"] if "alert" in r}
    assert rules["ModelRedactionRatioHigh"]["expr"].endswith("> 0.01")
    assert "ModelEvidenceUnsigned" not in rules
    assert "ModelServedWithoutEvidence" not in rules  # dev does not require evidence
    off = Settings.model_validate({"stacks": {"rollouts": {"enabled": False}}})
    assert "ModelRolloutAborted" not in {r.get("alert") for g in rule_groups(off, "prod") for r in g["rules"]}
