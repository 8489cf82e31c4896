"""Report renderers: canonical JSON, JUnit, GitHub workflow commands, summary Markdown."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from llmops_cli.govern.reports.github import append_step_summary, in_github_actions, workflow_commands
from llmops_cli.govern.reports.jsonout import canonical_json
from llmops_cli.govern.reports.junit import junit_xml
from llmops_cli.govern.reports.markdown import summary_markdown


def result(id_: str, outcome: str, severity: str = "error", **kw) -> dict:
    base = {
        "id": id_,
        "stage": "bias",
        "severity": severity,
        "outcome": outcome,
        "expr": "bias.x > 1",
        "message": "msg, with: commas\nand lines",
        "detail": "",
        "controls": ["iso-42001:A.5.4"],
        "values": {"bias.x": 0.5},
        "file": "policies/governance.yaml",
        "line": 7,
    }
    base.update(kw)
    return base


def test_canonical_json_is_sorted_rounded_and_nan_free() -> None:
    text = canonical_json({"b": 1 / 3, "a": [math.nan, -0.0, 2], "c": {"z": True, "y": None}})
    assert text.endswith("\n")
    data = json.loads(text)
    assert list(data) == ["a", "b", "c"] and data["a"] == [None, 0.0, 2]
    assert data["b"] == 0.333333333333
    assert canonical_json({"x": 0.1 + 0.2}) == canonical_json({"x": 0.3})


def test_junit_one_case_per_rule() -> None:
    results = [result("a", "pass"), result("b", "fail"), result("c", "error"), result("d", "fail", "warning")]
    root = ET.fromstring(junit_xml("m 1", results).split("\n", 1)[1])
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "4"
    assert suite.get("failures") == "1" and suite.get("errors") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["b"].find("failure") is not None and cases["c"].find("error") is not None
    assert cases["d"].find("failure") is None and "WARNING d" in (suite.findtext("system-out") or "")
    strict = ET.fromstring(junit_xml("m 1", results, "warning").split("\n", 1)[1])
    assert strict.find("testsuite").get("failures") == "2"  # type: ignore[union-attr]


def test_workflow_commands_escape_and_levels() -> None:
    cmds = workflow_commands([result("a", "pass"), result("b", "fail"), result("w", "fail", "warning")])
    assert cmds == [
        "::error file=policies/governance.yaml,line=7,title=governance%3A b::msg, with: commas%0Aand lines",
        "::warning file=policies/governance.yaml,line=7,title=governance%3A w::msg, with: commas%0Aand lines",
    ]
    assert workflow_commands([result("w", "fail", "warning")], "warning")[0].startswith("::error ")


def test_step_summary(tmp_path: Path) -> None:
    target = tmp_path / "s.md"
    assert not append_step_summary({}, "x")
    assert append_step_summary({"GITHUB_STEP_SUMMARY": str(target)}, "one")
    assert append_step_summary({"GITHUB_STEP_SUMMARY": str(target)}, "two\n")
    assert target.read_text() == "one\ntwo\n"
    assert in_github_actions({"GITHUB_ACTIONS": "true"}) and not in_github_actions({})


def test_summary_markdown_lists_findings_and_controls() -> None:
    md = summary_markdown({"name": "m", "version": "1"}, [result("a", "pass"), result("b", "fail")], "fail", "error")
    assert "**FAIL**: 1 passed, 1 failed, 0 warnings" in md
    assert "- **b** (error): msg" in md
    assert "| iso-42001:A.5.4 | Assessing AI system impact on individuals or groups of individuals |" in md


def test_summary_never_lists_a_control_as_evidenced_when_a_rule_citing_it_failed() -> None:
    results = [
        result("parity", "fail", controls=["eu-ai-act:Art. 10", "iso-42001:A.5.4"]),
        result("quality", "pass", controls=["eu-ai-act:Art. 10", "iso-42001:A.7.4"]),
        result("broken", "error", controls=["nist-ai-rmf:MEASURE 2.11"]),
    ]
    md = summary_markdown({"name": "m", "version": "1"}, results, "fail", "error")
    evidenced = md.split("## Controls evidenced", 1)[1].split("## Controls not evidenced", 1)[0]
    gaps = md.split("## Controls not evidenced", 1)[1]
    assert "iso-42001:A.7.4" in evidenced
    for control in ("eu-ai-act:Art. 10", "iso-42001:A.5.4", "nist-ai-rmf:MEASURE 2.11"):
        assert control not in evidenced and control in gaps, control
