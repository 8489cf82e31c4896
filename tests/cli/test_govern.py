"""`llmops govern ...` wiring: flags reach the core, -o json envelopes, exit codes, CI output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.govern.conftest import copy_example
from tests.govern.test_check import default_rule_count, total_rule_count
from tests.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
BUNDLE = ("evidence", "credit-approval", "1.2.0")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_example(tmp_path)


def run_folder(project: Path) -> Path:
    """The newest run of the example model's version folder."""
    from llmops_cli.govern.evidence import resolve_bundle

    return resolve_bundle(project.joinpath(*BUNDLE))


def envelope(stdout: str) -> dict:
    data = json.loads(stdout)
    assert data["llmops_result_version"] == "1"
    return data


def test_help_lists_every_subcommand_and_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom llmops_cli.__main__ import main\n"
        "rc = main(['govern', '--help'])\n"
        "heavy = [m for m in ('numpy', 'pandas', 'pyarrow', 'celpy', 'yaml', 'fairlearn', 'cryptography', 'sigstore')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\nsys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    for name in (
        "init",
        "check",
        "verify",
        "keygen",
        "data-quality",
        "data-card",
        "bias-scan",
        "explain",
        "model-card",
        "risk-scorecard",
    ):
        assert name in out.stdout
    assert "HEAVY []" in out.stdout


def test_check_example_project_text(project: Path) -> None:
    r = run_cli("govern", "check", "--project", str(project))
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert f"PASS: {default_rule_count() - 2} passed, 0 failed, 2 warnings" in r.stderr
    assert "evidence coverage: 19/19 lifecycle artefacts" in r.stderr
    assert (run_folder(project) / "manifest.json").is_file()


def test_check_json_envelope_and_junit(project: Path, tmp_path: Path) -> None:
    junit = tmp_path / "out" / "governance.xml"
    evidence = tmp_path / "ev"
    r = run_cli(
        "govern",
        "check",
        "--project",
        str(project),
        "--evidence-dir",
        str(evidence),
        "--junit",
        str(junit),
        "-o",
        "json",
    )
    assert r.exit_code == 0, r.output
    env = envelope(r.stdout)
    assert env["command"] == "govern check" and env["status"] == "ok"
    n = default_rule_count()
    assert env["data"]["rules"]["passed"] == n - 2 and env["data"]["rules"]["warnings"] == 2
    assert env["data"]["bundle"] == str(evidence / "credit-approval" / "1.2.0" / env["data"]["run"])
    assert env["data"]["coverage"]["present"] == 19
    suite = ET.parse(junit).getroot().find("testsuite")
    idle = total_rule_count() - n  # the opt-in llm_eval stage's rules: skipped testcases without an endpoint
    assert idle > 0 and suite.get("skipped") == str(idle)
    assert suite.get("tests") == str(n + idle) and suite.get("failures") == "0"
    assert len(suite.findall(".//testcase")) == n + idle
    assert len(suite.findall(".//testcase/skipped")) == idle


def _strict_policy(project: Path) -> None:
    (project / "policies").mkdir()
    (project / "policies" / "governance.yaml").write_text(
        "rules:\n"
        "  - id: strict-parity\n    stage: bias\n    expr: bias.sex.demographic_parity_ratio >= 0.99\n"
        "    severity: error\n    controls: [nist-ai-rmf:MEASURE 2.11]\n    message: parity too low\n"
        "  - id: more-data\n    stage: data_quality\n    expr: data_quality.rows > 1000000\n"
        "    severity: warning\n    message: more data wanted\n"
    )


def test_check_failure_exits_4_with_junit_failure(project: Path, tmp_path: Path) -> None:
    _strict_policy(project)
    junit = tmp_path / "j.xml"
    r = run_cli("govern", "check", "--project", str(project), "--junit", str(junit))
    assert r.exit_code == 4, r.output
    assert "1 governance rule(s) failed: strict-parity" in r.stderr
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    assert cases["strict-parity"].find("failure") is not None
    assert cases["more-data"].find("failure") is None


def test_check_failure_json_exits_4(project: Path) -> None:
    _strict_policy(project)
    r = run_cli("govern", "check", "--project", str(project), "-o", "json")
    assert r.exit_code == 4, r.output
    env = envelope(r.stdout)
    assert env["status"] == "fail"
    assert env["errors"] == [{"code": "policy_violation", "message": "strict-parity: parity too low"}]


def test_fail_on_warning_flag(project: Path) -> None:
    (project / "policies").mkdir()
    (project / "policies" / "governance.yaml").write_text(
        "rules:\n  - id: more-data\n    stage: data_quality\n    expr: data_quality.rows > 1000000\n"
        "    severity: warning\n    message: more data wanted\n"
    )
    assert run_cli("govern", "check", "--project", str(project)).exit_code == 0
    r = run_cli("govern", "check", "--project", str(project), "--fail-on", "warning")
    assert r.exit_code == 4, r.output
    assert run_cli("govern", "check", "--project", str(project), "--fail-on", "maybe").exit_code == 2


def test_github_actions_annotations_and_step_summary(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _strict_policy(project)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    r = run_cli("govern", "check", "--project", str(project))
    assert r.exit_code == 4
    assert "::error file=policies/governance.yaml,line=2,title=governance%3A strict-parity::parity too low" in r.stdout
    assert "::warning file=policies/governance.yaml,line=8" in r.stdout
    assert "# Governance check: credit-approval 1.2.0" in summary.read_text()


def test_policy_naming_unknown_metric_exits_2_with_line(project: Path) -> None:
    (project / "policies").mkdir()
    (project / "policies" / "governance.yaml").write_text(
        "rules:\n  - id: typo\n    stage: bias\n    expr: bias.worst.parity >= 0.8\n    message: m\n"
    )
    r = run_cli("govern", "check", "--project", str(project))
    assert r.exit_code == 2, r.output
    assert "policies/governance.yaml:4" in r.stderr and "'bias.worst.parity'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 or "Traceback" not in r.stderr
    assert not (project / "evidence").exists()


def test_verify_ok_then_tampered_exits_1(project: Path) -> None:
    assert run_cli("govern", "check", "--project", str(project)).exit_code == 0
    version_folder = project.joinpath(*BUNDLE)
    r = run_cli("govern", "verify", str(version_folder), "--project", str(project))
    assert r.exit_code == 0, r.output
    assert "ok: PASS · 18 artefacts, 16 inputs match" in r.stderr and "UNSIGNED" in r.stderr
    r = run_cli("govern", "verify", str(version_folder), "--require-signature")
    assert r.exit_code == 1 and "not signed" in r.stderr
    bundle = run_folder(project)
    with (bundle / "model_card.md").open("a") as fh:
        fh.write("tampered\n")
    r = run_cli("govern", "verify", str(bundle))
    assert r.exit_code == 1
    assert "changed: model_card.md" in r.stderr
    r = run_cli("govern", "verify", str(bundle), "-o", "json")
    assert r.exit_code == 1
    assert envelope(r.stdout)["data"]["changed"] == ["model_card.md"]


def test_keygen_sign_and_verify_with_the_key(project: Path, tmp_path: Path) -> None:
    key = tmp_path / "k" / "signing.key"
    r = run_cli("govern", "keygen", "--out", str(key))
    assert r.exit_code == 0, r.output
    assert "key id" in r.stderr and key.stat().st_mode & 0o777 == 0o600
    r = run_cli("govern", "check", "--project", str(project), "--sign-key", str(key))
    assert r.exit_code == 0, r.output
    assert "(signed by key:" in r.stderr
    r = run_cli("govern", "verify", str(project.joinpath(*BUNDLE)), "--key", str(key) + ".pub", "--require-signature")
    assert r.exit_code == 0, r.output
    assert "signed by key:" in r.stderr
    r = run_cli("govern", "verify", str(project.joinpath(*BUNDLE)), "--require-signature", "-o", "json")
    assert r.exit_code == 1
    assert "no trusted public key" in envelope(r.stdout)["data"]["signature_problem"]


def test_check_runs_ad_hoc_without_llmops_yaml(project: Path, workdir: Path) -> None:
    """The bias-scan flags work on `check` without a project file; missing inputs are named at once."""
    data = str(project / "data" / "loans.csv")
    r = run_cli("govern", "check", "--data", data, "--sensitive", "sex")
    assert r.exit_code == 2
    [line] = [x for x in r.stderr.splitlines() if "missing inputs" in x]
    for flag in ("--label", "--prediction", "--model", "--register"):
        assert flag in line
    help_text = run_cli("govern", "check", "--help").stdout
    for flag in re.findall(r"--[a-z][a-z-]+", r.stderr):
        assert flag in help_text, flag  # never a flag `check` does not have
    policy = workdir / "bias.yaml"
    policy.write_text(
        "rules:\n  - id: parity\n    stage: bias\n    expr: bias.worst.demographic_parity_ratio >= 0.8\n"
        "    message: parity\n"
    )
    r = run_cli(
        "govern", "check", "--data", data, "--label", "approved", "--prediction", "predicted",
        "--sensitive", "sex", "--positive", "1", "--policies", str(policy), "-o", "json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    d = envelope(r.stdout)["data"]
    assert d["rules"]["passed"] == 1 and d["model"] == {"name": "unnamed-model", "version": "unversioned"}
    assert Path(d["bundle"]).is_relative_to(workdir / "evidence")


def test_govern_init_scaffolds_validated_documents(project: Path) -> None:
    shutil.rmtree(project / "governance")
    r = run_cli("govern", "init", "--project", str(project))
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (project / "governance").iterdir())
    assert names == ["incident_sop.md", "principles.yaml", "raci.yaml", "risk_appetite.yaml"]
    assert "credit-approval" in (project / "governance" / "principles.yaml").read_text()
    r = run_cli("govern", "init", "--project", str(project))
    assert r.exit_code == 2 and "--force" in r.stderr
    r = run_cli("govern", "check", "--project", str(project), "-o", "json")
    assert r.exit_code == 0, r.output
    cov = envelope(r.stdout)["data"]["coverage"]
    states = {a["id"]: a for phase in cov["phases"].values() for a in phase}
    for doc in ("ethical_principles", "risk_appetite", "accountability_matrix", "incident_sop"):
        assert states[doc]["state"] == "incomplete", doc  # TODO marks left
        assert "TODO" in states[doc]["note"] or "empty" in states[doc]["note"] or "nobody" in states[doc]["note"]
    (project / "governance" / "raci.yaml").write_text("roles: {a: x}\nactivities: {do: {a: R}}\n")
    r = run_cli("govern", "check", "--project", str(project))
    assert r.exit_code == 2 and "raci.yaml:2" in r.stderr and "exactly one Accountable" in r.stderr


def test_verify_not_a_bundle_exits_2(tmp_path: Path) -> None:
    r = run_cli("govern", "verify", str(tmp_path))
    assert r.exit_code == 2 and "manifest not found" in r.stderr


def test_bias_scan_flags_reach_the_core(project: Path) -> None:
    data = project / "data" / "loans.csv"
    r = run_cli(
        "govern",
        "bias-scan",
        "--data",
        str(data),
        "--label",
        "approved",
        "--prediction",
        "predicted",
        "--sensitive",
        "sex",
        "--privileged",
        "sex=female",
        "--min-group-size",
        "500",
        "--bootstrap",
        "50",
        "--seed",
        "3",
        "-o",
        "json",
    )
    assert r.exit_code == 0, r.output
    d = envelope(r.stdout)["data"]
    assert d["attributes"] == ["sex"] and d["min_group_size"] == 500
    assert "bootstrap" not in d  # --bootstrap/--seed are deprecated and ignored: intervals are always given
    assert d["intervals"]["confidence"] == 0.95 and "low" in d["sex"]["ci"]["demographic_parity_ratio"]
    assert d["sex"]["privileged"] == "female"
    assert "ethnicity" not in d


def test_bias_scan_reads_llmops_yaml_and_prints_markdown(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    r = run_cli("govern", "bias-scan", "--bootstrap", "0")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("# Bias scan") and "## sex × ethnicity" in r.stdout
    assert "Bootstrap" not in r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--label", "nope"], "missing column(s) 'nope'; available: applicant_id, age, sex"),
        (["--label", "sex"], "label column 'sex' is not 0/1"),
        (["--sensitive", "approved", "--label", "approved"], None),
        (["--data", "x.txt"], "unknown file type '.txt'"),
    ],
)
def test_bias_scan_bad_input_exits_2(
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    needle: str | None,
) -> None:
    monkeypatch.chdir(project)
    r = run_cli("govern", "bias-scan", *args)
    if needle is None:
        assert r.exit_code == 0, r.output
        return
    assert r.exit_code == 2, r.output
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_bias_scan_without_config_names_the_flag(workdir: Path) -> None:
    r = run_cli("govern", "bias-scan")
    assert r.exit_code == 2
    assert "missing: a dataset (--data or governance.inputs.data)" in r.stderr


def test_data_quality_and_data_card(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    r = run_cli("govern", "data-quality", "-o", "json")
    assert r.exit_code == 0, r.output
    d = envelope(r.stdout)["data"]
    assert d["rows"] == 2000 and d["schema_violation_count"] == 0 and d["pii_column_count"] == 0
    r = run_cli("govern", "data-card")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("# Data card: synthetic-loans") and "CC0-1.0" in r.stdout
    r = run_cli("govern", "data-card", "-o", "json")
    assert (
        envelope(r.stdout)["data"]["sha256"]
        == __import__("hashlib").sha256((project / "data/loans.csv").read_bytes()).hexdigest()
    )


def test_model_card_and_missing_fields(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    r = run_cli("govern", "model-card")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("---\n") and "model_name: credit-approval" in r.stdout
    (project / "thin.yaml").write_text("name: thin\nversion: '1'\n")
    r = run_cli("govern", "model-card", "--model", "thin.yaml", "-o", "json")
    d = envelope(r.stdout)["data"]
    assert d["complete"] is False and "intended_use" in d["missing_required"]


def test_risk_scorecard(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    r = run_cli("govern", "risk-scorecard", "-o", "json")
    assert r.exit_code == 0, r.output
    d = envelope(r.stdout)["data"]
    assert d["ai_act"]["classification"] == "high-risk"
    assert d["ai_act"]["article"] == "Art. 6(2), Annex III(5)(b)"
    r = run_cli("govern", "risk-scorecard")
    assert "## Heat map" in r.stdout


def test_settings_fail_on_reach_check_and_bootstrap_flags_are_accepted(project: Path) -> None:
    (project / "policies").mkdir()
    (project / "policies" / "governance.yaml").write_text(
        "rules:\n  - id: more-data\n    stage: data_quality\n    expr: data_quality.rows > 1000000\n"
        "    severity: warning\n    message: more data wanted\n"
    )
    text = (
        (project / "llmops.yaml")
        .read_text()
        .replace("  min_group_size: 30\n", "  min_group_size: 30\n  fail_on: warning\n")
    )
    (project / "llmops.yaml").write_text(text)
    r = run_cli("govern", "check", "--project", str(project), "--bootstrap", "20", "--seed", "5", "-o", "json")
    assert r.exit_code == 4, r.output
    assert envelope(r.stdout)["data"]["fail_on"] == "warning"
    bias = json.loads((run_folder(project) / "bias.json").read_text())
    assert "bootstrap" not in bias and bias["intervals"]["confidence"] == 0.95


def test_check_uses_config_flag_and_its_folder(project: Path, workdir: Path) -> None:
    r = run_cli("--config", str(project / "llmops.yaml"), "govern", "check", "-o", "json")
    assert r.exit_code == 0, r.output
    assert envelope(r.stdout)["data"]["bundle"] == str(run_folder(project))
