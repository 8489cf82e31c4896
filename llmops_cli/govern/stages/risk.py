"""Risk scorecard: inherent and residual scores per risk, a 5×5 heat map, the EU AI Act class with the rule
and article that decided it, and each risk and control mapped onto NIST AI RMF, ISO/IEC 42001 Annex A and
Singapore's GenAI framework.

Scores: inherent = impact × likelihood (1–25). Controls reduce it multiplicatively: residual =
inherent × Π(1 − effectiveness), effectiveness in [0, 1] or none/low/medium/high (0, 0.25, 0.5, 0.75).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_cli.govern import mappings
from llmops_cli.govern.io import YamlDoc, read_yaml
from llmops_cli.govern.stages import StageResult

EFFECTIVENESS = {"none": 0.0, "low": 0.25, "medium": 0.5, "high": 0.75}
RISK_KEYS = (
    "id",
    "title",
    "description",
    "category",
    "impact",
    "likelihood",
    "owner",
    "controls",
    "frameworks",
    "measured_by",
)
CONTROL_KEYS = ("id", "title", "description", "effectiveness", "owner", "frameworks")
ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
LEVELS = (("low", 5.0), ("medium", 10.0), ("high", 15.0), ("critical", 26.0))

METRICS_SCHEMA: dict[str, Any] = {
    "count": None,
    "max_inherent": None,
    "max_residual": None,
    "mean_residual": None,
    "residual_levels": {"low": None, "medium": None, "high": None, "critical": None},
    "unmitigated_count": None,
    "risks": {
        "*": {
            k: None
            for k in (
                "title",
                "category",
                "impact",
                "likelihood",
                "inherent",
                "residual",
                "level",
                "owner",
                "frameworks",
                "controls",
            )
        }
    },
    "ai_act": {
        "classification": None,
        "rule": None,
        "article": None,
        "applies_from": None,
        "assessed": None,
        "obligations": None,
    },
}


def level(score: float) -> str:
    for name, upper in LEVELS:
        if score < upper:
            return name
    return "critical"


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    effectiveness: float
    owner: str | None
    frameworks: dict[str, list[str]]


@dataclass(frozen=True)
class Risk:
    id: str
    title: str
    category: str
    impact: int
    likelihood: int
    owner: str | None
    controls: tuple[Control, ...]
    frameworks: dict[str, list[str]]
    description: str | None = None

    @property
    def inherent(self) -> int:
        return self.impact * self.likelihood

    @property
    def residual(self) -> float:
        keep = 1.0
        for c in self.controls:
            keep *= 1.0 - c.effectiveness
        return round(self.inherent * keep, 2)


# ----------------------------------------------------------------------------------------- register
def load_register(path: Path) -> list[Risk]:
    doc = read_yaml(path, "risk register")
    for key in doc.data:
        if key not in ("risks", "version"):
            raise doc.error(f"unknown key {key!r}; known keys: risks, version", str(key))
    raw = doc.data.get("risks")
    if not isinstance(raw, list) or not raw:
        raise doc.error("expected a non-empty list of risks", "risks")
    categories = mappings.category_map()
    risks: list[Risk] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        at = ("risks", str(i))
        if not isinstance(item, dict):
            raise doc.error("each risk must be a mapping (id, title, category, impact, likelihood, ...)", *at)
        _known(doc, item, RISK_KEYS, at)
        rid = _id(doc, item, at)
        if rid in seen:
            raise doc.error(f"duplicate risk id {rid!r}", *at, "id")
        seen.add(rid)
        title = _text(doc, item, "title", at)
        category = item.get("category")
        if category not in categories:
            raise doc.error(f"unknown category {category!r}; categories: {', '.join(categories)}", *at, "category")
        impact = _score(doc, item, "impact", at)
        likelihood = _score(doc, item, "likelihood", at)
        owner = item.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise doc.error("owner must be text", *at, "owner")
        frameworks = _merge(categories[category], _frameworks(doc, item.get("frameworks"), (*at, "frameworks")))
        controls_raw = item.get("controls") or []
        if not isinstance(controls_raw, list):
            raise doc.error("controls must be a list", *at, "controls")
        controls = []
        cseen: set[str] = set()
        for j, c in enumerate(controls_raw):
            cat = (*at, "controls", str(j))
            if not isinstance(c, dict):
                raise doc.error("each control must be a mapping (id, title, effectiveness)", *cat)
            _known(doc, c, CONTROL_KEYS, cat)
            cid = _id(doc, c, cat)
            if cid in cseen:
                raise doc.error(f"duplicate control id {cid!r} in risk {rid}", *cat, "id")
            cseen.add(cid)
            ctitle = _text(doc, c, "title", cat)
            eff = _effectiveness(doc, c.get("effectiveness"), cat)
            cowner = c.get("owner")
            if cowner is not None and not isinstance(cowner, str):
                raise doc.error("owner must be text", *cat, "owner")
            cfw = _merge(frameworks, _frameworks(doc, c.get("frameworks"), (*cat, "frameworks")))
            controls.append(Control(cid, ctitle, eff, cowner, cfw))
        desc = item.get("description")
        risks.append(
            Risk(
                rid,
                title,
                category,
                impact,
                likelihood,
                owner,
                tuple(controls),
                frameworks,
                str(desc) if desc is not None else None,
            )
        )
    return risks


def _known(doc: YamlDoc, item: dict[str, Any], keys: tuple[str, ...], at: tuple[str, ...]) -> None:
    for key in item:
        if key not in keys:
            raise doc.error(f"unknown key {key!r}; known keys: {', '.join(keys)}", *at, str(key))


def _id(doc: YamlDoc, item: dict[str, Any], at: tuple[str, ...]) -> str:
    value = item.get("id")
    if value is None or not re.fullmatch(ID, str(value)):
        raise doc.error("id is required: letters, digits, '.', '_' or '-'", *at, "id")
    return str(value)


def _text(doc: YamlDoc, item: dict[str, Any], key: str, at: tuple[str, ...]) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise doc.error(f"{key} is required (text)", *at, key)
    return value.strip()


def _score(doc: YamlDoc, item: dict[str, Any], key: str, at: tuple[str, ...]) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise doc.error(f"{key} must be a whole number from 1 to 5, got {value!r}", *at, key)
    return value


def _effectiveness(doc: YamlDoc, value: Any, at: tuple[str, ...]) -> float:
    if isinstance(value, str) and value.lower() in EFFECTIVENESS:
        return EFFECTIVENESS[value.lower()]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= float(value) <= 1.0:
        return float(value)
    raise doc.error(
        f"effectiveness must be none, low, medium, high or a number from 0 to 1, got {value!r}",
        *at,
        "effectiveness",
    )


def _frameworks(doc: YamlDoc, raw: Any, at: tuple[str, ...]) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise doc.error(f"expected a mapping of framework -> IDs ({', '.join(mappings.RISK_FRAMEWORKS)})", *at)
    out: dict[str, list[str]] = {}
    for fw, ids in raw.items():
        if fw not in mappings.FRAMEWORKS:
            raise doc.error(f"unknown framework {fw!r}; frameworks: {', '.join(mappings.FRAMEWORKS)}", *at, str(fw))
        if not isinstance(ids, list):
            raise doc.error("expected a list of IDs", *at, str(fw))
        known = mappings.titles(fw)
        for k, cid in enumerate(ids):
            if str(cid) not in known:
                raise doc.error(f"unknown {fw} ID {cid!r}", *at, str(fw), str(k), hint="see llmops_cli/govern/data/")
        out[fw] = [str(c) for c in ids]
    return out


def _merge(base: dict[str, list[str]], extra: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {fw: list(ids) for fw, ids in base.items()}
    for fw, ids in extra.items():
        out[fw] = list(dict.fromkeys([*out.get(fw, []), *ids]))
    return out


# ----------------------------------------------------------------------------------------- EU AI Act
ANSWER_KEYS = (
    "prohibited_practices",
    "annex_i_safety_component",
    "annex_iii_area",
    "annex_iii_derogation",
    "profiling",
    "transparency",
    "general_purpose_ai",
)


def classify_ai_act(path: Path | None) -> dict[str, Any]:
    """The EU AI Act class from the answers file, with the rule and article that decided it."""
    if path is None:
        return {
            "classification": "not-assessed",
            "rule": None,
            "article": None,
            "applies_from": None,
            "assessed": False,
            "obligations": [],
        }
    act = mappings.eu_ai_act()
    dates = act["dates"]
    doc = read_yaml(path, "EU AI Act answers")
    for key in doc.data:
        if key not in ANSWER_KEYS:
            raise doc.error(f"unknown key {key!r}; known keys: {', '.join(ANSWER_KEYS)}", str(key))
    prohibited = _bool_map(doc, "prohibited_practices", act["prohibited_practices"], require_all=True)
    transparency = _bool_map(doc, "transparency", act["transparency"], require_all=False)
    annex_i = _bool(doc, "annex_i_safety_component")
    derogation = _bool(doc, "annex_iii_derogation")
    profiling = _bool(doc, "profiling")
    gpai = _bool(doc, "general_purpose_ai")
    area = doc.data.get("annex_iii_area")
    if area is not None and area not in act["annex_iii_areas"]:
        raise doc.error(
            f"unknown Annex III area {area!r}; areas: {', '.join(act['annex_iii_areas'])} (or null)",
            "annex_iii_area",
        )
    obligations: list[dict[str, Any]] = []
    for key, hit in prohibited.items():
        if hit:
            entry = act["prohibited_practices"][key]
            obligations.append(_ob("prohibited", f"prohibited_practices.{key}", entry, dates["prohibitions"]))
    if annex_i:
        obligations.append(
            _ob(
                "high-risk",
                "annex_i_safety_component",
                {"article": "Art. 6(1)", "title": "Safety component of an Annex I product"},
                dates["high_risk_annex_i"],
            )
        )
    if area is not None:
        entry = act["annex_iii_areas"][area]
        if derogation and not profiling:
            obligations.append(
                _ob(
                    "minimal",
                    "annex_iii_derogation",
                    {"article": "Art. 6(3)", "title": f"{entry['title']}: derogation, no significant risk"},
                    dates["high_risk_annex_iii"],
                )
            )
        else:
            art = {"article": f"Art. 6(2), {entry['article']}", "title": entry["title"]}
            obligations.append(_ob("high-risk", f"annex_iii_area.{area}", art, dates["high_risk_annex_iii"]))
    for key, hit in transparency.items():
        if hit:
            entry = act["transparency"][key]
            obligations.append(_ob("transparency", f"transparency.{key}", entry, dates["transparency"]))
    if gpai:
        obligations.append(
            _ob(
                "gpai",
                "general_purpose_ai",
                {"article": "Art. 53", "title": "Provider of a general-purpose AI model"},
                dates["general_purpose_ai"],
            )
        )
    order = ("prohibited", "high-risk", "transparency")
    decided = next((o for cls in order for o in obligations if o["class"] == cls), None)
    if decided is None:
        return {
            "classification": "minimal",
            "rule": "no prohibited practice, high-risk use or transparency trigger",
            "article": "Art. 95 (voluntary codes of conduct)",
            "applies_from": None,
            "assessed": True,
            "obligations": obligations,
        }
    return {
        "classification": decided["class"],
        "rule": decided["rule"],
        "article": decided["article"],
        "applies_from": decided["applies_from"],
        "assessed": True,
        "obligations": obligations,
    }


def _ob(cls: str, rule: str, entry: dict[str, Any], date: str) -> dict[str, Any]:
    return {
        "class": cls,
        "rule": rule,
        "article": entry["article"],
        "title": entry["title"],
        "applies_from": date,
    }


def _bool(doc: YamlDoc, key: str) -> bool:
    value = doc.data.get(key, False)
    if not isinstance(value, bool):
        raise doc.error(f"expected true or false, got {value!r}", key)
    return value


def _bool_map(doc: YamlDoc, key: str, known: dict[str, Any], *, require_all: bool) -> dict[str, bool]:
    raw = doc.data.get(key) or {}
    if not isinstance(raw, dict):
        raise doc.error("expected a mapping of question -> true/false", key)
    for k, v in raw.items():
        if k not in known:
            raise doc.error(f"unknown question {k!r}; questions: {', '.join(known)}", key, str(k))
        if not isinstance(v, bool):
            raise doc.error(f"expected true or false, got {v!r}", key, str(k))
    if require_all:
        missing = [k for k in known if k not in raw]
        if missing:
            raise doc.error(
                f"unanswered: {', '.join(missing)}",
                key,
                hint="answer every prohibited-practice question with true or false",
            )
    return {k: bool(raw.get(k, False)) for k in known}


# ----------------------------------------------------------------------------------------- the stage
def risk_metrics(risks: list[Risk], ai_act: dict[str, Any]) -> dict[str, Any]:
    residuals = [r.residual for r in risks]
    levels = {name: 0 for name, _ in LEVELS}
    for r in residuals:
        levels[level(r)] += 1
    return {
        "count": len(risks),
        "max_inherent": max(r.inherent for r in risks),
        "max_residual": max(residuals),
        "mean_residual": round(sum(residuals) / len(residuals), 4),
        "residual_levels": levels,
        "unmitigated_count": sum(1 for r in risks if not r.controls),
        "risks": {
            r.id: {
                "title": r.title,
                "category": r.category,
                "impact": r.impact,
                "likelihood": r.likelihood,
                "inherent": r.inherent,
                "residual": r.residual,
                "level": level(r.residual),
                "owner": r.owner,
                "frameworks": r.frameworks,
                "controls": [
                    {
                        "id": c.id,
                        "title": c.title,
                        "effectiveness": c.effectiveness,
                        "owner": c.owner,
                        "frameworks": c.frameworks,
                    }
                    for c in r.controls
                ],
            }
            for r in risks
        },
        "ai_act": ai_act,
    }


def run_risk(
    register: Path, answers: Path | None, measured: Mapping[str, Mapping[str, float | None]] | None = None
) -> StageResult:
    risks = load_register(register)
    risks, notes = measured_likelihood(register, risks, measured or {})
    metrics = risk_metrics(risks, classify_ai_act(answers))
    for rid, note in notes.items():
        metrics["risks"][rid]["measured"] = note
    return StageResult("risk", metrics)


# ----------------------------------------------------------------------------------------- measured likelihood
# A risk may name failure rates a stage measures (`measured_by: [llm_eval.failure_rates.unsafe_compliance]`):
# when that stage ran, the risk's likelihood follows the worst named rate instead of the declared one.
# Bands (rate below the bound → likelihood): under 1 % rare (1), 5 % unlikely (2), 20 % possible (3),
# 50 % likely (4), else almost certain (5).
LIKELIHOOD_BANDS = ((0.01, 1), (0.05, 2), (0.20, 3), (0.50, 4))
METRICS_SCHEMA["risks"]["*"]["measured"] = None


def likelihood_of(rate: float) -> int:
    for bound, value in LIKELIHOOD_BANDS:
        if rate < bound:
            return value
    return 5


def measured_likelihood(
    register: Path, risks: list[Risk], measured: Mapping[str, Mapping[str, float | None]]
) -> tuple[list[Risk], dict[str, dict[str, Any]]]:
    """Risks with their likelihood replaced by the measured one where a stage measured it, and per risk
    that names measurements what was used (recorded in the scorecard)."""
    from dataclasses import replace

    from llmops_cli.govern.llmeval.score import FAILURE_RATES

    known = {f"llm_eval.failure_rates.{name}" for name in FAILURE_RATES}
    doc = read_yaml(register, "risk register")
    out: list[Risk] = []
    notes: dict[str, dict[str, Any]] = {}
    for i, (risk, raw) in enumerate(zip(risks, doc.data["risks"], strict=True)):
        names = raw.get("measured_by")
        if names is None:
            out.append(risk)
            continue
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list) or not names:
            raise doc.error(
                "measured_by must name failure rates, e.g. llm_eval.failure_rates.unsafe_compliance",
                "risks",
                str(i),
                "measured_by",
            )
        for j, name in enumerate(names):
            if name not in known:
                raise doc.error(
                    f"unknown failure rate {name!r}; known: {', '.join(sorted(known))}",
                    "risks",
                    str(i),
                    "measured_by",
                    str(j),
                )
        rates = {n: measured.get(n.split(".")[0], {}).get(n.rsplit(".", 1)[1]) for n in names}
        present = [r for r in rates.values() if r is not None]
        note: dict[str, Any] = {"by": names, "rates": rates, "declared_likelihood": risk.likelihood}
        if present:
            worst = max(present)
            note["likelihood"] = likelihood_of(worst)
            risk = replace(risk, likelihood=note["likelihood"])
        else:
            note["likelihood"] = None
            note["note"] = "not measured in this run: the declared likelihood applies"
        notes[risk.id] = note
        out.append(risk)
    return out, notes
