"""Risk register scoring, framework mapping tables and the EU AI Act classification."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmops_cli.errors import ConfigError
from llmops_cli.govern import mappings
from llmops_cli.govern.api import with_report
from llmops_cli.govern.stages.risk import classify_ai_act, level, load_register, risk_metrics, run_risk

REGISTER = {
    "risks": [
        {
            "id": "R1",
            "title": "bias",
            "category": "fairness",
            "impact": 5,
            "likelihood": 4,
            "owner": "a",
            "controls": [
                {"id": "C1", "title": "scan", "effectiveness": "high"},
                {
                    "id": "C2",
                    "title": "review",
                    "effectiveness": 0.5,
                    "frameworks": {"iso-42001": ["A.9.2"], "sg-genai": ["accountability"]},
                },
            ],
        },
        {"id": "R2", "title": "leak", "category": "privacy", "impact": 3, "likelihood": 3},
    ]
}


def write(tmp_path: Path, data: object, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return p


def test_scores_levels_and_mapping(tmp_path: Path) -> None:
    risks = load_register(write(tmp_path, REGISTER))
    r1, r2 = risks
    assert r1.inherent == 20 and r1.residual == 20 * 0.25 * 0.5
    assert r2.residual == 9 and level(9) == "medium" and level(2.5) == "low" and level(20) == "critical"
    m = risk_metrics(risks, classify_ai_act(None))
    assert m["max_inherent"] == 20 and m["max_residual"] == 9 and m["unmitigated_count"] == 1
    assert m["residual_levels"] == {"low": 1, "medium": 1, "high": 0, "critical": 0}
    # every risk and control is mapped onto all three frameworks
    for r in m["risks"].values():
        for entity in (r, *r["controls"]):
            assert all(entity["frameworks"].get(fw) for fw in mappings.RISK_FRAMEWORKS)
    c2 = m["risks"]["R1"]["controls"][1]["frameworks"]
    assert "A.9.2" in c2["iso-42001"] and "A.5.4" in c2["iso-42001"]  # own + the risk's category mapping
    assert m["ai_act"]["classification"] == "not-assessed"


def test_heat_map_places_risks(tmp_path: Path) -> None:
    md = with_report(run_risk(write(tmp_path, REGISTER), None)).artefacts["risk_scorecard.md"]
    assert "| 5 | · | · | · | R1 | · |" in md
    assert "| 3 | · | · | R2 | · | · |" in md


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r["risks"][0].update(impact=6), "r.yaml:5: risks.0.impact: impact must be a whole number"),
        (lambda r: r["risks"][0].update(category="vibes"), "unknown category 'vibes'"),
        (lambda r: r["risks"][1].update(id="R1"), "duplicate risk id 'R1'"),
        (lambda r: r["risks"][0]["controls"][0].update(effectiveness="great"), "effectiveness must be"),
        (
            lambda r: r["risks"][0]["controls"][1]["frameworks"].update({"iso-42001": ["A.99"]}),
            "unknown iso-42001 ID 'A.99'",
        ),
        (lambda r: r["risks"][0].pop("title"), "title is required"),
        (lambda r: r.update(risks=[]), "non-empty list of risks"),
    ],
)
def test_register_errors_name_file_line_field(tmp_path: Path, mutate, needle: str) -> None:
    import copy

    data = copy.deepcopy(REGISTER)
    mutate(data)
    with pytest.raises(ConfigError) as e:
        load_register(write(tmp_path, data))
    assert needle in str(e.value)


NO = dict.fromkeys(mappings.eu_ai_act()["prohibited_practices"], False)


def answers(tmp_path: Path, **kw: object) -> Path:
    data: dict[str, object] = {"prohibited_practices": dict(NO)}
    data.update(kw)
    return write(tmp_path, data, "ai_act.yaml")


def test_ai_act_minimal(tmp_path: Path) -> None:
    out = classify_ai_act(answers(tmp_path))
    assert out["classification"] == "minimal" and out["assessed"] is True


def test_ai_act_prohibited_wins(tmp_path: Path) -> None:
    out = classify_ai_act(
        answers(
            tmp_path,
            prohibited_practices={**NO, "social_scoring": True},
            annex_iii_area="employment",
            transparency={"interacts_with_people": True},
        )
    )
    assert out["classification"] == "prohibited"
    assert out["rule"] == "prohibited_practices.social_scoring" and out["article"] == "Art. 5(1)(c)"
    assert out["applies_from"] == mappings.eu_ai_act()["dates"]["prohibitions"]
    assert {o["class"] for o in out["obligations"]} == {"prohibited", "high-risk", "transparency"}


def test_ai_act_high_risk_annex_iii_and_derogation(tmp_path: Path) -> None:
    out = classify_ai_act(answers(tmp_path, annex_iii_area="employment"))
    assert out["classification"] == "high-risk" and out["article"] == "Art. 6(2), Annex III(4)"
    out = classify_ai_act(answers(tmp_path, annex_iii_area="employment", annex_iii_derogation=True))
    assert out["classification"] == "minimal"
    out = classify_ai_act(answers(tmp_path, annex_iii_area="employment", annex_iii_derogation=True, profiling=True))
    assert out["classification"] == "high-risk"  # Art. 6(3): profiling is always high-risk


def test_ai_act_annex_i_and_transparency(tmp_path: Path) -> None:
    out = classify_ai_act(answers(tmp_path, annex_i_safety_component=True))
    assert out["classification"] == "high-risk" and out["article"] == "Art. 6(1)"
    assert out["applies_from"] == "2027-08-02"
    out = classify_ai_act(answers(tmp_path, transparency={"generates_synthetic_content": True}))
    assert out["classification"] == "transparency" and out["article"] == "Art. 50(2)"


def test_ai_act_dates_are_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    act = dict(mappings.eu_ai_act())
    act["dates"] = {**act["dates"], "transparency": "2099-01-01"}
    monkeypatch.setattr(mappings, "eu_ai_act", lambda: act)
    out = classify_ai_act(answers(tmp_path, transparency={"deep_fake": True}))
    assert out["applies_from"] == "2099-01-01"


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"prohibited_practices": {"social_scoring": False}}, "unanswered: subliminal_manipulation"),
        ({"annex_iii_area": "gaming"}, "unknown Annex III area 'gaming'"),
        ({"transparency": {"chatbot": True}}, "unknown question 'chatbot'"),
        ({"profiling": "yes"}, "expected true or false"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_ai_act_answer_errors(tmp_path: Path, kw: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        classify_ai_act(answers(tmp_path, **kw))


def test_mapping_tables_are_consistent() -> None:
    ids = mappings.control_ids()
    assert "nist-ai-rmf:MEASURE 2.11" in ids and "iso-42001:A.7.4" in ids and "sg-genai:data" in ids
    assert len(mappings.titles("sg-genai")) == 9
    assert len([c for c in mappings.titles("nist-ai-rmf") if c.startswith("MEASURE 2.")]) == 13
    for cat, fws in mappings.category_map().items():
        assert set(fws) == set(mappings.RISK_FRAMEWORKS), cat
        for fw, cids in fws.items():
            for cid in cids:
                assert f"{fw}:{cid}" in ids, (cat, fw, cid)
    act = mappings.eu_ai_act()
    assert len(act["prohibited_practices"]) == 8 and len(act["annex_iii_areas"]) == 8
