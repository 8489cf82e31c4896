"""Alert rules: `promtool check rules` on every rendered PrometheusRule, and one `promtool test rules`
unit test per alert that fires it on synthetic series and keeps it quiet on healthy ones."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from llmops_cli.render.metrics import GPU_METRICS

from .conftest import gpu_tree, objects
from .tools import require_tool

MODEL = 'model_name="qwen2-5-0-5b-instruct"'
NS = 'namespace="llmops"'
JOB = 'job="vllm-qwen2-5-0-5b-instruct"'


# The run-time risk groups (recording rules and incident alerts) have their own tests: test_risk_rules.py.
RISK_GROUPS = ("llmops-risk-kpis", "llmops-risk")


def _platform_groups() -> list[dict]:
    return [
        g
        for obj in objects(gpu_tree("dev")).values()
        if obj["kind"] == "PrometheusRule"
        for g in obj["spec"]["groups"]
        if g["name"] not in RISK_GROUPS
    ]


def _rules() -> dict[str, dict]:
    """Every rendered platform alert by name (the GPU variant renders all of them; same SLOs as the defaults)."""
    return {r["alert"]: r for g in _platform_groups() for r in g["rules"]}


def _groups_file(tmp_path: Path) -> Path:
    groups = _platform_groups()
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=True))
    return path


def _hist(metric: str, buckets: dict[str, str]) -> list[dict[str, str]]:
    return [{"series": f'{metric}_bucket{{{MODEL},le="{le}"}}', "values": v} for le, v in buckets.items()]


# alert -> (eval_time, firing series, healthy series, extra labels on the fired alert)
CASES: dict[str, tuple[str, list[dict], list[dict], dict[str, str]]] = {
    "VllmDown": (
        "10m",
        [{"series": f"up{{{NS},{JOB}}}", "values": "0x15"}],
        [{"series": f"up{{{NS},{JOB}}}", "values": "1x15"}],
        {},
    ),
    "VllmTtftP95AboveSlo": (
        "20m",
        _hist("vllm:time_to_first_token_seconds", {"1": "0+0x30", "5": "0+10x30", "+Inf": "0+10x30"}),
        _hist("vllm:time_to_first_token_seconds", {"1": "0+10x30", "5": "0+10x30", "+Inf": "0+10x30"}),
        {},
    ),
    "VllmE2eLatencyP95AboveSlo": (
        "20m",
        _hist("vllm:e2e_request_latency_seconds", {"10": "0+0x30", "60": "0+10x30", "+Inf": "0+10x30"}),
        _hist("vllm:e2e_request_latency_seconds", {"10": "0+10x30", "60": "0+10x30", "+Inf": "0+10x30"}),
        {},
    ),
    "VllmKvCacheSaturated": (
        "15m",
        [
            {"series": f"vllm:kv_cache_usage_perc{{{MODEL}}}", "values": "0.99x20"},
            {"series": f"vllm:num_requests_waiting{{{MODEL}}}", "values": "3x20"},
        ],
        [
            {"series": f"vllm:kv_cache_usage_perc{{{MODEL}}}", "values": "0.5x20"},
            {"series": f"vllm:num_requests_waiting{{{MODEL}}}", "values": "3x20"},
        ],
        {},
    ),
    "GatewayHigh5xxRate": (
        "15m",
        [
            {"series": f'llmops_gateway_requests_total{{{NS},status="500"}}', "values": "0+10x20"},
            {"series": f'llmops_gateway_requests_total{{{NS},status="200"}}', "values": "0+10x20"},
        ],
        [
            {"series": f'llmops_gateway_requests_total{{{NS},status="500"}}', "values": "0+0x20"},
            {"series": f'llmops_gateway_requests_total{{{NS},status="200"}}', "values": "0+10x20"},
        ],
        {},
    ),
    "PolicyViolationSpike": (
        "70m",
        [
            {
                "series": f'llmops_gateway_policy_decisions_total{{{NS},rule="pii.email",action="redact"}}',
                "values": "0+1x60 160+100x20",
            }
        ],
        # a steady high rate is not a spike
        [
            {
                "series": f'llmops_gateway_policy_decisions_total{{{NS},rule="pii.email",action="redact"}}',
                "values": "0+100x80",
            }
        ],
        {},
    ),
    "GpuMemoryHigh": (
        "15m",
        [
            {"series": f'DCGM_FI_DEV_FB_USED{{{GPU_METRICS.host}="n1",gpu="0"}}', "values": "79000x20"},
            {"series": f'DCGM_FI_DEV_FB_FREE{{{GPU_METRICS.host}="n1",gpu="0"}}', "values": "1000x20"},
        ],
        [
            {"series": f'DCGM_FI_DEV_FB_USED{{{GPU_METRICS.host}="n1",gpu="0"}}', "values": "40000x20"},
            {"series": f'DCGM_FI_DEV_FB_FREE{{{GPU_METRICS.host}="n1",gpu="0"}}', "values": "40000x20"},
        ],
        {GPU_METRICS.host: "n1", "gpu": "0"},
    ),
    "GatewayRateLimitsNotShared": (
        "20m",
        [{"series": f'llmops_gateway_ratelimit_store_errors_total{{{NS},kind="connect"}}', "values": "0+5x20"}],
        [{"series": f'llmops_gateway_ratelimit_store_errors_total{{{NS},kind="connect"}}', "values": "3x20"}],
        {},
    ),
    "PgvectorDown": (
        "10m",
        [],  # no series at all: the exporter (or the pod) is gone
        [{"series": f"pg_up{{{NS}}}", "values": "1x15"}],
        {},
    ),
}


def test_every_alert_has_a_runbook_and_a_unit_test():
    rules = _rules()
    assert set(rules) == set(CASES)
    for name, rule in rules.items():
        assert rule["annotations"]["runbook_url"].startswith("https://"), name


def test_promtool_check_rules(tmp_path):
    promtool = require_tool("promtool")
    rules = _groups_file(tmp_path)
    r = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(CASES)} rules found" in r.stdout


# More scenarios for an alert than CASES' one firing and one healthy series set.
EXTRA_CASES = [
    # every request a 200, but a fifth of the streams cut short by the upstream after their headers went out
    (
        "GatewayHigh5xxRate",
        "15m",
        [
            {"series": f'llmops_gateway_requests_total{{{NS},status="200"}}', "values": "0+10x20"},
            {
                "series": f'llmops_gateway_stream_errors_total{{{NS},route="/v1/chat/completions",'
                'kind="upstream_protocol"}',
                "values": "0+2x20",
            },
        ],
        # a stream error now and then stays under the SLO's 5 %
        [
            {"series": f'llmops_gateway_requests_total{{{NS},status="200"}}', "values": "0+100x20"},
            {
                "series": f'llmops_gateway_stream_errors_total{{{NS},route="/v1/chat/completions",'
                'kind="upstream_protocol"}',
                "values": "0+1x20",
            },
        ],
        {},
    ),
]


@pytest.mark.parametrize(
    "case",
    [(a, *CASES[a]) for a in sorted(CASES)] + EXTRA_CASES,
    ids=sorted(CASES) + [f"{c[0]}-{i}" for i, c in enumerate(EXTRA_CASES)],
)
def test_promtool_unit_test_fires_and_stays_quiet(case, tmp_path):
    promtool = require_tool("promtool")
    rules = _groups_file(tmp_path)
    alert, eval_time, firing, healthy, extra = case
    rule = _rules()[alert]
    expected = {"exp_labels": {**rule["labels"], **extra}, "exp_annotations": rule["annotations"]}
    tests = {
        "rule_files": [rules.name],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": f"{alert} fires",
                "interval": "1m",
                "input_series": firing,
                "alert_rule_test": [{"eval_time": eval_time, "alertname": alert, "exp_alerts": [expected]}],
            },
            {
                "name": f"{alert} stays quiet",
                "interval": "1m",
                "input_series": healthy,
                "alert_rule_test": [{"eval_time": eval_time, "alertname": alert, "exp_alerts": []}],
            },
        ],
    }
    tfile = tmp_path / "test.yaml"
    tfile.write_text(yaml.safe_dump(tests, sort_keys=False))
    r = subprocess.run(
        [promtool, "test", "rules", tfile.name], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode == 0, r.stdout + r.stderr
