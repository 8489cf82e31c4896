"""Interop: JUnit XML under the strict Ant schema, model cards that huggingface_hub reads as Hub model cards."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmops_cli.govern.evidence import MANIFEST
from llmops_cli.govern.reports.hf import hub_licence, spdx
from llmops_cli.govern.reports.junit import junit_xml
from tests.govern.test_evidence import check

XSD = Path(__file__).parent / "data" / "junit-ant-strict.xsd"


@pytest.fixture(scope="module")
def schema():
    import xmlschema

    return xmlschema.XMLSchema(str(XSD))


def _result(i: int, outcome: str, severity: str, text: str) -> dict:
    return {
        "id": f"rule-{i}",
        "stage": "bias",
        "severity": severity,
        "outcome": outcome,
        "expr": "bias.worst.x >= 0.8 && true",
        "message": text,
        "detail": text[::-1],
        "controls": ["iso-42001:A.5.4", "eu-ai-act:Art. 10"],
        "values": {"bias.worst.x": 0.5},
        "file": "policies/governance.yaml",
        "line": 3 + i,
    }


def test_the_example_projects_junit_passes_the_strict_ant_schema(project: Path, schema) -> None:
    bundle = check(project).bundle
    schema.validate(str(bundle / "junit.xml"))


def test_the_strict_schema_rejects_what_jenkins_or_ant_would(schema) -> None:
    """The schema is not a rubber stamp: the pre-fix output (file/line on testcases, properties per case,
    attributes on <testsuites>) is invalid under it."""
    old = (
        '<testsuites name="x" tests="1"><testsuite name="s" tests="1" failures="0" errors="0" time="0">'
        '<testcase classname="c" name="n" file="f" line="1" time="0"/></testsuite></testsuites>'
    )
    assert not schema.is_valid(old)


@settings(max_examples=40, deadline=None)
@given(
    outcomes=st.lists(
        st.tuples(st.sampled_from(["pass", "fail", "error"]), st.sampled_from(["error", "warning"])), max_size=6
    ),
    text=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
    fail_on=st.sampled_from(["error", "warning"]),
    idle=st.integers(min_value=0, max_value=3),
)
def test_any_results_give_schema_valid_junit(schema, outcomes, text, fail_on, idle) -> None:
    import xml.etree.ElementTree as ET

    results = [_result(i, o, s, text) for i, (o, s) in enumerate(outcomes)]
    skipped = [
        {"id": f"idle-{i}", "stage": "llm_eval", "file": "policies/governance.yaml", "line": 90 + i, "reason": text}
        for i in range(idle)
    ]
    xml = junit_xml("model 1.0", results, fail_on, timestamp="2024-01-02T03:04:05Z", skipped=skipped)
    schema.validate(xml)
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(results) + idle) and suite.get("skipped") == str(idle)
    assert [tc.get("name") for tc in suite.iter("testcase") if tc.find("skipped") is not None] == [
        s["id"] for s in skipped
    ]


def test_the_strict_schema_allows_a_skipped_message_and_nothing_else(schema) -> None:
    """Both schemas accept <skipped message=".."/> (Ant's: an element of any type; Jenkins': mixed text with
    message and type); the test schema takes their intersection, so an attribute Jenkins lacks is refused."""
    doc = (
        '<testsuites><testsuite package="g" id="0" name="s" timestamp="2024-01-02T03:04:05" hostname="h" '
        'tests="1" failures="0" errors="0" skipped="1" time="0"><properties/>'
        '<testcase name="n" classname="c" time="0"><skipped {attr}/></testcase>'
        "<system-out/><system-err/></testsuite></testsuites>"
    )
    assert schema.is_valid(doc.format(attr='message="not configured"'))
    assert not schema.is_valid(doc.format(attr='reason="not configured"'))


def test_model_card_is_a_valid_hugging_face_model_card(project: Path) -> None:
    from huggingface_hub import ModelCard, ModelCardData

    bundle = check(project).bundle
    card = ModelCard((bundle / "model_card.md").read_text())
    data = card.data
    assert isinstance(data, ModelCardData)
    assert data.license == "apache-2.0" and data.pipeline_tag == "tabular-classification"
    assert data.model_name == "credit-approval"  # parsed from model-index by ModelCardData
    results = {(r.metric_type, r.metric_name): r.metric_value for r in data.eval_results}
    assert results[("accuracy", None)] == 0.71 and results[("auc", None)] == 0.78
    assert ("demographic_parity_ratio", "demographic_parity_ratio (sex)") in results
    assert all(
        r.task_type == "tabular-classification" and r.dataset_name == "synthetic-loans" for r in data.eval_results
    )
    assert data.to_dict()["model_version"] == "1.2.0"  # extra fields are kept
    for section in (
        "Model details",
        "Intended use",
        "Factors",
        "Metrics",
        "Evaluation data",
        "Training data",
        "Quantitative analyses",
        "Ethical considerations",
        "Caveats and recommendations",
    ):  # Mitchell et al. 2019, section 4
        assert f"## {section}\n" in card.text, section
    assert MANIFEST not in card.text


@pytest.mark.parametrize(
    ("given_", "want"),
    [
        ("Apache-2.0", {"license": "apache-2.0"}),
        ("MIT", {"license": "mit"}),
        ("GPL-3.0-or-later", {"license": "gpl-3.0"}),
        ("ODbL-1.0", {"license": "odbl"}),
        ("BUSL-1.1", {"license": "other", "license_name": "busl-1.1", "license_link": "https://spdx.org/licenses/BUSL-1.1.html"}),
        ("not a licence", {"license": "other", "license_name": "not a licence"}),
        (None, {"license": "unknown"}),
    ],
)  # fmt: skip
def test_spdx_ids_map_to_hub_licence_ids(given_, want) -> None:
    assert hub_licence(given_) == want


def test_spdx_validation_uses_the_spdx_list() -> None:
    assert spdx("apache-2.0") == "Apache-2.0" and spdx("Apache-2") is None
