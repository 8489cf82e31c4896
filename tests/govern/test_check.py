"""`run_check` and evidence bundles: stages, rules, manifest, atomic writes, determinism, verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmops_cli.config.load import load_settings
from llmops_cli.errors import ConfigError, InputError
from llmops_cli.govern.api import GovernInputs, governance_flags, inputs_from, run_check, verify
from llmops_cli.govern.evidence import INDEX, MANIFEST, EvidenceMismatch, read_index, read_manifest, write_run
from llmops_cli.govern.io import sha256_file

ARTEFACTS = {
    "lifecycle.json",
    "privacy.json",
    "privacy.md",
    "bias.json",
    "bias.md",
    "data_card.json",
    "data_card.md",
    "data_quality.json",
    "data_quality.md",
    "explain.json",
    "explain.md",
    "junit.xml",
    "model_card.json",
    "model_card.md",
    "results.json",
    "risk.json",
    "risk_scorecard.md",
    "summary.md",
}


def inputs_for(project: Path, **flags) -> GovernInputs:
    """Inputs as the CLI builds them: flags take the settings route (validated with the file)."""
    loaded = load_settings(project / "llmops.yaml", environ={}, flags=governance_flags(**flags))
    return inputs_from(loaded.settings, project, config_file=project / "llmops.yaml")


def check(project: Path, **kw):
    env = kw.pop("environ", {"SOURCE_DATE_EPOCH": "1700000000"})
    return run_check(
        inputs_for(project, **kw.pop("overrides", {})), evidence_dir=project / "evidence", environ=env, **kw
    )


def default_rule_count() -> int:
    """The default rules that apply without an LLM endpoint (the llm_eval stage is opt-in)."""
    from llmops_cli.govern.policy import load_policies
    from llmops_cli.resources import policies_dir

    return sum(r.stage != "llm_eval" for r in load_policies(policies_dir() / "governance.yaml").rules)


def total_rule_count() -> int:
    from llmops_cli.govern.policy import load_policies
    from llmops_cli.resources import policies_dir

    return len(load_policies(policies_dir() / "governance.yaml").rules)


WARNINGS = {"ai-act-obligations-evidenced", "controls-evidenced"}  # the example has no conformity assessment yet


def test_example_project_fails_on_the_missing_fria_until_one_is_provided(tmp_path: Path) -> None:
    """Credit scoring (Annex III(5)(b)) by a deployer needs a fundamental rights impact assessment (Art. 27):
    the example used to pass 13/13 without one."""
    from tests.govern.conftest import copy_example, provide_fria

    project = copy_example(tmp_path, fria=False)
    report = check(project)
    assert report.status == "fail"
    assert [r.id for r in report.results if r.failed()] == ["fundamental-rights-impact-assessment"]
    risk = json.loads((report.bundle / "risk.json").read_text())["ai_act"]
    assert (
        risk["classification"] == "high-risk"
        and risk["fria_required"]
        and risk["annex_iii_points"] == ["essential_services.creditworthiness"]
    )
    template = (project / "ai_act.yaml").read_text().replace("# fria: fria.yaml", "fria: fria.template.yaml")
    (project / "ai_act.yaml").write_text(template)
    assert check(project).status == "fail"  # the template's "TBD" answers are not an assessment
    (project / "ai_act.yaml").write_text(template.replace("fria: fria.template.yaml", "# fria: fria.yaml"))
    provide_fria(project)
    report = check(project)
    assert report.status == "pass"
    assert {r.id for r in report.results if r.outcome != "pass"} == WARNINGS


def test_example_project_passes_and_writes_the_bundle(project: Path) -> None:
    report = check(project)
    assert report.status == "pass", [r for r in report.results if r.outcome != "pass"]
    bundle = project / "evidence" / "credit-approval" / "1.2.0" / report.run
    assert report.bundle == bundle and len(report.run) == 16
    assert {p.name for p in bundle.iterdir()} == ARTEFACTS | {MANIFEST}
    m = read_manifest(bundle)
    assert set(m["artefacts"]) == ARTEFACTS
    for name, entry in m["artefacts"].items():
        assert entry["sha256"] == sha256_file(bundle / name)
    assert m["inputs"]["data"] == {
        "file": "data/loans.csv",
        "sha256": sha256_file(project / "data/loans.csv"),
    }
    assert set(m["inputs"]) == {
        "data",
        "data_card",
        "model",
        "risk_register",
        "ai_act",
        "attributions",
        "config",
        "doc:ethical_principles",
        "doc:risk_appetite",
        "doc:accountability_matrix",
        "doc:incident_sop",
        # the files the risk register and the AI Act answers name (evidence files already recorded under their
        # own key, like model.yaml for Art. 11, appear once)
        "evidence:ci/governance.yml",
        "evidence:docs/credit-review-procedure.md",
        "evidence:docs/ai-literacy.md",
        "fria:fria.yaml",
    }
    assert m["inputs"]["fria:fria.yaml"] == {"file": "fria.yaml", "sha256": sha256_file(project / "fria.yaml")}
    assert m["policy"]["file"] == "llmops:policies/governance.yaml"
    assert m["created_at"] == "2023-11-14T22:13:20Z"
    assert m["status"] == "pass" and m["rules"]["total"] == default_rule_count()
    assert m["rules"]["warnings"] == len(WARNINGS)
    assert m["settings"]["label"] == "approved" and m["settings"]["min_group_size"] == 30
    assert "llmops_version" in m and "git_commit" in m
    assert not [p for p in bundle.parent.iterdir() if p.name.startswith(".")]  # no temp folders left
    assert [e["path"] for e in read_index(project / "evidence")["runs"]] == [f"credit-approval/1.2.0/{report.run}"]


def test_same_inputs_give_byte_identical_artefacts(project: Path) -> None:
    first = check(project, environ={"SOURCE_DATE_EPOCH": "1"}).bundle
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    second = check(project, environ={"SOURCE_DATE_EPOCH": "2"}).bundle
    assert second != first  # a re-run never replaces an earlier bundle: both are kept
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    after = {p.name: p.read_bytes() for p in second.iterdir()}
    assert before.keys() == after.keys()
    for name in before:
        if name not in (MANIFEST, "junit.xml"):  # junit.xml carries the run's timestamp
            assert before[name] == after[name], name
    m1, m2 = json.loads(before[MANIFEST]), json.loads(after[MANIFEST])
    assert m1.pop("created_at") != m2.pop("created_at")
    assert m1["artefacts"].pop("junit.xml") != m2["artefacts"].pop("junit.xml")
    assert m1 == m2


def test_failing_error_rule_fails_the_check(project: Path) -> None:
    policies = project / "policies"
    policies.mkdir()
    (policies / "governance.yaml").write_text(
        "rules:\n"
        "  - id: strict-parity\n    stage: bias\n    expr: bias.sex.demographic_parity_ratio >= 0.99\n"
        "    severity: error\n    message: parity\n"
        "  - id: soft\n    stage: data_quality\n    expr: data_quality.rows > 1000000\n"
        "    severity: warning\n    message: more data\n"
    )
    report = check(project)
    assert report.status == "fail"
    assert [(r.id, r.outcome, r.failed("error")) for r in report.results] == [
        ("strict-parity", "fail", True),
        ("soft", "fail", False),
    ]
    assert report.counts == {"total": 2, "passed": 0, "failed": 1, "warnings": 1}
    m = read_manifest(report.bundle)
    assert m["status"] == "fail" and m["policy"]["file"] == "policies/governance.yaml"
    summary = (report.bundle / "summary.md").read_text()
    assert "**FAIL**" in summary and "strict-parity" in summary


def test_fail_on_warning(project: Path) -> None:
    policies = project / "policies"
    policies.mkdir()
    (policies / "governance.yaml").write_text(
        "rules:\n  - id: soft\n    stage: data_quality\n    expr: data_quality.rows > 1000000\n"
        "    severity: warning\n    message: more data\n"
    )
    assert check(project).status == "pass"
    assert check(project, fail_on="warning").status == "fail"


def test_every_missing_input_is_named_at_once_and_nothing_is_written(project: Path) -> None:
    cfg = yaml.safe_load((project / "llmops.yaml").read_text())
    for key in ("risk_register", "model", "label"):
        del cfg["governance"]["inputs"][key]
    (project / "llmops.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(InputError) as e:
        check(project)
    text = str(e.value)
    for needle in (
        "the label column (--label or governance.inputs.label) for four-fifths-rule",
        "model metadata (--model or governance.inputs.model) for model-card-complete",
        "a risk register (--register or governance.inputs.risk_register) for max-residual-risk",
    ):
        assert needle in text
    assert len(text.splitlines()) == 1
    assert not (project / "evidence").exists()


@pytest.mark.parametrize(
    ("path", "text", "needle"),
    [
        ("data/loans.csv", "", "the file is empty"),
        (
            "risk_register.yaml",
            "risks:\n  - id: R1\n    title: t\n    category: fairness\n    impact: 9\n",
            "risk_register.yaml:5: risks.0.impact: impact must be a whole number from 1 to 5",
        ),
        ("model.yaml", "name: m\n", "model.yaml:1: version: required field 'version' is missing"),
        (
            "ai_act.yaml",
            "prohibited_practices: {social_scoring: false}\n",
            "unanswered: subliminal_manipulation",
        ),
    ],
)
def test_bad_inputs_leave_the_evidence_dir_untouched(project: Path, path: str, text: str, needle: str) -> None:
    old = check(project).bundle
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    index = (project / "evidence" / INDEX).read_bytes()
    (project / path).write_text(text)
    with pytest.raises((InputError, ConfigError)) as e:
        check(project)
    assert needle in str(e.value)
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert sorted(p.name for p in old.parent.iterdir()) == [old.name]
    assert (project / "evidence" / INDEX).read_bytes() == index


def test_verify_detects_changed_missing_and_extra_files(project: Path) -> None:
    bundle = check(project).bundle
    assert verify(bundle).ok
    assert verify(bundle, project).inputs_checked == 16  # 11, the attributions, 3 evidence files and the FRIA
    (bundle / "bias.json").write_text("{}\n")
    (bundle / "summary.md").unlink()
    (bundle / "extra.txt").write_text("x")
    report = verify(bundle)
    assert report.changed == ["bias.json"] and report.missing == ["summary.md"] and report.unexpected == ["extra.txt"]
    assert "changed: bias.json" in report.problem()


def test_verify_detects_changed_inputs(project: Path) -> None:
    bundle = check(project).bundle
    with (project / "model.yaml").open("a") as fh:
        fh.write("# edited\n")
    assert verify(bundle, project).inputs_changed == ["model (model.yaml)"]


def test_verify_rejects_non_bundles(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="manifest not found"):
        verify(tmp_path)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(EvidenceMismatch):
        verify(tmp_path)


def test_write_run_keeps_every_run_and_refuses_bad_names(tmp_path: Path) -> None:
    model = {"name": "m", "version": "1"}

    def manifest(n: int) -> dict:
        return {"model": model, "created_at": str(n), "status": "pass", "artefacts": {}}

    a = write_run(tmp_path, model, {"a.txt": b"1"}, manifest(1))
    b = write_run(tmp_path, model, {"b.txt": b"2"}, manifest(2))
    again = write_run(tmp_path, model, {"a.txt": b"1"}, manifest(1))
    assert a.path != b.path and again.path == a.path and not again.created
    assert sorted(p.name for p in a.path.iterdir()) == ["a.txt", MANIFEST]
    assert [e["run"] for e in read_index(tmp_path)["runs"]] == [a.run, b.run]
    for bad in ("../evil", ".hidden", MANIFEST, "manifest.dsse.json"):
        with pytest.raises(ValueError, match="bad artefact name"):
            write_run(tmp_path, model, {bad: b"x"}, manifest(3))
    assert sorted(p.name for p in (tmp_path / "m" / "1").iterdir()) == sorted([a.run, b.run])


def test_flags_override_settings_and_privileged_parsing(project: Path) -> None:
    i = inputs_for(project, sensitive=["sex"], privileged=["sex=female"], bootstrap=0, policies=project)
    assert i.sensitive == ("sex",) and dict(i.privileged) == {"sex": "female"}
    assert i.bootstrap == 0 and i.min_group_size == 30  # a flag of 0 is given; the rest comes from llmops.yaml
    assert i.policies == project.absolute() / "governance.yaml"
    narrowed = inputs_for(project, sensitive=["sex"])  # llmops.yaml's privileged groups follow --sensitive
    assert dict(narrowed.privileged) == {"sex": "male"}
    with pytest.raises(InputError, match="COLUMN=VALUE"):
        inputs_for(project, privileged=["sex"])


def test_personal_data_in_the_dataset_fails_the_default_policy(project: Path) -> None:
    import pandas as pd

    data = project / "data" / "loans.csv"
    df = pd.read_csv(data)
    df["email"] = [f"applicant{i}@example.com" for i in range(len(df))]
    df.to_csv(data, index=False)
    report = check(project)
    outcomes = {r.id: r.outcome for r in report.results}
    assert report.status == "fail" and outcomes["no-personal-data"] == "fail"
    assert json.loads((report.bundle / "data_quality.json").read_text())["pii_columns"] == {"email": "email"}


def test_crlf_policy_file_verifies(project: Path) -> None:
    """The manifest hashed the policy as normalised text while verify hashes bytes: a CRLF file never verified."""
    from llmops_cli.resources import policies_dir

    (project / "policies").mkdir()
    text = (policies_dir() / "governance.yaml").read_bytes()
    (project / "policies" / "governance.yaml").write_bytes(text.replace(b"\n", b"\r\n"))
    bundle = check(project).bundle
    assert read_manifest(bundle)["policy"]["file"] == "policies/governance.yaml"
    report = verify(bundle, project)
    assert report.ok, report.problem()


def test_the_example_ci_job_signs_keyless_and_uses_only_flags_check_has() -> None:
    """The example GitHub job gets an OIDC token (`id-token: write`, which Sigstore's keyless signing needs in
    GitHub Actions), installs the sigstore extra, and calls `govern check` with flags the command has."""
    import shlex

    from tests.helpers import run_cli

    root = Path(__file__).resolve().parents[2]
    job = yaml.safe_load((root / "examples" / "ci" / "governance.yml").read_text())
    assert job["permissions"]["id-token"] == "write"
    runs = [s["run"] for s in job["jobs"]["govern"]["steps"] if "run" in s]
    (install,) = [r for r in runs if r.startswith("pip install")]
    assert "sigstore" in install
    (check,) = [shlex.split(r) for r in runs if r.startswith("llmops govern check")]
    assert check[check.index("--sign") + 1] == "sigstore"
    help_text = run_cli("govern", "check", "--help").stdout
    assert all(word in help_text for word in check[3:] if word.startswith("--"))
