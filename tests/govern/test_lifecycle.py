"""The CPMAI lifecycle: the artefact catalogue, human-authored documents, coverage, the privacy stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from llmops_cli.errors import ConfigError
from llmops_cli.govern import lifecycle, mappings
from llmops_cli.govern.policy import stage_schemas
from llmops_cli.govern.registry import STAGES
from llmops_cli.govern.stages.data_card import DatasetMeta
from llmops_cli.govern.stages.privacy import run_privacy
from tests.govern.conftest import scored_frame
from tests.govern.test_evidence import check


def test_catalogue_covers_six_phases_and_names_real_controls() -> None:
    assert list(lifecycle.PHASES) == [
        "business_understanding",
        "data_understanding",
        "data_preparation",
        "model_development",
        "model_evaluation",
        "operationalization",
    ]
    assert {a.phase for a in lifecycle.CATALOGUE} == set(lifecycle.PHASES)
    known = mappings.control_ids()
    for a in lifecycle.CATALOGUE:
        assert a.controls and set(a.controls) <= known, a.id
    human = {a.id for a in lifecycle.CATALOGUE if a.kind == "human"}
    assert human == {"ethical_principles", "risk_appetite", "accountability_matrix", "incident_sop"}
    assert {d.key for d in lifecycle.DOCUMENTS} == human


def test_registry_is_the_one_list_of_stages() -> None:
    assert set(stage_schemas()) == set(STAGES)
    for s in STAGES.values():
        assert s.phase in lifecycle.PHASES
        assert (s.render is None) == (s.name == "model_card")


def test_example_coverage_by_phase(project: Path) -> None:
    report = check(project)
    cov = json.loads((report.bundle / "lifecycle.json").read_text())
    assert cov["total"] == 19 and cov["present"] == 19 and cov["missing"] == []  # explain: the example's SHAP values
    assert cov["automatic"] == 15 and cov["human"] == 4 and cov["automatic_share"] == round(15 / 19, 4)
    summary = (report.bundle / "summary.md").read_text()
    assert "## Evidence coverage (CPMAI lifecycle)" in summary and "79 % automatic" in summary
    for title in lifecycle.PHASES.values():
        assert title in summary


def test_explainability_is_missing_without_attributions_or_a_model(project: Path) -> None:
    text = (project / "llmops.yaml").read_text()
    (project / "llmops.yaml").write_text("\n".join(x for x in text.splitlines() if "attributions" not in x) + "\n")
    cov = check(project).coverage.to_dict()
    assert cov["missing"] == ["explainability"] and cov["present"] == 18


def test_coverage_drops_as_documents_go_missing(project: Path) -> None:
    shutil.rmtree(project / "governance")
    (project / "model.yaml").write_text(
        "\n".join(line for line in (project / "model.yaml").read_text().splitlines() if "experiment" not in line
                  and "training/run" not in line) + "\n"
    )  # fmt: skip
    cov = check(project).coverage.to_dict()
    assert cov["present"] == 14 and cov["human"] == 0 and cov["automatic_share"] == 1.0
    assert set(cov["missing"]) == {
        "ethical_principles", "risk_appetite", "accountability_matrix", "incident_sop", "experiment_logs",
    }  # fmt: skip


def test_scaffolded_documents_are_incomplete_until_filled(tmp_path: Path) -> None:
    lifecycle.scaffold(tmp_path, model="m")
    for d in lifecycle.DOCUMENTS:
        assert lifecycle.validate_document(d, tmp_path / d.file), d.file
    with pytest.raises(Exception, match="--force"):
        lifecycle.scaffold(tmp_path)


@pytest.mark.parametrize(
    ("file", "text", "needle"),
    [
        ("raci.yaml", "roles: {a: x}\nactivities: {do: {b: R}}\n", "unknown role 'b'"),
        ("raci.yaml", "roles: {a: x, b: y}\nactivities: {do: {a: A, b: A}}\n", "exactly one Accountable"),
        ("raci.yaml", "roles: {a: x}\nactivities: {do: {a: X}}\n", "expected letters from R, A, C, I"),
        ("risk_appetite.yaml", "max_residual_risk: 40\nstatement: s\n", "from 1 to 25"),
        ("principles.yaml", "principles: []\n", "non-empty list"),
        ("principles.yaml", "owner: o\napproved_on: 2024-13\nprinciples: [{id: a, title: b}]\n", "YYYY-MM-DD"),
    ],
)
def test_malformed_documents_are_bad_input_with_a_line(tmp_path: Path, file: str, text: str, needle: str) -> None:
    (tmp_path / file).write_text(text)
    [doc] = [d for d in lifecycle.DOCUMENTS if d.file == file]
    with pytest.raises(ConfigError) as e:
        lifecycle.validate_document(doc, tmp_path / file)
    assert needle in str(e.value) and f"{file}:" in str(e.value)


def test_sop_needs_every_section(tmp_path: Path) -> None:
    (tmp_path / "incident_sop.md").write_text("# SOP\n\n## Detection\n\nalerts\n")
    [doc] = [d for d in lifecycle.DOCUMENTS if d.key == "incident_sop"]
    problems = lifecycle.validate_document(doc, tmp_path / "incident_sop.md")
    assert "no 'Notification' section" in problems and "no 'Detection' section" not in problems


# ----------------------------------------------------------------------------------------- privacy
def meta(**fields) -> DatasetMeta:
    return DatasetMeta(fields=fields, sensitive_attributes=("sex", "race"))


def test_privacy_requires_a_lawful_basis_and_pets_covering_personal_data() -> None:
    df = scored_frame(200)
    df["email"] = [f"p{i}@example.com" for i in range(len(df))]
    m = run_privacy(df, meta(consent="they agreed")).metrics
    assert not m["consent_declared"] and not m["consent_valid"]
    assert m["unprotected_pii_columns"] == ["email"] and "race" in m["special_category_columns"]
    ok = run_privacy(
        df,
        meta(
            consent={"basis": "consent", "special_category_condition": "explicit_consent", "reference": "form.pdf"},
            pets=[{"technique": "pseudonymisation", "columns": ["email"]}],
        ),
    ).metrics
    assert ok["consent_valid"] and ok["unprotected_pii_count"] == 0, ok["problems"]
    no_art9 = run_privacy(df, meta(consent={"basis": "consent"}, pets=[{"technique": "masking", "columns": ["email"]}]))
    assert any("Art. 9(2)" in p for p in no_art9.metrics["problems"])


def test_not_applicable_needs_data_without_people_or_a_dataset_wide_pet() -> None:
    df = scored_frame(100)
    bad = run_privacy(df, meta(consent={"basis": "not_applicable"})).metrics
    assert not bad["consent_valid"] and "not_applicable" in bad["problems"][0]
    good = run_privacy(df, meta(consent={"basis": "not_applicable"}, pets=[{"technique": "synthetic_data"}])).metrics
    assert good["consent_valid"], good["problems"]
    typo = run_privacy(df, meta(consent={"basis": "consnet"}, pets=[{"technique": "hashing", "columns": ["nope"]}]))
    assert typo.metrics["problem_count"] >= 2 and not typo.metrics["consent_declared"]
