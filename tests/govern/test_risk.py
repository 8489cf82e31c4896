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
    assert r1.inherent == 20 and r1.claimed_residual == 20 * 0.25 * 0.5
    assert r1.residual == 20  # no control names evidence: declared effectiveness lowers nothing
    assert r2.residual == 9 and level(9) == "medium" and level(2.5) == "low" and level(20) == "critical"
    m = risk_metrics(risks, classify_ai_act(None))
    assert m["max_inherent"] == 20 and m["max_residual"] == 20 and m["unmitigated_count"] == 1
    assert m["max_claimed_residual"] == 9 and m["unevidenced_controls"] == ["R1/C1", "R1/C2"]
    assert m["residual_levels"] == {"low": 0, "medium": 1, "high": 0, "critical": 1}
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


def articles(out: dict) -> set[str]:
    return {o["article"] for o in out["obligations"]}


def test_ai_act_minimal_still_owes_ai_literacy(tmp_path: Path) -> None:
    out = classify_ai_act(answers(tmp_path))
    assert out["classification"] == "minimal" and out["assessed"] is True
    assert articles(out) == {"Art. 4", "Art. 95"}  # Art. 4 applies to every provider and deployer
    assert out["unevidenced"] == ["Art. 4 (AI literacy of staff dealing with the system)"]  # Art. 95 is voluntary


def test_ai_act_prohibited_wins(tmp_path: Path) -> None:
    out = classify_ai_act(
        answers(
            tmp_path,
            prohibited_practices={**NO, "social_scoring": True},
            annex_iii=["employment.recruitment"],
            transparency={"interacts_with_people": True},
        )
    )
    assert out["classification"] == "prohibited"
    assert out["rule"] == "prohibited_practices.social_scoring" and out["article"] == "Art. 5(1)(c)"
    assert out["applies_from"] == mappings.eu_ai_act()["dates"]["prohibitions"]
    assert {t["class"] for t in out["triggers"]} == {"prohibited", "high-risk", "transparency"}


HIGH_RISK_PROVIDER = {
    "Art. 9",
    "Art. 10",
    "Art. 11",
    "Art. 12",
    "Art. 13",
    "Art. 14",
    "Art. 15",
    "Art. 16",
    "Art. 17",
    "Art. 43",
    "Art. 47",
    "Art. 48",
    "Art. 49",
    "Art. 72",
    "Art. 73",
}


def test_ai_act_annex_iii_is_decided_at_point_level(tmp_path: Path) -> None:
    out = classify_ai_act(answers(tmp_path, annex_iii=["employment.recruitment"]))
    assert out["classification"] == "high-risk" and out["article"] == "Art. 6(2), Annex III(4)(a)"
    assert articles(out) >= HIGH_RISK_PROVIDER | {"Art. 4", "Art. 26", "Art. 86"}
    assert "Art. 27" not in articles(out) and out["fria_required"] is False  # 4(a): no FRIA for a private employer
    with pytest.raises(ConfigError, match="unknown Annex III point 'employment'; points: employment.recruitment"):
        classify_ai_act(answers(tmp_path, annex_iii=["employment"]))
    with pytest.raises(ConfigError, match="name the Annex III point, not the area"):
        classify_ai_act(answers(tmp_path, annex_iii_area="employment"))


def test_ai_act_6_3_exemption_needs_a_condition_and_no_profiling(tmp_path: Path) -> None:
    kw = {"annex_iii": ["employment.recruitment"], "annex_iii_exemption": {"preparatory_task": True}}
    out = classify_ai_act(answers(tmp_path, **kw))
    assert out["classification"] == "minimal" and out["article"] == "Art. 6(3)"
    assert out["exemption"]["applies"] is True and out["exemption"]["articles"] == ["Art. 6(3)(d)"]
    assert {"Art. 6(4)", "Art. 49(2)", "Art. 4"} <= articles(out)  # documented assessment and registration
    out = classify_ai_act(answers(tmp_path, profiling=True, **kw))
    assert out["classification"] == "high-risk"  # Art. 6(3), last subparagraph: profiling is always high-risk
    assert out["exemption"]["applies"] is False and "profiles natural persons" in out["exemption"]["refused"]


def test_ai_act_credit_scoring_deployer_needs_a_fria(tmp_path: Path) -> None:
    out = classify_ai_act(answers(tmp_path, annex_iii=["essential_services.creditworthiness"], profiling=True))
    assert out["fria_required"] is True and out["fria_complete"] is False and "Art. 27" in articles(out)
    assert out["fria_missing_fields"][0] == "deployer_processes"
    only_provider = classify_ai_act(
        answers(tmp_path, roles=["provider"], annex_iii=["essential_services.creditworthiness"])
    )
    assert only_provider["fria_required"] is False  # Art. 27 binds deployers
    assert "Art. 26" not in articles(only_provider) and HIGH_RISK_PROVIDER <= articles(only_provider)
    public = classify_ai_act(
        answers(tmp_path, annex_iii=["education.learning_outcomes"], public_body_or_public_service=True)
    )
    assert public["fria_required"] is True
    grid = classify_ai_act(
        answers(tmp_path, annex_iii=["critical_infrastructure.safety_component"], public_body_or_public_service=True)
    )
    assert grid["fria_required"] is False  # Art. 27(1) leaves out Annex III point 2
    assert "Art. 86" in articles(public)
    assert "Art. 86" not in articles(grid)  # Art. 86(1) leaves out Annex III point 2 too


def _annex_iii_points() -> list[tuple[str, str]]:
    act = mappings.eu_ai_act()
    return [(f"{area}.{name}", e["article"]) for area, e in act["annex_iii"].items() for name in e["points"]]


def test_ai_act_table_covers_every_annex_iii_point_number() -> None:
    numbers = {article for _, article in _annex_iii_points()}
    assert numbers == {f"Annex III({n})" for n in range(1, 9)}


@pytest.mark.parametrize(("point", "article"), _annex_iii_points())
def test_ai_act_art_86_applies_to_every_annex_iii_point_but_point_2(tmp_path: Path, point: str, article: str) -> None:
    """Art. 86(1): a high-risk AI system listed in Annex III, "with the exception of systems listed under point 2"."""
    out = classify_ai_act(answers(tmp_path, annex_iii=[point]))
    assert out["classification"] == "high-risk"
    assert ("Art. 86" in articles(out)) == (article != "Annex III(2)"), (point, article)
    provider = classify_ai_act(answers(tmp_path, roles=["provider"], annex_iii=[point]))
    assert "Art. 86" not in articles(provider)  # the deployer's duty


def test_ai_act_art_86_follows_the_points_that_make_the_system_high_risk(tmp_path: Path) -> None:
    grid_and_credit = ["critical_infrastructure.safety_component", "essential_services.creditworthiness"]
    assert "Art. 86" in articles(classify_ai_act(answers(tmp_path, annex_iii=grid_and_credit)))
    # an Annex III point exempt under Art. 6(3) brings no Art. 86 to a system that is high-risk under Art. 6(1)
    both = {"safety_component_or_product": True, "third_party_conformity_assessment": True}
    out = classify_ai_act(
        answers(
            tmp_path,
            annex_i=both,
            annex_iii=["employment.recruitment"],
            annex_iii_exemption={"preparatory_task": True},
            public_body_or_public_service=True,
        )
    )
    assert out["classification"] == "high-risk" and out["article"] == "Art. 6(1)"
    assert "Art. 86" not in articles(out) and HIGH_RISK_PROVIDER <= articles(out)
    assert out["fria_required"] is False  # Art. 27(1): systems high-risk under Art. 6(2) only
    assert {o["applies_from"] for o in out["obligations"] if o["class"] == "high-risk"} == {"2027-08-02"}


def test_ai_act_fria_counts_when_every_element_is_answered(tmp_path: Path) -> None:
    from llmops_cli.govern.mappings import eu_ai_act

    fields = dict.fromkeys(eu_ai_act()["fria_fields"], "TBD")
    write(tmp_path, fields, "fria.yaml")
    kw = {"annex_iii": ["essential_services.life_health_insurance"], "fria": "fria.yaml"}
    out = classify_ai_act(answers(tmp_path, **kw))
    assert out["fria_complete"] is False and len(out["fria_missing_fields"]) == 7  # TBD is not an answer
    write(
        tmp_path,
        {**{k: "Described in section 2 of the pricing manual." for k in fields}, "authority_notified": "-"},
        "fria.yaml",
    )
    out = classify_ai_act(answers(tmp_path, **kw))
    assert out["fria_missing_fields"] == ["authority_notified"]
    write(tmp_path, {k: f"{k} answered" for k in fields}, "fria.yaml")
    out = classify_ai_act(answers(tmp_path, **kw))
    assert out["fria_complete"] is True and out["fria"]["sha256"]
    fria = next(o for o in out["obligations"] if o["article"] == "Art. 27")
    assert fria["evidenced"] is True and fria["evidence"] == ["fria.yaml"]


def test_ai_act_annex_i_needs_both_conditions(tmp_path: Path) -> None:
    out = classify_ai_act(answers(tmp_path, annex_i={"safety_component_or_product": True}))
    assert out["classification"] == "minimal"  # no third-party conformity assessment: Art. 6(1) does not apply
    both = {"safety_component_or_product": True, "third_party_conformity_assessment": True}
    out = classify_ai_act(answers(tmp_path, annex_i=both))
    assert out["classification"] == "high-risk" and out["article"] == "Art. 6(1)"
    assert out["applies_from"] == "2027-08-02" and "Art. 86" not in articles(out)  # Art. 86: Annex III only
    assert HIGH_RISK_PROVIDER <= articles(out)
    out = classify_ai_act(answers(tmp_path, transparency={"generates_synthetic_content": True}))
    assert out["classification"] == "transparency" and out["article"] == "Art. 50(2)"
    assert "Art. 50(2)" in articles(out)


def test_ai_act_gpai_providers_are_not_minimal(tmp_path: Path) -> None:
    out = classify_ai_act(answers(tmp_path, general_purpose_ai={"provider": True, "systemic_risk": False}))
    assert out["classification"] == "general-purpose-ai" and out["article"] == "Art. 53"
    assert {"Art. 53(1)(a)", "Art. 53(1)(b)", "Art. 53(1)(c)", "Art. 53(1)(d)", "Art. 4"} <= articles(out)
    assert "Art. 95" not in articles(out)
    open_model = classify_ai_act(
        answers(
            tmp_path,
            general_purpose_ai={
                "provider": True,
                "systemic_risk": False,
                "open_source": True,
                "established_outside_eu": True,
            },
        )
    )
    assert {"Art. 53(1)(a)", "Art. 53(1)(b)", "Art. 54"}.isdisjoint(articles(open_model))  # Art. 53(2), 54(6)
    big = classify_ai_act(
        answers(tmp_path, general_purpose_ai={"provider": True, "training_compute_flops": 3e25, "open_source": True})
    )
    assert big["classification"] == "general-purpose-ai-systemic-risk"  # Art. 51(2): presumed above 1e25
    assert {"Art. 52", "Art. 55", "Art. 53(1)(a)"} <= articles(big)  # no open-source exemption with systemic risk
    with pytest.raises(ConfigError, match="systemic risk"):
        classify_ai_act(answers(tmp_path, general_purpose_ai={"provider": True}))


def test_ai_act_article_5_exceptions_are_expressible(tmp_path: Path) -> None:
    rbi = {"practice": True, "exception": "search_for_victims"}
    out = classify_ai_act(
        answers(tmp_path, prohibited_practices={**NO, "realtime_remote_biometric_id_law_enforcement": rbi})
    )
    assert out["classification"] == "high-risk"  # not prohibited; Annex III(1)(a) remote identification
    assert "biometrics.remote_identification" in out["annex_iii_points"]
    assert {"Art. 5(2)", "Art. 5(3)", "Art. 27", "Art. 49"} <= articles(out) and out["fria_required"] is True
    emotion = {"practice": True, "exception": "medical_or_safety"}
    out = classify_ai_act(answers(tmp_path, prohibited_practices={**NO, "emotion_recognition_work_education": emotion}))
    assert out["classification"] == "high-risk" and "biometrics.emotion_recognition" in out["annex_iii_points"]
    with pytest.raises(ConfigError, match="the Article allows: search_for_victims, imminent_threat"):
        bad = {"practice": True, "exception": "convenience"}
        classify_ai_act(
            answers(tmp_path, prohibited_practices={**NO, "realtime_remote_biometric_id_law_enforcement": bad})
        )
    with pytest.raises(ConfigError, match="this practice has no exception"):
        bad = {"practice": True, "exception": "x"}
        classify_ai_act(answers(tmp_path, prohibited_practices={**NO, "social_scoring": bad}))


def test_ai_act_evidence_files_are_checked_and_hashed(tmp_path: Path) -> None:
    (tmp_path / "logging.md").write_text("logs are kept 6 months")
    out = classify_ai_act(
        answers(
            tmp_path, annex_iii=["employment.recruitment"], evidence={"Art. 12": "logging.md", "Art. 15": ["gone.md"]}
        )
    )
    by = {o["article"]: o for o in out["obligations"]}
    assert by["Art. 12"]["evidenced"] is True and by["Art. 15"]["evidenced"] is False
    assert out["evidence_files"]["Art. 12"][0]["sha256"]
    assert "Art. 12 (Record-keeping (automatic logs))" not in out["unevidenced"]
    with pytest.raises(ConfigError, match="unknown article 'Art. 999'"):
        classify_ai_act(answers(tmp_path, evidence={"Art. 999": "x.md"}))


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
        ({"annex_iii": ["gaming.slots"]}, "unknown Annex III point 'gaming.slots'"),
        ({"transparency": {"chatbot": True}}, "unknown question 'chatbot'"),
        ({"profiling": "yes"}, "expected true or false"),
        ({"colour": 1}, "unknown key 'colour'"),
        ({"roles": ["user"]}, "roles must be a list of provider and/or deployer"),
        ({"annex_i_safety_component": True}, "answer both Art. 6\\(1\\) conditions"),
        ({"annex_iii_derogation": True}, "answer the Art. 6\\(3\\) conditions"),
        ({"general_purpose_ai": True}, "expected a mapping"),
    ],
)
def test_ai_act_answer_errors(tmp_path: Path, kw: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        classify_ai_act(answers(tmp_path, **kw))


def test_ai_act_table_entries_have_only_known_fields() -> None:
    """A comma in an unquoted flow-mapping title cut it short and added a stray key (the old table did)."""
    known = {
        "article",
        "point",
        "title",
        "role",
        "annex_iii",
        "fria",
        "obligations",
        "open_source_exempt",
        "date",
        "voluntary",
        "annex_iii_only",
        "annex_iii_except",
        "exceptions",
        "points",
    }
    act = mappings.eu_ai_act()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if ("title" in node and "article" in node) or "point" in node:
                assert set(node) <= known, node
                assert all(v is not None for v in node.values()), node
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk({k: v for k, v in act.items() if k not in ("controls", "dates", "fria_fields")})
    for entry in act["obligations"]["high_risk"]:
        assert entry["article"] in act["controls"], entry
        assert set(entry.get("annex_iii_except", ())) <= set(act["annex_iii"]), entry


def test_control_effectiveness_counts_only_with_named_evidence(tmp_path: Path) -> None:
    import copy

    data = copy.deepcopy(REGISTER)
    (tmp_path / "scan.md").write_text("the scan runs in CI")
    data["risks"][0]["controls"][0]["evidence"] = "scan.md"
    data["risks"][0]["controls"][1]["evidence"] = ["missing.md"]
    r1, _ = load_register(write(tmp_path, data))
    assert r1.residual == 20 * 0.25  # C1's evidence exists; C2's does not
    assert r1.claimed_residual == 20 * 0.25 * 0.5
    m = risk_metrics([r1], classify_ai_act(None))
    assert m["unevidenced_controls"] == ["R1/C2"]
    assert m["risks"]["R1"]["controls"][0]["evidence"][0]["sha256"]


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
    assert len(act["prohibited_practices"]) == 8 and len(act["annex_iii"]) == 8
    assert sum(len(a["points"]) for a in act["annex_iii"].values()) == 25
