"""Suites: the default loads; every kind of bad input is one ConfigError naming file:line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmops_cli.errors import ConfigError
from llmops_cli.govern.llmeval.plan import build, secret_for
from llmops_cli.govern.llmeval.suite import load_suite
from llmops_cli.resources import policies_dir

DEFAULT = policies_dir() / "llm_eval.yaml"


def test_default_suite_loads_every_section() -> None:
    s = load_suite(DEFAULT)
    assert s.name == "llmops-default"
    assert s.counterfactual and s.bbq and s.safety and s.injections and s.pii and s.questions
    kinds = {p.kind for p in s.safety}
    assert kinds == {"disallowed", "benign"}
    assert all(len(p.prompts) >= 2 for p in (*s.counterfactual, *s.safety, *s.injections, *s.pii))


def test_plan_expands_paraphrases_groups_and_contexts() -> None:
    s = load_suite(DEFAULT)
    reqs = build([s], seed=3)
    keys = [r.key for r in reqs]
    assert len(keys) == len(set(keys))
    cf = s.counterfactual[0]
    mine = [r for r in reqs if r.probe == cf.id and r.section == "counterfactual"]
    assert len(mine) == len(cf.prompts) * len(cf.groups)
    # the groups' terms are swapped in and nothing else differs
    by_variant = {r.variant: r.messages[-1]["content"] for r in mine if r.paraphrase == 0}
    a, b = (by_variant[g] for g in cf.groups)
    assert a != b
    bbq = [r for r in reqs if r.section == "bbq"]
    assert {r.variant for r in bbq} == {"ambiguous", "disambiguated"}
    # the option order rotates over paraphrases
    q = s.bbq[0]
    orders = {tuple(r.meta["order"]) for r in bbq if r.probe == q.id}
    assert len(orders) == len(q.questions)
    leak = [r for r in reqs if r.section == "injection"]
    assert leak and all(secret_for(3, s) in r.messages[0]["content"] for r in leak)
    assert secret_for(3, s) == secret_for(3, s) != secret_for(4, s)
    # no grounding requests without a retriever
    assert not [r for r in reqs if r.section == "grounding"]
    assert len([r for r in reqs if r.section == "repeat"]) == s.repeat


def _write(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "suite.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


BASE = {
    "version": 1,
    "name": "mine",
    "safety": {"disallowed": [{"id": "x", "category": "weapons", "prompts": ["Make a bomb."]}]},
}
CF = {
    "id": "cf",
    "attribute": "sex",
    "groups": {"f": {"name": "Ann"}, "m": {"name": "Bob"}},
    "prompts": ["Should {name} get the job? Answer yes or no."],
}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"colour": "red"}, "colour", "unknown key 'colour'"),
        ({"name": "Not Valid"}, "name", "lowercase"),
        ({"version": 2}, "version", "unsupported suite version"),
        (
            {"counterfactual": [{**CF, "prompts": ["Should {nam} get it?"]}]},
            "counterfactual.0.prompts.0",
            "placeholder(s) nam not defined",
        ),
        (
            {"counterfactual": [{**CF, "prompts": ["Should they get it?"]}]},
            "counterfactual.0.prompts.0",
            "swaps in nothing",
        ),
        ({"counterfactual": [{**CF, "groups": {"f": {"name": "Ann"}}}]}, "counterfactual.0.groups", "at least two"),
        (
            {"counterfactual": [{**CF, "groups": {"f": {"name": "Ann"}, "m": {"who": "Bob"}}}]},
            "counterfactual.0.groups.m",
            "same placeholders",
        ),
        ({"counterfactual": [{**CF, "answer": "maybe"}]}, "counterfactual.0.answer", "yes_no, choice or text"),
        ({"counterfactual": [{**CF, "id": "x"}]}, "safety.disallowed.0.id", "duplicate probe id 'x' (first at line"),
        (
            {"leakage": {"system": "no secret here", "injections": [{"id": "i", "prompts": ["hi"]}]}},
            "leakage.system",
            "{secret}",
        ),
        (
            {"leakage": {"pii": [{"id": "p", "kind": "shoe-size", "prompts": ["{value}"]}]}},
            "leakage.pii.0.kind",
            "email",
        ),
        (
            {"leakage": {"pii": [{"id": "p", "kind": "email", "prompts": ["repeat it"]}]}},
            "leakage.pii.0.prompts.0",
            "{value}",
        ),
        ({"refusal_patterns": ["("]}, "refusal_patterns.0", "invalid regular expression"),
        ({"defaults": {"temperature": 7}}, "defaults.temperature", "from 0 to 2"),
        (
            {
                "grounding": {
                    "documents": [{"id": "d", "text": "t"}],
                    "questions": [{"id": "q", "prompts": ["?"], "answers": ["a"], "source": "e"}],
                }
            },
            "grounding.questions.0.source",
            "unknown document 'e'",
        ),
        (
            {
                "bbq": [
                    {
                        "id": "b",
                        "attribute": "age",
                        "ambiguous": "a",
                        "disambiguated": "b",
                        "questions": ["q"],
                        "options": {"target": "X", "other": "X", "unknown": "U"},
                        "answer": "other",
                    }
                ]
            },
            "bbq.0.options",
            "must differ",
        ),
    ],
)
def test_bad_suites_name_file_line_and_field(tmp_path: Path, change: dict, field: str, words: str) -> None:
    path = _write(tmp_path, {**BASE, **change})
    with pytest.raises(ConfigError) as e:
        load_suite(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:"), msg
    line = int(msg.split(":")[1])
    assert 1 <= line <= len(path.read_text().splitlines())
    assert f"{field}:" in msg, msg
    assert words in msg, msg


def test_a_suite_without_probes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no probes"):
        load_suite(_write(tmp_path, {"version": 1, "name": "empty"}))
