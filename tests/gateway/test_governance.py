"""The gateway's governance gauges: the release record and the incident index as metrics on /metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llmops_cli.errors import ConfigError
from llmops_cli.gateway.governance import GovernanceGauges, read_incidents, read_release
from llmops_cli.gateway.settings import GatewayServerSettings
from llmops_cli.riskdata import IncidentEntry, IncidentIndex, format_time, parse_time
from tests.riskfixtures import incident_index, release_record


def samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return samples(registry).get((name, frozenset(labels.items())))


def write(tmp_path: Path, release=None, index=None) -> tuple[Path, Path]:
    rel, idx = tmp_path / "release.json", tmp_path / "index.json"
    rel.write_text((release or release_record()).to_json())
    idx.write_text((index or incident_index()).to_json())
    return rel, idx


def test_the_release_record_becomes_gauges_per_model_and_version(tmp_path):
    created = time.time() - 86400
    rel, idx = write(tmp_path, release_record(version="2.0.0", signature="none", level="high", created=created))
    reg = CollectorRegistry()
    GovernanceGauges(reg, release_file=str(rel), incidents_file=str(idx), interval=0).load()
    mv = {"model": "credit-approval", "model_version": "2.0.0"}
    info = [k for k in samples(reg) if k[0] == "llmops_model_release_info"]
    assert len(info) == 1 and dict(info[0][1])["signature"] == "none" and dict(info[0][1])["served_model"]
    assert value(reg, "llmops_model_risk_level", **mv) == 3  # high
    assert value(reg, "llmops_model_risk_score", **mv) == 4.5
    assert value(reg, "llmops_model_evidence_signature_verified", **mv) == 0
    assert value(reg, "llmops_model_evidence_passed", **mv) == 1
    assert value(reg, "llmops_model_evidence_created_timestamp_seconds", **mv) == pytest.approx(
        parse_time(format_time(created), "t")
    )
    assert value(reg, "llmops_model_fairness_delta", **mv, attribute="sex", metric="demographic_parity_ratio") == 0.97
    assert value(reg, "llmops_model_llm_eval_failure_ratio", **mv, measure="unsafe_compliance") == 0.02


def test_incidents_count_by_state_and_overdue_follows_the_clock(tmp_path):
    now = time.time()
    entry = IncidentEntry(
        "INC-20261201-aaaaaaaa", "m", "1", "critical", "open", format_time(now), format_time(now + 100)
    )
    _, idx = write(tmp_path, index=IncidentIndex((entry,)))
    clock = [now]
    reg = CollectorRegistry()
    g = GovernanceGauges(reg, incidents_file=str(idx), interval=0, clock=lambda: clock[0])
    g.load()
    key = {"model": "m", "incident_severity": "critical"}
    assert value(reg, "llmops_incidents", **key, state="open") == 1
    assert value(reg, "llmops_incidents_review_overdue", **key) == 0
    clock[0] = now + 101
    g.refresh()
    assert value(reg, "llmops_incidents_review_overdue", **key) == 1
    # the review is filed: the file changes, the gauges follow, the label set stays at zero
    idx.write_text(IncidentIndex((IncidentEntry(**{**entry.to_dict(), "state": "closed"}),)).to_json())
    os.utime(idx, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    g.refresh()
    assert value(reg, "llmops_incidents", **key, state="open") == 0
    assert value(reg, "llmops_incidents", **key, state="closed") == 1
    assert value(reg, "llmops_incidents_review_overdue", **key) == 0


def test_zero_incidents_read_zero_not_no_data(tmp_path):
    _, idx = write(tmp_path, index=IncidentIndex())
    reg = CollectorRegistry()
    GovernanceGauges(reg, incidents_file=str(idx), interval=0).load()
    overdue = [v for (n, _), v in samples(reg).items() if n == "llmops_incidents_review_overdue"]
    assert overdue and sum(overdue) == 0


def test_a_broken_index_keeps_the_last_good_one_and_counts_the_error(tmp_path):
    _, idx = write(tmp_path)
    reg = CollectorRegistry()
    g = GovernanceGauges(reg, incidents_file=str(idx), interval=0)
    g.load()
    before = value(reg, "llmops_incidents", model="credit-approval", incident_severity="critical", state="open")
    idx.write_text("{not json")
    os.utime(idx, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    g.refresh()
    assert value(reg, "llmops_incidents", model="credit-approval", incident_severity="critical", state="open") == before
    assert value(reg, "llmops_governance_reload_errors_total") == 1


@given(
    field=st.sampled_from(["model", "served_model", "promoted_at", "llmops_release_format"]),
    bad=st.sampled_from([None, "", 3, "yesterday"]),
)
@hsettings(max_examples=25, deadline=None)
def test_a_bad_release_record_is_a_config_error_naming_the_file_and_field(field, bad):
    import tempfile

    doc = release_record().to_dict()
    doc[field] = bad
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "release.json"
        path.write_text(json.dumps(doc))
        if field in ("model", "served_model") and bad == "yesterday":
            read_release(str(path))  # any non-empty name is a name
            return
        with pytest.raises(ConfigError) as e:
            read_release(str(path))
        assert str(path) in e.value.message and field in e.value.message


def test_missing_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="release record"):
        read_release(str(tmp_path / "none.json"))
    with pytest.raises(ConfigError, match="incident index"):
        read_incidents(str(tmp_path / "none.json"))


def test_settings_take_the_files_from_the_environment():
    s = GatewayServerSettings.from_env(
        {"PAC_RELEASE_FILE": "/r.json", "PAC_INCIDENTS_FILE": "/i.json", "PAC_GOVERNANCE_REFRESH": "2.5"}
    )
    assert (s.release_file, s.incidents_file, s.governance_refresh) == ("/r.json", "/i.json", 2.5)
    with pytest.raises(ConfigError, match="PAC_GOVERNANCE_REFRESH"):
        GatewayServerSettings.from_env({"PAC_GOVERNANCE_REFRESH": "0"})


def test_serve_refuses_a_bad_release_record_before_listening(tmp_path):
    bad = tmp_path / "release.json"
    bad.write_text('{"llmops_release_format": 1}')
    r = subprocess.run(
        [sys.executable, "-m", "llmops_cli", "gateway", "serve", "--port", "0", "--release", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert r.returncode == 2, r.stderr
    assert str(bad) in r.stderr and "Traceback" not in r.stderr


def test_several_workers_export_the_gauges_once(tmp_path):
    """With --workers 2, /metrics sums the workers' values (multi-process mode); the governance gauges report
    the most recent value instead, so a release is one series with value 1, not 2."""
    import httpx

    from tests.realparts import free_port, stop, wait_for

    rel, idx = write(tmp_path)
    port, metrics_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops_cli", "gateway", "serve", "--workers", "2", "--port", str(port),
         "--metrics-port", str(metrics_port),
         "--release", str(rel), "--incidents", str(idx), "--upstream", "http://127.0.0.1:9"],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PAC_AUDIT_LOG": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{metrics_port}/metrics"  # metrics are served on their own port only
        text = wait_for(
            lambda: (r := httpx.get(url)).status_code == 200 and r.text, "the gateway's /metrics", timeout=30
        )
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        (info,) = fams["llmops_model_release_info"].samples
        assert info.value == 1
        overdue = {
            s.labels["incident_severity"]: s.value
            for s in fams["llmops_incidents_review_overdue"].samples
            if s.labels["model"] == "credit-approval"
        }
        assert overdue == {"critical": 1, "warning": 0}
    finally:
        stop(proc)
