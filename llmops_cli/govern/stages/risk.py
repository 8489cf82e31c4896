"""Risk scorecard: inherent and residual scores per risk, a 5×5 heat map, the EU AI Act class with the rule
and article that decided it, and each risk and control mapped onto NIST AI RMF, ISO/IEC 42001 Annex A and
Singapore's GenAI framework.

Scores: inherent = impact × likelihood (1–25). Controls reduce it multiplicatively: residual =
inherent × Π(1 − effectiveness), effectiveness in [0, 1] or none/low/medium/high (0, 0.25, 0.5, 0.75).
Effectiveness is self-declared, so only a control that names its evidence (files that exist; they are hashed
into the scorecard) lowers the residual the gate reads; ``claimed_residual`` counts every control. Every file
named here (a control's or an article's evidence, the FRIA) decides the verdict, so the stage hands each one it
read back as a ``ReadFile``: the evidence manifest records it as an input like the register itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_cli.govern import mappings
from llmops_cli.govern.io import YamlDoc, read_yaml
from llmops_cli.govern.stages import ReadFile, StageResult
from llmops_cli.govern.stages.fields import present

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
CONTROL_KEYS = ("id", "title", "description", "effectiveness", "owner", "frameworks", "evidence")
ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
LEVELS = (("low", 5.0), ("medium", 10.0), ("high", 15.0), ("critical", 26.0))

METRICS_SCHEMA: dict[str, Any] = {
    "count": "int",
    "max_inherent": "int",
    "max_residual": "double",
    "max_claimed_residual": "double",
    "mean_residual": "double",
    "unevidenced_controls": "list",
    "residual_levels": {"low": "int", "medium": "int", "high": "int", "critical": "int"},
    "unmitigated_count": "int",
    "risks": {
        "*": {
            "title": "string",
            "category": "string",
            "impact": "int",
            "likelihood": "int",
            "inherent": "int",
            "residual": "double",
            "claimed_residual": "double",
            "level": "string",
            "owner": "string?",
            "frameworks": "map",
            "controls": "list[map]",
        }
    },
    "ai_act": {
        "classification": "string",
        "rule": "string?",
        "article": "string?",
        "applies_from": "string?",
        "assessed": "bool",
        "roles": "list",
        "annex_iii_points": "list",
        "exemption": "map?",
        "obligations": "list[map]",
        "unevidenced": "list",
        "fria_required": "bool",
        "fria_complete": "bool",
        "fria_missing_fields": "list",
        "fria": "map?",
        "triggers": "list[map]",
        "evidence_files": "map",
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
    evidence: tuple[dict[str, Any], ...] = ()  # {file, exists, sha256}

    @property
    def evidenced(self) -> bool:
        return bool(self.evidence) and all(e["exists"] for e in self.evidence)


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
        """After the controls whose evidence is named and present: what the gate reads."""
        return self._after([c for c in self.controls if c.evidenced])

    @property
    def claimed_residual(self) -> float:
        """After every control, as declared."""
        return self._after(list(self.controls))

    def _after(self, controls: list[Control]) -> float:
        keep = 1.0
        for c in controls:
            keep *= 1.0 - c.effectiveness
        return float(round(self.inherent * keep, 2))


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
            evidence = _control_evidence(doc, c.get("evidence"), path.parent, (*cat, "evidence"))
            controls.append(Control(cid, ctitle, eff, cowner, cfw, evidence))
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


def _control_evidence(doc: YamlDoc, raw: Any, base: Path, at: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    from llmops_cli.govern.io import sha256_file

    if raw is None:
        return ()
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise doc.error("evidence must be a file name or a list of file names (relative to this register)", *at)
    out = []
    for name in names:
        f = beside(base, name)
        out.append({"file": name, "exists": f.is_file(), "sha256": sha256_file(f) if f.is_file() else None})
    return tuple(out)


def beside(base: Path, name: str) -> Path:
    """A file named in a register or answers file: relative to that file's folder unless absolute."""
    return Path(name) if Path(name).is_absolute() else base / name


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
    "roles",
    "prohibited_practices",
    "annex_i",
    "annex_iii",
    "annex_iii_exemption",
    "profiling",
    "public_body_or_public_service",
    "transparency",
    "general_purpose_ai",
    "fria",
    "evidence",
)
ROLES = ("provider", "deployer")
GPAI_KEYS = ("provider", "systemic_risk", "training_compute_flops", "open_source", "established_outside_eu")
# Keys of the first answers format, and what replaced each (the law needs more than they asked).
RETIRED = {
    "annex_i_safety_component": "answer both Art. 6(1) conditions: annex_i: {safety_component_or_product: …, "
    "third_party_conformity_assessment: …}",
    "annex_iii_area": "name the Annex III point, not the area: annex_iii: [essential_services.creditworthiness]",
    "annex_iii_derogation": "answer the Art. 6(3) conditions: annex_iii_exemption: {narrow_procedural_task: …, "
    "improves_completed_human_activity: …, detects_patterns_with_human_review: …, preparatory_task: …}",
}
CLASS_ORDER = ("prohibited", "high-risk", "general-purpose-ai-systemic-risk", "general-purpose-ai", "transparency")


def not_assessed() -> dict[str, Any]:
    return {
        "classification": "not-assessed",
        "rule": None,
        "article": None,
        "applies_from": None,
        "assessed": False,
        "roles": [],
        "annex_iii_points": [],
        "exemption": None,
        "obligations": [],
        "unevidenced": [],
        "fria_required": False,
        "fria_complete": False,
        "fria_missing_fields": [],
        "fria": None,
    }


def classify_ai_act(path: Path | None) -> dict[str, Any]:
    """The EU AI Act class from the answers file, the rule and article that decided it, and every obligation
    of that class for the roles given, each with the evidence named for it."""
    if path is None:
        return not_assessed()
    act = mappings.eu_ai_act()
    dates = act["dates"]
    doc = read_yaml(path, "EU AI Act answers")
    for key in doc.data:
        if key in RETIRED:
            raise doc.error(f"{key!r} is no longer asked", key, hint=RETIRED[key])
        if key not in ANSWER_KEYS:
            raise doc.error(f"unknown key {key!r}; known keys: {', '.join(ANSWER_KEYS)}", str(key))
    roles = _roles(doc)
    found: list[dict[str, Any]] = []  # what the answers trigger: {class, rule, article, title, applies_from}
    extra: list[str] = []  # obligations (articles) an exception brings

    # Art. 5: prohibited, unless an exception the Article makes applies
    points = _annex_iii_points(doc, act)
    for key, answer in _prohibited(doc, act).items():
        entry = act["prohibited_practices"][key]
        if answer is True:
            found.append(_hit("prohibited", f"prohibited_practices.{key}", entry, dates["prohibitions"]))
        elif isinstance(answer, str):
            exc = entry["exceptions"][answer]
            found.append(_hit("exception", f"prohibited_practices.{key}.{answer}", exc, dates["prohibitions"]))
            if exc["annex_iii"] not in points:
                points.append(exc["annex_iii"])
            extra += list(exc.get("obligations", []))

    # Art. 6(1): both conditions
    annex_i = _bool_map(
        doc, "annex_i", {"safety_component_or_product": 0, "third_party_conformity_assessment": 0}, require_all=False
    )
    if annex_i["safety_component_or_product"] and annex_i["third_party_conformity_assessment"]:
        found.append(
            _hit(
                "high-risk",
                "annex_i",
                {
                    "article": "Art. 6(1)",
                    "title": "Safety component of (or itself) an Annex I product that "
                    "needs third-party conformity assessment",
                },
                dates["high_risk_annex_i"],
            )
        )

    # Art. 6(2) and 6(3)
    profiling = _bool(doc, "profiling")
    exemption = _bool_map(doc, "annex_iii_exemption", act["annex_iii_exemption"], require_all=False)
    claimed = [k for k, v in exemption.items() if v]
    exempt = bool(points) and bool(claimed) and not profiling
    exemption_out = {
        "claimed": claimed,
        "articles": [act["annex_iii_exemption"][k]["article"] for k in claimed],
        "applies": exempt,
        "refused": "the system profiles natural persons (Art. 6(3), last subparagraph)"
        if claimed and points and profiling
        else None,
    }
    for point in points:
        area, _, name = point.partition(".")
        entry = act["annex_iii"][area]["points"][name]
        art = {"article": f"Art. 6(2), {entry['point']}", "title": entry["title"]}
        if exempt:
            found.append(_hit("exempt", f"annex_iii.{point}", art, dates["high_risk_annex_iii"]))
        else:
            found.append(_hit("high-risk", f"annex_iii.{point}", art, dates["high_risk_annex_iii"]))

    # Art. 50
    transparency = [k for k, v in _bool_map(doc, "transparency", act["transparency"], require_all=False).items() if v]
    for key in transparency:
        found.append(_hit("transparency", f"transparency.{key}", act["transparency"][key], dates["transparency"]))

    # Arts. 51-55
    gpai = _gpai(doc, act)
    if gpai["provider"]:
        cls = "general-purpose-ai-systemic-risk" if gpai["systemic_risk"] else "general-purpose-ai"
        art = {
            "article": "Arts. 51, 55" if gpai["systemic_risk"] else "Art. 53",
            "title": "Provider of a general-purpose AI model"
            + (" with systemic risk" if gpai["systemic_risk"] else ""),
        }
        found.append(_hit(cls, "general_purpose_ai", art, dates["general_purpose_ai"]))

    classes = {f["class"] for f in found}
    decided = next((f for cls in CLASS_ORDER for f in found if f["class"] == cls), None)
    public = _bool(doc, "public_body_or_public_service")
    high_risk_points = [] if exempt else points  # the Annex III points that make the system high-risk (Art. 6(2))
    fria_required = "deployer" in roles and (
        (
            "high-risk" in classes
            and any(
                (
                    p.startswith("essential_services.")
                    and act["annex_iii"]["essential_services"]["points"][p.split(".")[1]].get("fria")
                )
                or (public and not p.startswith("critical_infrastructure."))
                for p in high_risk_points
            )
        )
        or "Art. 27" in extra
    )
    obligations = _obligations(act, roles, classes, high_risk_points, gpai, fria_required, extra, transparency)
    evidence = _evidence(doc, path)
    fria = _fria(doc, path, act) if doc.data.get("fria") is not None else None
    for o in obligations:
        if o["article"] == "Art. 27":
            o["evidence"] = [fria["file"]] if fria else []
            o["evidenced"] = bool(fria and fria["complete"])
            continue
        files = evidence.get(o["article"], [])
        o["evidence"] = [f["file"] for f in files]
        o["evidenced"] = bool(files) and all(f["exists"] for f in files)
    out = not_assessed()
    out.update(
        assessed=True,
        roles=roles,
        annex_iii_points=points,
        exemption=exemption_out if claimed else None,
        obligations=obligations,
        unevidenced=[
            f"{o['article']} ({o['title']})" for o in obligations if not o["evidenced"] and not o.get("voluntary")
        ],
        fria_required=fria_required,
        fria_complete=bool(fria and fria["complete"]),
        fria_missing_fields=list(fria["missing_fields"]) if fria else list(act["fria_fields"]),
        fria=fria,
        triggers=found,
        evidence_files={k: v for k, v in evidence.items()},
    )
    if decided is None:
        out.update(
            classification="minimal",
            rule="exempt under Art. 6(3)"
            if exempt
            else "no prohibited practice, high-risk use, GPAI model or transparency trigger",
            article="Art. 6(3)" if exempt else "Art. 95 (voluntary codes of conduct)",
        )
    else:
        out.update(
            classification=decided["class"],
            rule=decided["rule"],
            article=decided["article"],
            applies_from=decided["applies_from"],
        )
    return out


def _hit(cls: str, rule: str, entry: Mapping[str, Any], date: str) -> dict[str, Any]:
    return {"class": cls, "rule": rule, "article": entry["article"], "title": entry["title"], "applies_from": date}


def _roles(doc: YamlDoc) -> list[str]:
    raw = doc.data.get("roles", list(ROLES))
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or any(r not in ROLES for r in raw):
        raise doc.error(f"roles must be a list of {' and/or '.join(ROLES)}, got {raw!r}", "roles")
    return [r for r in ROLES if r in raw]


def _prohibited(doc: YamlDoc, act: Mapping[str, Any]) -> dict[str, bool | str]:
    """Each practice: True (prohibited), False, or the name of the exception that applies."""
    known = act["prohibited_practices"]
    raw = doc.data.get("prohibited_practices") or {}
    if not isinstance(raw, dict):
        raise doc.error("expected a mapping of practice -> true/false", "prohibited_practices")
    out: dict[str, bool | str] = {}
    for k, v in raw.items():
        if k not in known:
            raise doc.error(f"unknown question {k!r}; questions: {', '.join(known)}", "prohibited_practices", str(k))
        exceptions = known[k].get("exceptions", {})
        if isinstance(v, bool):
            out[k] = v
        elif isinstance(v, dict) and set(v) <= {"practice", "exception"} and v.get("practice") is True:
            exc = v.get("exception")
            if exc not in exceptions:
                allowed = ", ".join(exceptions) or "none (this practice has no exception)"
                raise doc.error(
                    f"unknown exception {exc!r}; the Article allows: {allowed}",
                    "prohibited_practices",
                    str(k),
                    "exception",
                )
            out[k] = str(exc)
        else:
            hint = f"or {{practice: true, exception: {next(iter(exceptions))}}}" if exceptions else ""
            raise doc.error(f"expected true or false {hint}".strip() + f", got {v!r}", "prohibited_practices", str(k))
    missing = [k for k in known if k not in out]
    if missing:
        raise doc.error(
            f"unanswered: {', '.join(missing)}",
            "prohibited_practices",
            hint="answer every prohibited-practice question with true or false",
        )
    return out


def _annex_iii_points(doc: YamlDoc, act: Mapping[str, Any]) -> list[str]:
    raw = doc.data.get("annex_iii") or []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise doc.error("expected a list of Annex III points such as essential_services.creditworthiness", "annex_iii")
    known = [f"{a}.{p}" for a, e in act["annex_iii"].items() for p in e["points"]]
    for i, point in enumerate(raw):
        if point not in known:
            area = str(point).partition(".")[0]
            choices = [k for k in known if k.startswith(area + ".")] or known
            raise doc.error(f"unknown Annex III point {point!r}; points: {', '.join(choices)}", "annex_iii", str(i))
    return list(dict.fromkeys(str(p) for p in raw))


def _gpai(doc: YamlDoc, act: Mapping[str, Any]) -> dict[str, Any]:
    raw = doc.data.get("general_purpose_ai")
    if raw is None or raw is False:
        return {"provider": False, "systemic_risk": False, "open_source": False, "established_outside_eu": False}
    if not isinstance(raw, dict):
        raise doc.error(
            f"expected a mapping, got {raw!r}",
            "general_purpose_ai",
            hint="general_purpose_ai: {provider: true, systemic_risk: false, training_compute_flops: 3e23, "
            "open_source: false, established_outside_eu: false}",
        )
    for k in raw:
        if k not in GPAI_KEYS:
            raise doc.error(f"unknown key {k!r}; known keys: {', '.join(GPAI_KEYS)}", "general_purpose_ai", str(k))
    flags = {k: raw.get(k, False) for k in GPAI_KEYS if k != "training_compute_flops"}
    for k, v in flags.items():
        if not isinstance(v, bool):
            raise doc.error(f"expected true or false, got {v!r}", "general_purpose_ai", k)
    flops = raw.get("training_compute_flops")
    if flops is not None and (isinstance(flops, bool) or not isinstance(flops, (int, float)) or flops < 0):
        raise doc.error(
            f"expected a number of operations, got {flops!r}", "general_purpose_ai", "training_compute_flops"
        )
    if flags["provider"] and "systemic_risk" not in raw and flops is None:
        raise doc.error(
            "say whether the model has systemic risk (Art. 51)",
            "general_purpose_ai",
            hint="add systemic_risk: true/false, or training_compute_flops (presumed above 1e25, Art. 51(2))",
        )
    presumed = flops is not None and float(flops) > float(act["systemic_risk_flops"])
    return {**flags, "systemic_risk": bool(flags["systemic_risk"] or presumed), "training_compute_flops": flops}


def _obligations(
    act: Mapping[str, Any],
    roles: list[str],
    classes: set[str],
    points: list[str],
    gpai: Mapping[str, Any],
    fria_required: bool,
    extra: list[str],
    transparency: list[str],
) -> list[dict[str, Any]]:
    ob = act["obligations"]
    dates = act["dates"]
    titles = act["controls"]
    out: list[dict[str, Any]] = []

    def add(entries: list[dict[str, Any]], cls: str, date: str, **skip: bool) -> None:
        for e in entries:
            if e["role"] != "any" and e["role"] not in roles:
                continue
            if any(e.get(k) and v for k, v in skip.items()):
                continue
            if e.get("annex_iii_only") and not any(
                p.partition(".")[0] not in e.get("annex_iii_except", ()) for p in points
            ):
                continue  # e.g. Art. 86(1): Annex III systems, except those under point 2 (critical infrastructure)
            if any(o["article"] == e["article"] for o in out):
                continue
            out.append(
                {
                    "class": cls,
                    "article": e["article"],
                    "title": e["title"],
                    "role": e["role"],
                    "applies_from": dates[e.get("date", date)] if e.get("date") else date,
                    **({"voluntary": True} if e.get("voluntary") else {}),
                }
            )

    add(ob["all"], "all", dates["prohibitions"])
    if "high-risk" in classes:
        date = dates["high_risk_annex_iii"] if points else dates["high_risk_annex_i"]
        add(ob["high_risk"], "high-risk", date)
    if "exempt" in classes and "high-risk" not in classes:
        add(ob["derogation"], "exempt", dates["high_risk_annex_iii"])
    if fria_required:
        add(ob["fria"], "high-risk", dates["high_risk_annex_iii"])
    for article in extra:
        if not any(o["article"] == article for o in out):
            role = "deployer"
            if role in roles:
                out.append(
                    {
                        "class": "exception",
                        "article": article,
                        "title": titles[article],
                        "role": role,
                        "applies_from": dates["prohibitions"],
                    }
                )
    for key in transparency:
        e = act["transparency"][key]
        add([{**e, "title": f"Transparency: {e['title']}"}], "transparency", dates["transparency"])
    if gpai["provider"]:
        open_free = bool(gpai["open_source"]) and not gpai["systemic_risk"]  # Art. 53(2), Art. 54(6)
        add(ob["general_purpose_ai"], "general-purpose-ai", dates["general_purpose_ai"], open_source_exempt=open_free)
        if gpai["established_outside_eu"]:
            add(
                ob["general_purpose_ai_outside_eu"],
                "general-purpose-ai",
                dates["general_purpose_ai"],
                open_source_exempt=open_free,
            )
        if gpai["systemic_risk"]:
            add(ob["systemic_risk"], "general-purpose-ai-systemic-risk", dates["general_purpose_ai"])
    if not (classes & {"high-risk", "prohibited", "exception", "transparency"}) and not gpai["provider"]:
        add(ob["minimal"], "minimal", dates["entry_into_force"])
    return out


def _evidence(doc: YamlDoc, path: Path) -> dict[str, list[dict[str, Any]]]:
    """Article -> the files named as its evidence (relative to the answers file), each hashed if it exists."""
    from llmops_cli.govern.io import sha256_file

    raw = doc.data.get("evidence") or {}
    if not isinstance(raw, dict):
        raise doc.error("expected a mapping of article -> file or list of files", "evidence")
    known = mappings.titles("eu-ai-act")
    out: dict[str, list[dict[str, Any]]] = {}
    for article, files in raw.items():
        if str(article) not in known:
            raise doc.error(
                f"unknown article {article!r}",
                "evidence",
                str(article),
                hint="write it as in the obligations list, e.g. 'Art. 9' or 'Art. 53(1)(a)'",
            )
        names = [files] if isinstance(files, str) else files
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise doc.error("expected a file name or a list of file names", "evidence", str(article))
        entries = []
        for name in names:
            f = beside(path.parent, name)
            entries.append({"file": name, "exists": f.is_file(), "sha256": sha256_file(f) if f.is_file() else None})
        out[str(article)] = entries
    return out


def _fria(doc: YamlDoc, path: Path, act: Mapping[str, Any]) -> dict[str, Any]:
    """The fundamental rights impact assessment named by ``fria:``: every Art. 27 element answered."""
    from llmops_cli.govern.io import sha256_file

    name = doc.data.get("fria")
    if not isinstance(name, str) or not name.strip():
        raise doc.error("expected the file name of the fundamental rights impact assessment", "fria")
    file = beside(path.parent, name)
    fields = act["fria_fields"]
    if not file.is_file():
        return {"file": name, "exists": False, "sha256": None, "complete": False, "missing_fields": list(fields)}
    fdoc = read_yaml(file, "fundamental rights impact assessment")
    for key in fdoc.data:
        if key not in fields:
            raise fdoc.error(f"unknown key {key!r}; the assessment's elements: {', '.join(fields)}", str(key))
    missing = [k for k in fields if not present(fdoc.data.get(k))]
    return {
        "file": name,
        "exists": True,
        "sha256": sha256_file(file),
        "complete": not missing,
        "missing_fields": missing,
    }


def _bool(doc: YamlDoc, key: str) -> bool:
    value = doc.data.get(key, False)
    if not isinstance(value, bool):
        raise doc.error(f"expected true or false, got {value!r}", key)
    return value


def _bool_map(doc: YamlDoc, key: str, known: Mapping[str, Any], *, require_all: bool) -> dict[str, bool]:
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
            raise doc.error(f"unanswered: {', '.join(missing)}", key)
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
        "max_claimed_residual": max(r.claimed_residual for r in risks),
        "unevidenced_controls": [f"{r.id}/{c.id}" for r in risks for c in r.controls if not c.evidenced],
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
                "claimed_residual": r.claimed_residual,
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
                        "evidence": list(c.evidence),
                        "evidenced": c.evidenced,
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
    return StageResult("risk", metrics, read=read_files(register, answers, metrics))


def read_files(register: Path, answers: Path | None, metrics: Mapping[str, Any]) -> tuple[ReadFile, ...]:
    """The evidence files and the FRIA the scorecard hashed (present ones: an absent file has no content)."""
    out = [
        ReadFile("evidence", beside(register.parent, e["file"]), e["sha256"])
        for risk in metrics["risks"].values()
        for control in risk["controls"]
        for e in control["evidence"]
        if e["sha256"]
    ]
    if answers is not None:
        act = metrics["ai_act"]
        for files in (act.get("evidence_files") or {}).values():
            out.extend(
                ReadFile("evidence", beside(answers.parent, e["file"]), e["sha256"]) for e in files if e["sha256"]
            )
        fria = act.get("fria")
        if fria and fria["sha256"]:
            out.append(ReadFile("fria", beside(answers.parent, fria["file"]), fria["sha256"]))
    return tuple(out)


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
