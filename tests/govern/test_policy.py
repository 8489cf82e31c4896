"""Policies: load-time checks with file:line, CEL evaluation, fail-closed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops_cli.errors import ConfigError, InputError
from llmops_cli.govern.policy import evaluate, load_policies
from llmops_cli.resources import policies_dir

RULE = """\
version: 1
rules:
  - id: r1
    stage: {stage}
    expr: {expr}
    severity: {severity}
    controls: [nist-ai-rmf:MEASURE 2.11]
    message: m
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "governance.yaml"
    p.write_text(text)
    return p


def one(tmp_path: Path, expr: str, stage: str = "bias", severity: str = "error") -> Path:
    return write(tmp_path, RULE.format(expr=expr, stage=stage, severity=severity))


def test_default_policies_load_and_cover_the_issue_rules() -> None:
    ps = load_policies(policies_dir() / "governance.yaml")
    exprs = {r.id: r.expr for r in ps.rules}
    assert "demographic_parity_ratio >= 0.8" in exprs["four-fifths-rule"]
    assert "equalized_odds_difference" in exprs["equalized-odds-bound"]
    assert "max_residual" in exprs["max-residual-risk"]
    assert "missing_required" in exprs["model-card-complete"]
    assert {r.stage for r in ps.rules} == {
        "bias",
        "data_quality",
        "data_card",
        "model_card",
        "risk",
        "explain",
        "privacy",
        "llm_eval",
    }
    assert "fria_complete" in exprs["fundamental-rights-impact-assessment"]
    assert "worst_intersection" in exprs["four-fifths-rule-intersections"]
    assert "intended_use" in ps.model_card_required


def test_unknown_metric_is_a_load_error_with_line(tmp_path: Path) -> None:
    p = one(tmp_path, "bias.worst.demographic_parity_ration >= 0.8")
    with pytest.raises(ConfigError) as e:
        load_policies(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:5: rule r1: ")
    assert "demographic_parity_ration" in msg and "known: demographic_parity_difference" in msg


def test_unknown_per_attribute_metric_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'bias\.sex\.selection_rate'"):
        load_policies(one(tmp_path, "bias.sex.selection_rate > 0.5"))


def test_field_below_a_leaf_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no field 'x'"):
        load_policies(one(tmp_path, "data_quality.rows.x > 1", stage="data_quality"))


def test_reading_another_stage_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a 'bias' rule can only read 'bias"):
        load_policies(one(tmp_path, "risk.max_residual < 3"))


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    p = one(tmp_path, "bias.worst.demographic_parity_ratio >=")
    with pytest.raises(ConfigError, match=rf"{p}:5.*invalid CEL expression"):
        load_policies(p)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (RULE.format(expr="'true'", stage="nope", severity="error"), "unknown stage 'nope'"),
        (RULE.format(expr="'true'", stage="bias", severity="fatal"), "severity must be"),
        (RULE.format(expr="true", stage="bias", severity="error"), "expr must be text, got True"),
        (
            RULE.replace("nist-ai-rmf:MEASURE 2.11", "nist-ai-rmf:MEASURE 9.9").format(
                expr="'true'", stage="bias", severity="error"
            ),
            "unknown control",
        ),
        ("version: 1\nrules: []\n", "non-empty list of rules"),
        ("rules:\n  - id: Bad Id\n    stage: bias\n    expr: 'true'\n    message: m\n", "rule id"),
        ("rules:\n  - {id: a, stage: bias, expr: 'true'}\n", "'message' is missing"),
        ("rule: []\n", "unknown key 'rule'"),
        ("model_card:\n  required_fields: [nam]\nrules: []\n", "unknown model-card field 'nam'"),
        ("rules:\n  - id: a\n    stage: bias\n    id: b\n", "duplicate key 'id'"),
    ],
)
def test_malformed_policy_files(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_policies(write(tmp_path, text))


def test_missing_policy_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_policies(tmp_path / "nope.yaml")


def test_duplicate_rule_ids(tmp_path: Path) -> None:
    text = RULE.format(expr="'true'", stage="bias", severity="error")
    text += text.split("rules:\n", 1)[1]
    with pytest.raises(ConfigError, match="duplicate rule id 'r1' \\(first at line 3\\)"):
        load_policies(write(tmp_path, text))


BIAS = {
    "attributes": ["sex"],
    "worst": {"demographic_parity_ratio": 0.75},
    "sex": {
        "demographic_parity_ratio": 0.75,
        "groups": {"f": {"count": 10}},
        "equalized_odds_difference": None,
    },
}


def test_evaluate_pass_fail_and_recorded_values(tmp_path: Path) -> None:
    ps = load_policies(one(tmp_path, "bias.worst.demographic_parity_ratio >= 0.8"))
    [r] = evaluate(ps, {"bias": BIAS})
    assert r.outcome == "fail" and r.failed()
    assert r.values == {"bias.worst.demographic_parity_ratio": 0.75}
    ps = load_policies(one(tmp_path, "bias.sex.demographic_parity_ratio >= 0.7"))
    assert evaluate(ps, {"bias": BIAS})[0].outcome == "pass"


def test_int_against_double_compares_numerically(tmp_path: Path) -> None:
    ps = load_policies(one(tmp_path, "data_quality.duplicate_ratio == 0", stage="data_quality"))
    assert evaluate(ps, {"data_quality": {"duplicate_ratio": 0.0}})[0].outcome == "pass"


def test_missing_attribute_fails_closed(tmp_path: Path) -> None:
    ps = load_policies(one(tmp_path, "bias.race.demographic_parity_ratio >= 0.8"))
    [r] = evaluate(ps, {"bias": BIAS})
    assert r.outcome == "error" and r.failed()
    assert "bias has no 'race' (has: attributes, sex, worst)" in r.detail


def test_null_metric_fails_closed(tmp_path: Path) -> None:
    ps = load_policies(one(tmp_path, "bias.sex.equalized_odds_difference <= 0.1"))
    [r] = evaluate(ps, {"bias": BIAS})
    assert r.outcome == "error"
    assert "bias.sex.equalized_odds_difference not available" in r.detail


def test_warning_fails_only_with_fail_on_warning(tmp_path: Path) -> None:
    ps = load_policies(one(tmp_path, "bias.worst.demographic_parity_ratio >= 0.8", severity="warning"))
    [r] = evaluate(ps, {"bias": BIAS})
    assert r.outcome == "fail" and not r.failed("error") and r.failed("warning")


def test_index_syntax_and_macros(tmp_path: Path) -> None:
    expr = "bias['sex'].groups.all(g, bias.sex.groups[g].count >= 10)"
    ps = load_policies(one(tmp_path, f'"{expr}"'))
    assert evaluate(ps, {"bias": BIAS})[0].outcome == "pass"


def test_non_boolean_expression_is_a_load_error(tmp_path: Path) -> None:
    p = one(tmp_path, "bias.worst.demographic_parity_ratio")
    with pytest.raises(ConfigError) as e:
        load_policies(p)
    assert str(e.value).startswith(f"{p}:5: rule r1: the expression gives double, not true/false")


# ----------------------------------------------------------------------------------------- issue 23 item 10
@pytest.mark.parametrize(
    ("expr", "stage", "message"),
    [
        ('bias.worst.demographic_parity_ratio >= "high"', "bias", "type error: no '>=' for double and string"),
        ("size(data_quality.rows) == 0", "data_quality", "type error: object of type 'int' has no len()"),
        ("data_quality.rows * 0.1 > 1.0", "data_quality", "type error: no '*' for int and double"),
        ("model_card.missing_required.exists(f, f == 1)", "model_card", "type error: no '==' for string and int"),
        ("risk.ai_act.assessed && risk.max_residual", "risk", "the expression gives double, not true/false"),
        ("sizes(model_card.missing_required) == 0", "model_card", "unknown function or name 'sizes'"),
        ('bias["sex"].groups["f"].count >= "ten"', "bias", "no '>=' for int and string"),
    ],
)
def test_type_errors_are_load_errors_with_file_line_and_rule_id(
    tmp_path: Path, expr: str, stage: str, message: str
) -> None:
    """They used to count as violations at check time (exit 4) and print cel-python's internals."""
    p = one(tmp_path, f"'{expr}'", stage=stage)
    with pytest.raises(ConfigError) as e:
        load_policies(p)
    text = str(e.value)
    assert text.startswith(f"{p}:5: rule r1: ") and message in text, text
    assert "celpy" not in text and "Token(" not in text and "<class" not in text


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("bias.worst.demographic_parity_ratio >=", "the expression ends too early"),
        ("bias.rows >= = 1", "unexpected '=' at column 14"),
        ("(bias.rows > 1", "the expression ends too early"),
    ],
)
def test_syntax_errors_say_where_without_parser_internals(tmp_path: Path, expr: str, message: str) -> None:
    p = one(tmp_path, f"'{expr}'")
    with pytest.raises(ConfigError) as e:
        load_policies(p)
    assert f"rule r1: invalid CEL expression: {message}" in str(e.value)
    assert "Unexpected" not in str(e.value) and "^" not in str(e.value)


def test_rules_that_type_check_still_load(tmp_path: Path) -> None:
    for expr, stage in (
        ("bias.sex.groups.all(g, bias.sex.groups[g].count >= 10)", "bias"),
        ("data_quality.duplicate_ratio == 0", "data_quality"),
        ('risk.ai_act.classification != "prohibited"', "risk"),
        ("size(bias.unmeasured) == 0 && bias.worst.disparate_impact >= 0.8", "bias"),
        ("data_card.source != ''", "data_card"),  # untyped (text or list): not type-checked
    ):
        load_policies(one(tmp_path, "'" + expr.replace("'", "''") + "'", stage=stage))


def test_an_empty_policy_file_says_so(tmp_path: Path) -> None:
    p = write(tmp_path, "# nothing yet\n")
    with pytest.raises(ConfigError) as e:
        load_policies(p)
    assert str(e.value).startswith(f"{p}:1: the governance policy file is empty")


def test_policy_hash_is_the_hash_of_the_file_bytes(tmp_path: Path) -> None:
    """A CRLF file hashed as text (LF) never matched what `govern verify` hashes (the bytes)."""
    import hashlib

    p = one(tmp_path, "bias.worst.demographic_parity_ratio >= 0.8")
    p.write_bytes(p.read_bytes().replace(b"\n", b"\r\n"))
    assert load_policies(p).sha256 == hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_null_worst_metric_names_what_could_not_be_measured(tmp_path: Path) -> None:
    ps = load_policies(one(tmp_path, "bias.worst.demographic_parity_ratio >= 0.8"))
    metrics = {
        **BIAS,
        "worst": {"demographic_parity_ratio": None},
        "unmeasured": ["race: group(s) 'c' under the minimum size"],
    }
    [r] = evaluate(ps, {"bias": metrics})
    assert r.outcome == "error" and r.failed()
    assert "race: group(s) 'c' under the minimum size" in r.detail
