"""Wiring of `govern release`, `govern incident ...`, `govern review-time` and `gateway serve --release/--incidents`:
each flag reaches the core function, bad input is a one-line error with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmops_cli.riskdata import Release
from tests.govern.conftest import copy_example
from tests.helpers import run_cli

PAYLOAD = {
    "version": "4", "groupKey": "{}:{alertname=\"ModelErrorRatioHigh\"}", "truncatedAlerts": 0, "status": "firing",
    "receiver": "llmops-incidents", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
    "externalURL": "http://am", "alerts": [{
        "status": "firing", "labels": {"alertname": "ModelErrorRatioHigh", "severity": "critical", "model": "m",
                                       "model_version": "1", "served_model": "s"},
        "annotations": {"summary": "errors"}, "startsAt": "2026-12-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "", "fingerprint": "abc"}],
}  # fmt: skip


@pytest.fixture
def signed_project(tmp_path: Path) -> tuple[Path, Path]:
    project = copy_example(tmp_path)
    key = tmp_path / "k.key"
    assert run_cli("govern", "keygen", "--out", str(key)).exit_code == 0
    r = run_cli("govern", "check", "--project", str(project), "--sign-key", str(key))
    assert r.exit_code == 0, r.output
    return project, key.with_name("k.key.pub")


def test_release_writes_the_record_where_settings_say_and_refuses_untrusted_evidence(signed_project):
    project, pub = signed_project
    bundle = project / "evidence" / "credit-approval" / "1.2.0"
    untrusted = run_cli("govern", "release", str(bundle), "--env", "prod", "--project", str(project))
    assert untrusted.exit_code == 1 and "does not verify" in untrusted.stderr
    r = run_cli("govern", "release", str(bundle), "--env", "prod", "--project", str(project), "--key", str(pub),
                "--served-model", "chat", "-o", "json")  # fmt: skip
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)["data"]
    assert data["record"] == str(project / "releases" / "prod.json")
    rel = Release.from_json((project / "releases" / "prod.json").read_text())
    assert rel.served_model == "chat" and rel.env == "prod" and rel.signature == "verified"
    out = project / "elsewhere.json"
    r = run_cli("govern", "release", str(bundle), "-e", "dev", "--project", str(project), "--key", str(pub),
                "--out", str(out))  # fmt: skip
    assert r.exit_code == 0 and Release.from_json(out.read_text()).env == "dev"
    assert "stacks.gateway.release_file" in r.stderr
    bad = run_cli("govern", "release", str(bundle), "--env", "staging", "--project", str(project), "--key", str(pub))
    assert bad.exit_code == 2 and "unknown environment 'staging'" in bad.stderr


def test_incident_open_reads_stdin_and_bad_payloads_are_one_line_errors(workdir: Path):
    r = run_cli("govern", "incident", "open", "-", "-o", "json", input=json.dumps(PAYLOAD))
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)["data"]["incident"]
    assert rec["severity"] == "critical" and (workdir / "incidents" / f"{rec['id']}.json").is_file()
    bad = run_cli("govern", "incident", "open", "-", input=json.dumps({**PAYLOAD, "version": "3"}))
    assert bad.exit_code == 2 and "version" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    missing = run_cli("govern", "incident", "open", str(workdir / "nope.json"))
    assert missing.exit_code == 2 and "nope.json" in missing.stderr
    lookback = run_cli("govern", "incident", "open", "-", "--lookback", "soon", input=json.dumps(PAYLOAD))
    assert lookback.exit_code == 2 and "--lookback" in lookback.stderr


def test_incident_list_exits_1_while_a_review_is_overdue(workdir: Path):
    (workdir / "llmops.yaml").write_text("version: 1\ngovernance:\n  runtime:\n    review_within: {critical: 1s}\n")
    assert run_cli("govern", "incident", "open", "-", input=json.dumps(PAYLOAD)).exit_code == 0
    import time

    time.sleep(1.2)
    r = run_cli("govern", "incident", "list", "--overdue", "-o", "json")
    assert r.exit_code == 1
    env = json.loads(r.stdout)
    assert env["status"] == "overdue" and len(env["data"]) == 1 and env["data"][0]["overdue"] is True
    iid = env["data"][0]["id"]
    bad = run_cli("govern", "incident", "report", "not-an-id")
    assert bad.exit_code == 2 and "not an incident id" in bad.stderr
    r = run_cli("govern", "incident", "report", iid, "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["data"]["written"] is True
    assert run_cli("govern", "incident", "close", iid, "--reviewer", "r", "--resolution", "x").exit_code == 2


def test_review_time_reports_against_the_target(workdir: Path):
    (workdir / "evidence").mkdir()
    (workdir / "evidence" / "index.json").write_text(json.dumps({"index_version": 1, "runs": [
        {"model": "m", "version": "1", "created_at": "2026-01-01T00:00:00Z", "status": "pass"},
        {"model": "m", "version": "2", "created_at": "2026-01-10T00:00:00Z", "status": "pass"}]}))  # fmt: skip
    (workdir / "releases").mkdir()
    (workdir / "releases" / "history.jsonl").write_text(
        '{"model": "m", "version": "1", "env": "prod", "promoted_at": "2026-01-01T01:00:00Z"}\n'
        '{"model": "m", "version": "2", "env": "prod", "promoted_at": "2026-01-11T01:00:00Z"}\n'
    )
    r = run_cli("govern", "review-time", "-o", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)["data"]
    # version 2: first check 24 h before its promotion... 25 h of a 240 h cycle
    assert data["share"] == pytest.approx(25 / 240, abs=1e-4) and data["within_target"] is True
    human = run_cli("govern", "review-time", "--env", "prod")
    assert "m 2 (prod)" in human.stdout and "target of < 20%" in human.stderr
    none = run_cli("govern", "review-time", "--history", str(workdir / "missing.jsonl"))
    assert none.exit_code == 2 and "no promotion history" in none.stderr
