"""Governance at run time: release records from real evidence bundles, incident records from Alertmanager
payloads, post-mortems and their review, review time from check and promotion records."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from llmops_cli.errors import InputError, PolicyViolation, UsageError
from llmops_cli.govern.api import trust_from_settings
from llmops_cli.govern.evidence import EvidenceMismatch, GitState, build_manifest, verify_bundle, write_run
from llmops_cli.govern.runtime.alerts import parse_notification
from llmops_cli.govern.runtime.auditwindow import read_window
from llmops_cli.govern.runtime.incidents import (
    OpenOptions,
    close_incident,
    incident_id,
    open_incident,
    unfilled_sections,
    write_postmortem,
)
from llmops_cli.govern.runtime.release import build_release, write_release
from llmops_cli.govern.runtime.reviewtime import review_time
from llmops_cli.govern.signing import load_signer
from llmops_cli.riskdata import FormatError, IncidentIndex, Release, format_time, parse_time
from tests.govern.test_evidence import check

NOW = 1_800_000_000.0


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    from llmops_cli.govern.signing import generate_key

    private, public = tmp_path / "keys" / "signing.key", tmp_path / "keys" / "signing.key.pub"
    generate_key(private, public)
    return private, public


# ----------------------------------------------------------------------------------------- release
def test_a_signed_passing_bundle_becomes_a_release_record_with_its_evidence(project: Path, keys):
    bundle = check(project, signer=load_signer(keys[0], {})).bundle
    report = verify_bundle(bundle, trust=trust_from_settings(None, None, keys=[keys[1]], require_signature=True))
    rel = build_release(bundle, report, served_model="qwen", env="prod", now=NOW)
    assert (rel.model, rel.version, rel.signature, rel.status) == ("credit-approval", "1.2.0", "verified", "pass")
    assert rel.run == bundle.name and rel.evidence_created_at == format_time(1700000000)
    risk = json.loads((bundle / "risk.json").read_text())
    assert rel.risk_score == risk["max_residual"] and rel.ai_act_class == risk["ai_act"]["classification"]
    assert rel.risk_level == max(
        (k for k, v in risk["residual_levels"].items() if v), key=["low", "medium", "high", "critical"].index
    )
    bias = json.loads((bundle / "bias.json").read_text())
    assert rel.fairness["sex"]["equalized_odds_difference"] == bias["sex"]["equalized_odds_difference"]
    assert set(rel.fairness) == {*bias["attributes"], "worst"}
    assert rel.llm_eval_failure_rates == {}  # no llm_eval stage in this bundle
    # round trip through the file format the gateway reads
    assert Release.from_json(rel.to_json()) == rel
    done = write_release(rel, project / "releases" / "prod.json")
    again = write_release(rel, project / "releases" / "prod.json")
    lines = done.history.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["version"] == "1.2.0" and again.path == done.path


def test_unsigned_changed_and_failing_evidence_cannot_be_released(project: Path, keys):
    unsigned = check(project).bundle
    required = trust_from_settings(None, None, keys=[keys[1]], require_signature=True)
    with pytest.raises(EvidenceMismatch, match="not signed"):
        build_release(unsigned, verify_bundle(unsigned, trust=required), served_model="m", env="prod", now=NOW)
    signed = check(project, signer=load_signer(keys[0], {})).bundle
    (signed / "risk.json").write_text((signed / "risk.json").read_text().replace("4.5", "0.5"))
    with pytest.raises(EvidenceMismatch, match="risk.json"):
        build_release(signed, verify_bundle(signed, trust=required), served_model="m", env="prod", now=NOW)
    failing = check(project, signer=load_signer(keys[0], {}), min_group_size=100000).bundle
    report = verify_bundle(failing, trust=required)
    if report.status == "pass":  # the example passes with any group size: make a rule fail another way
        pytest.skip("could not make the example fail")
    with pytest.raises(PolicyViolation):
        build_release(failing, report, served_model="m", env="prod", now=NOW)


def test_llm_evaluation_failure_rates_come_from_the_bundles_llm_eval_artefact(tmp_path: Path, keys):
    """Read only through the evidence bundle: llm_eval.json's failure_rates, hashed and signed like the rest."""
    results = {"fail_on": "error", "model": {"name": "chat", "version": "3.0.0"}, "status": "pass",
               "rules": {"passed": 2, "failed": 0, "total": 2, "warnings": 0}, "results": []}  # fmt: skip
    llm = {"failure_rates": {"unsafe_compliance": 0.04, "pii_echo": 0.0, "ungrounded": None}}
    arte = {"results.json": json.dumps(results).encode(), "llm_eval.json": json.dumps(llm).encode()}
    manifest = build_manifest(
        arte, inputs={}, policy={}, model={"name": "chat", "version": "3.0.0"}, status="pass", summary=results["rules"],
        llmops_version="t", git=GitState(None, None), created_at=format_time(NOW - 10),
    )  # fmt: skip
    run = write_run(
        tmp_path / "evidence", {"name": "chat", "version": "3.0.0"}, arte, manifest, load_signer(keys[0], {})
    )
    report = verify_bundle(run.path, trust=trust_from_settings(None, None, keys=[keys[1]]))
    rel = build_release(run.path, report, served_model="chat", env="dev", now=NOW)
    assert rel.llm_eval_failure_rates == {"unsafe_compliance": 0.04, "pii_echo": 0.0}
    assert rel.risk_score is None and rel.fairness == {}


@given(doc=st.fixed_dictionaries({"promoted_at": st.sampled_from(["2026-01-01T00:00:00", "x", "", None])}))
@hsettings(max_examples=10)
def test_timestamps_without_a_zone_or_malformed_are_refused(doc):
    from tests.riskfixtures import release_record

    data = {**release_record().to_dict(), **doc}
    with pytest.raises(FormatError, match="promoted_at"):
        Release.from_dict(data)


# ----------------------------------------------------------------------------------------- payloads
def _payload(*, status="firing", alerts=None, group_key='{}:{alertname="X"}') -> dict:
    alerts = alerts or [_alert()]
    return {
        "version": "4", "groupKey": group_key, "truncatedAlerts": 0, "status": status, "receiver": "llmops-incidents",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "alerts": alerts,
    }  # fmt: skip


def _alert(name="ModelRedactionRatioHigh", severity="warning", status="firing", starts="2026-12-01T10:00:00.5Z",
           ends="0001-01-01T00:00:00Z", fingerprint="f1", **labels) -> dict:  # fmt: skip
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "model": "m", "model_version": "1", **labels},
        "annotations": {"summary": "s", "description": "d"},
        "startsAt": starts, "endsAt": ends, "generatorURL": "", "fingerprint": fingerprint,
    }  # fmt: skip


@given(
    key=st.sampled_from(["version", "alerts", "receiver", "groupKey"]),
    bad=st.sampled_from([None, 3, "", [], {}]),
)
@hsettings(max_examples=30)
def test_a_malformed_payload_is_refused_naming_the_field(key, bad):
    doc = _payload()
    doc[key] = bad
    if key in ("receiver", "groupKey") and bad == "":
        parse_notification(doc)  # empty strings are strings
        return
    with pytest.raises(FormatError) as e:
        parse_notification(doc)
    assert key in str(e.value)


def test_a_firing_alert_has_the_zero_time_as_its_end():
    n = parse_notification(_payload())
    assert n.alerts[0].ends_at is None and n.firing


# ----------------------------------------------------------------------------------------- incidents
def _opts(tmp_path: Path, now: float = NOW, **kw) -> OpenOptions:
    return OpenOptions(
        incidents_dir=tmp_path / "incidents",
        review_within={"critical": 2 * 86400, "warning": 10 * 86400, "info": 30 * 86400},
        now=now,
        **kw,
    )


def test_opening_is_idempotent_per_alert_group_and_firing(tmp_path):
    n = parse_notification(_payload())
    first = open_incident(n, _opts(tmp_path))
    assert first.created and first.record["review"]["due"] == format_time(NOW + 10 * 86400)
    assert first.record["reporting"]["eu_ai_act"]["serious_incident_candidate"] is False
    again = open_incident(n, _opts(tmp_path, NOW + 300))
    assert not again.created and again.record["id"] == first.record["id"]
    # a critical alert joins the group: severity rises, still one incident
    worse = parse_notification(_payload(alerts=[_alert(), _alert("ModelErrorRatioHigh", "critical", fingerprint="f2")]))
    up = open_incident(worse, _opts(tmp_path, NOW + 600))
    assert up.record["severity"] == "critical" and len(up.record["detection"]["alerts"]) == 2
    index = IncidentIndex.from_json((tmp_path / "incidents" / "index.json").read_text())
    assert [(e.id, e.state, e.severity) for e in index.incidents] == [(first.record["id"], "open", "critical")]
    # the same group firing again later is a new incident
    later = parse_notification(_payload(alerts=[_alert(starts="2026-12-05T00:00:00Z")]))
    assert open_incident(later, _opts(tmp_path, NOW + 9000)).created


def test_a_resolved_notification_notes_the_end_on_the_open_incident(tmp_path):
    open_incident(parse_notification(_payload()), _opts(tmp_path))
    resolved = _payload(status="resolved", alerts=[_alert(status="resolved", ends="2026-12-01T11:00:00Z")])
    out = open_incident(parse_notification(resolved), _opts(tmp_path, NOW + 60))
    assert out.record["resolved_at"] == "2026-12-01T11:00:00Z"
    assert {"at": "2026-12-01T11:00:00Z", "event": "the alerts resolved (Alertmanager)"} in out.record["timeline"]
    nothing = open_incident(
        parse_notification(_payload(status="resolved", alerts=[_alert(status="resolved")], group_key="other")),
        _opts(tmp_path),
    )
    assert nothing.record is None and "nothing to do" in nothing.note


def test_incident_ids_are_stable_and_well_formed():
    @given(key=st.text(max_size=40), second=st.integers(0, 59))
    def prop(key, second):
        starts = f"2026-12-01T10:00:{second:02d}Z"
        iid = incident_id(key, starts)
        assert iid == incident_id(key, starts) and iid.startswith("INC-20261201-") and len(iid) == 21

    prop()


def test_the_review_must_be_written_before_the_incident_closes(tmp_path):
    out = open_incident(parse_notification(_payload()), _opts(tmp_path))
    iid = out.record["id"]
    with pytest.raises(UsageError, match="no post-incident review"):
        close_incident(tmp_path / "incidents", iid, reviewer="r", resolution="x", now=NOW)
    path, written = write_postmortem(tmp_path / "incidents", iid)
    assert written and not write_postmortem(tmp_path / "incidents", iid)[1]  # people's text is kept
    text = path.read_text()
    assert unfilled_sections(text) == [
        "Root cause",
        "Impact",
        "Corrective and preventive actions",
        "Lessons learned",
        "Reporting",
    ]
    partly = text.replace("<!-- write here -->", "done.", 2)
    path.write_text(partly)
    with pytest.raises(UsageError, match="Lessons learned"):
        close_incident(tmp_path / "incidents", iid, reviewer="r", resolution="x", now=NOW)
    path.write_text(text.replace("<!-- write here -->", "done."))
    with pytest.raises(UsageError, match="must not be empty"):
        close_incident(tmp_path / "incidents", iid, reviewer=" ", resolution="x", now=NOW)
    rec, _ = close_incident(tmp_path / "incidents", iid, reviewer="r", resolution="fixed", now=NOW + 5,
                            actions=["policy tightened"], reported_at="2026-12-02T00:00:00Z")  # fmt: skip
    assert rec["state"] == "closed" and rec["review"]["postmortem_sha256"]
    assert rec["reporting"]["eu_ai_act"]["reported_at"] == "2026-12-02T00:00:00Z"
    with pytest.raises(UsageError, match="already closed"):
        close_incident(tmp_path / "incidents", iid, reviewer="r", resolution="x", now=NOW)


@given(
    records=st.lists(
        st.tuples(st.integers(0, 3600), st.sampled_from(["k1", "k2", None]), st.sampled_from([200, 400, 502]),
                  st.integers(0, 3)),
        max_size=40,
    ),
    lo=st.integers(0, 3600),
    span=st.integers(0, 3600),
)  # fmt: skip
@hsettings(max_examples=40, deadline=None)
def test_the_audit_window_counts_exactly_the_records_inside_it(records, lo, span):
    import tempfile

    base = 1_790_000_000
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "audit.jsonl"
        lines = []
        for i, (offset, key, status, redacted) in enumerate(records):
            rec = {"time": format_time(base + offset), "request_id": f"r{i}", "key_id": key, "model": "m",
                   "status": status, "decisions": [{"rule": "pii.output.email", "action": "redact"}
                                                    | ({"count": redacted} if redacted > 1 else {})] if redacted else [],
                   "completion": "secret text"}  # fmt: skip
            lines.append(json.dumps(rec))
        log.write_text("\n".join([*lines, "{broken"]) + "\n")
        win = read_window(log, base + lo, base + lo + span).to_dict()
    inside = [r for r in records if lo <= r[0] <= lo + span]
    assert win["requests"] == len(inside)
    assert win["clients"] == len({r[1] for r in inside if r[1]})
    assert win["actions"].get("redact", 0) == sum(r[3] for r in inside)
    assert win["unreadable_lines"] == 1
    assert "secret text" not in json.dumps(win)


# ----------------------------------------------------------------------------------------- review time
def test_review_time_is_governance_over_the_release_cycle(tmp_path):
    ev = tmp_path / "evidence"
    ev.mkdir()
    h = 3600
    runs = [("1.0.0", 0, "pass"), ("1.1.0", 100 * h, "fail"), ("1.1.0", 104 * h, "pass"), ("1.2.0", 200 * h, "pass")]
    (ev / "index.json").write_text(json.dumps({"index_version": 1, "runs": [
        {"model": "m", "version": v, "created_at": format_time(NOW + t), "status": s, "path": f"m/{v}/{i}"}
        for i, (v, t, s) in enumerate(runs)]}))  # fmt: skip
    history = tmp_path / "history.jsonl"
    promos = [("1.0.0", 1 * h), ("1.1.0", 106 * h), ("1.2.0", 201 * h)]
    history.write_text("".join(json.dumps({"model": "m", "version": v, "env": "prod",
                                           "promoted_at": format_time(NOW + t)}) + "\n" for v, t in promos))  # fmt: skip
    rt = review_time(ev, history)
    d = rt.to_dict()
    by = {v["version"]: v for v in d["versions"]}
    assert by["1.0.0"]["share"] is None  # first release: no cycle to measure
    assert by["1.1.0"]["governance_hours"] == 6 and by["1.1.0"]["cycle_hours"] == 105
    assert by["1.1.0"]["checking_hours"] == 4 and by["1.1.0"]["waiting_hours"] == 2
    assert by["1.2.0"]["share"] == round(1 / 95, 4)
    assert d["share"] == pytest.approx(7 / 200, abs=1e-4) and d["within_target"] is True
    history.write_text(history.read_text() + "not json\n")
    with pytest.raises(InputError, match="history.jsonl:4"):
        review_time(ev, history)


def test_parse_time_reads_rfc3339_with_fractions_and_offsets():
    assert parse_time("2026-12-01T10:00:00.563Z", "t") == pytest.approx(parse_time("2026-12-01T10:00:00Z", "t") + 0.563)
    assert parse_time("2026-12-01T12:00:00+02:00", "t") == parse_time("2026-12-01T10:00:00Z", "t")
    assert time.time() > parse_time(format_time(time.time() - 5), "t")
