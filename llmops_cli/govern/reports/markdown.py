"""Markdown artefacts. Deterministic: fixed float formatting, sorted where order is not meaningful."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmops_cli.govern import mappings


def num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def compact(v: Any) -> str:
    """A statistic: whole numbers without decimals, others to 4 significant decimals."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return num(v)


def cell(v: Any) -> str:
    """A table cell: text with pipes and newlines escaped."""
    if isinstance(v, list):
        v = ", ".join(str(x) for x in v)
    elif isinstance(v, dict):
        v = ", ".join(f"{k}: {x}" for k, x in v.items())
    text = num(v) if not isinstance(v, str) else v
    return text.replace("|", "\\|").replace("\n", " ").strip()


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def text_block(v: Any) -> str:
    if v is None or v == "" or v == []:
        return "_Not provided._"
    if isinstance(v, list):
        return "\n".join(f"- {x}" for x in v)
    if isinstance(v, dict):
        return "\n".join(f"- **{k}**: {x}" for k, x in v.items())
    return str(v).strip()


# ----------------------------------------------------------------------------------------- bias
def bias_markdown(m: Mapping[str, Any]) -> str:
    from llmops_cli.govern.stages.bias import ATTRIBUTE_METRICS, GROUP_METRICS, PRIVILEGED_METRICS

    lines = [
        "# Bias scan",
        "",
        f"Rows: {m['rows']} · positive rate: {num(m['positive_rate'])} · minimum group size: {m['min_group_size']}",
    ]
    if "intervals" in m:
        iv = m["intervals"]
        lines.append(f"Intervals: {num(iv['confidence'] * 100, 0)}% simultaneous ({iv['method']}).")
    if m.get("unmeasured"):
        lines += ["", "## Not measured (rules over these fail unless waived)", ""]
        lines += [f"- {u}" for u in m["unmeasured"]]
    if m.get("waivers"):
        lines += ["", "## Waivers", ""]
        lines.append(
            table(
                ["attribute", "group", "reason"],
                [[w["attribute"], w["group"] or "(all)", w["reason"]] for w in m["waivers"]],
            )
        )
    for name in m["attributes"]:
        a = m[name]
        lines += ["", f"## {' × '.join(a['columns'])}", ""]
        extra = ["mean_score"] if any("mean_score" in v for v in a["groups"].values()) else []
        rows = []
        for g, v in a["groups"].items():
            note = "waived" if v.get("waived") else ("" if v["sufficient"] else "insufficient")
            rows.append([g, *(rate(v.get(k)) if k != "count" else v[k] for k in (*GROUP_METRICS, *extra)), note])
        lines.append(table(["group", *GROUP_METRICS, *extra, "note"], rows))
        lines.append("")
        metric_rows = []
        for k in (*ATTRIBUTE_METRICS, *PRIVILEGED_METRICS):
            if k not in a:
                continue
            ci = a.get("ci", {}).get(k)
            interval = f"[{num(ci['low'])}, {num(ci['high'])}]" if ci else ""
            value = rate(a[k])
            if a[k] is None and k in a.get("partial", {}):
                value += f" (measured groups only: {num(a['partial'][k])})"
            metric_rows.append([k, value, interval])
        lines.append(table(["metric", "value", "interval"], metric_rows))
        if a.get("privileged") is not None:
            lines += [
                "",
                f"Privileged group: `{a['privileged']}` (signed metrics: unprivileged − privileged).",
            ]
        if a["insufficient_groups"]:
            lines += [
                "",
                f"Groups under {m['min_group_size']} rows, left out of the disparities: "
                + ", ".join(f"`{g}`" for g in a["insufficient_groups"]),
            ]
        for k, groups in a.get("undefined", {}).items():
            lines += [
                "",
                f"`{k}` is undefined: a rate it needs has no denominator in " + ", ".join(f"`{g}`" for g in groups),
            ]
    return "\n".join(lines) + "\n"


def rate(v: Any) -> str:
    """A rate or metric; null means undefined (a zero denominator or too few rows), never 0."""
    return "undefined" if v is None else num(v)


# ----------------------------------------------------------------------------------------- explanations
def explain_markdown(m: Mapping[str, Any]) -> str:
    lines = ["# Explanations", ""]
    if not m["available"]:
        return "\n".join([*lines, f"⚠️ {m['warning']}."]) + "\n"
    lines += [
        f"{m['method']}; {m['rows']} rows. Importance = mean |attribution|; share = its part of the total.",
        "",
        f"Sensitive attributes ({', '.join(m['sensitive_attributes']) or 'none given'}) carry "
        f"{num(m['sensitive_share'])} of the total, their close proxies {num(m['proxy_share'])}.",
        "",
    ]
    rows = []
    for f, v in m["features"].items():
        note = (
            "sensitive"
            if v["sensitive"]
            else (f"proxy of {v['proxy_for']} (association {num(v['association'])})" if v["proxy_for"] else "")
        )
        rows.append([v["rank"], f, num(v["importance"]), num(v["share"]), note])
    lines.append(table(["rank", "feature", "importance", "share", "note"], rows))
    if m.get("warning"):
        lines += ["", f"⚠️ {m['warning']}."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- data quality
def data_quality_markdown(m: Mapping[str, Any]) -> str:
    lines = [
        "# Data quality",
        "",
        table(
            ["check", "value"],
            [
                ["rows", m["rows"]],
                ["columns", m["columns"]],
                ["max missing ratio", m["max_missing_ratio"]],
                ["duplicate rows", m["duplicate_rows"]],
                ["constant columns", m["constant_columns"] or "none"],
                ["schema violations", m["schema_violations"] or "none"],
                ["out-of-range values", m["out_of_range_total"]],
                ["personal data columns", m["pii_columns"] or "none"],
            ],
        ),
    ]
    if "label_balance" in m:
        lb = m["label_balance"]
        lines += ["", "## Label balance", "", table(["class", "share"], sorted(lb["classes"].items()))]
    missing = [(c, r) for c, r in m["missing_ratio"].items() if r > 0]
    if missing:
        lines += ["", "## Missing values", "", table(["column", "missing ratio"], missing)]
    bad = sorted((c, n) for c, n in m["out_of_range"].items() if n)
    if bad:
        lines += ["", "## Out of range", "", table(["column", "rows"], bad)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- data card
def data_card_markdown(m: Mapping[str, Any]) -> str:
    lines = [
        f"# Data card: {m['name']}",
        "",
        text_block(m.get("description")),
        "",
        "## Provenance",
        "",
        table(
            ["field", "value"],
            [
                ["source", m.get("source") or "not provided"],
                ["licence", m.get("licence") or "not provided"],
                ["collection period", m.get("collection_period") or "not provided"],
                ["consent", m.get("consent") or "not provided"],
                ["file", m["file"]],
                ["sha256", f"`{m['sha256']}`"],
                ["rows", m["rows"]],
                ["columns", len(m["columns"])],
                ["sensitive attributes", m["sensitive_attributes"] or "none declared"],
            ],
        ),
        "",
        "## Preprocessing",
        "",
        text_block(m.get("preprocessing")),
        "",
        "## Columns",
        "",
    ]
    rows = []
    for col, s in m["column_stats"].items():
        if "mean" in s:
            summary = f"min {compact(s['min'])}, max {compact(s['max'])}, mean {compact(s['mean'])}"
        else:
            summary = ", ".join(f"{k} ({v})" for k, v in s.get("top", {}).items())
        rows.append([col, s["type"], s["missing"], s["unique"], summary])
    lines.append(table(["column", "type", "missing", "unique", "summary"], rows))
    if m["missing_fields"]:
        lines += ["", "Missing provenance fields: " + ", ".join(m["missing_fields"])]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- risk
def _mapped(frameworks: Mapping[str, Sequence[str]]) -> str:
    parts = []
    for fw in mappings.RISK_FRAMEWORKS:
        ids = frameworks.get(fw) or []
        if ids:
            parts.append(f"{fw}: {', '.join(ids)}")
    return "; ".join(parts)


def risk_markdown(m: Mapping[str, Any]) -> str:
    act = m["ai_act"]
    lines = [
        "# Risk scorecard",
        "",
        f"Risks: {m['count']} · max inherent: {m['max_inherent']} · "
        f"max residual: {num(m['max_residual'], 2)} · "
        f"unmitigated: {m['unmitigated_count']}",
        "",
        "## EU AI Act classification",
        "",
        f"**{act['classification']}**"
        + (f": decided by `{act['rule']}` ({act['article']})" if act.get("rule") else ""),
    ]
    if act.get("applies_from"):
        lines.append(f"Obligations apply from {act['applies_from']}.")
    if act.get("assessed"):
        lines.append(
            f"Roles: {', '.join(act['roles'])} · Annex III points: {', '.join(act['annex_iii_points']) or 'none'}"
        )
    exemption = act.get("exemption")
    if exemption:
        state = "applies" if exemption["applies"] else f"does not apply: {exemption['refused']}"
        lines.append(f"Art. 6(3) exemption claimed ({', '.join(exemption['articles'])}): {state}.")
    if act.get("triggers"):
        lines += [
            "",
            table(
                ["class", "rule", "article", "applies from"],
                [[t["class"], t["rule"], t["article"], t["applies_from"]] for t in act["triggers"]],
            ),
        ]
    if act.get("obligations"):
        lines += ["", "### Obligations", ""]
        rows = []
        for o in act["obligations"]:
            state = "voluntary" if o.get("voluntary") else ("evidenced" if o["evidenced"] else "**no evidence**")
            rows.append([o["article"], o["title"], o["role"], o["applies_from"], ", ".join(o["evidence"]), state])
        lines.append(table(["article", "obligation", "role", "applies from", "evidence", "status"], rows))
    if act.get("fria_required"):
        if act.get("fria_complete"):
            lines += ["", f"Fundamental rights impact assessment (Art. 27): `{act['fria']['file']}`, complete."]
        else:
            where = f"`{act['fria']['file']}`" if act.get("fria") else "not named (`fria:`)"
            lines += [
                "",
                f"Fundamental rights impact assessment (Art. 27) is **required**: {where}; missing: "
                + ", ".join(act["fria_missing_fields"]),
            ]
    lines += ["", "## Heat map (inherent: impact × likelihood)", ""]
    grid: dict[tuple[int, int], list[str]] = {}
    for rid, r in m["risks"].items():
        grid.setdefault((r["impact"], r["likelihood"]), []).append(rid)
    header = ["impact \\ likelihood", *(str(i) for i in range(1, 6))]
    rows = [[str(imp), *(", ".join(grid.get((imp, lik), [])) or "·" for lik in range(1, 6))] for imp in range(5, 0, -1)]
    lines.append(table(header, rows))
    lines += ["", "## Risks", ""]
    rrows = [
        [
            rid,
            r["title"],
            r["category"],
            r["impact"],
            r["likelihood"],
            r["inherent"],
            num(r["residual"], 2),
            num(r["claimed_residual"], 2),
            r["level"],
            r["owner"] or "unowned",
        ]
        for rid, r in m["risks"].items()
    ]
    lines.append(
        table(
            ["id", "title", "category", "impact", "likelihood", "inherent", "residual", "claimed", "level", "owner"],
            rrows,
        )
    )
    lines += [
        "",
        "Residual counts only controls that name their evidence; `claimed` counts every control as declared.",
    ]
    lines += measured_lines(m)
    lines += ["", "## Controls and framework mapping", ""]
    crows = []
    for rid, r in m["risks"].items():
        crows.append([rid, "(risk)", "", "", _mapped(r["frameworks"])])
        for c in r["controls"]:
            files = ", ".join(e["file"] + ("" if e["exists"] else " (missing)") for e in c["evidence"])
            crows.append(
                [rid, f"{c['id']}: {c['title']}", num(c["effectiveness"], 2), files or "none", _mapped(c["frameworks"])]
            )
    lines.append(table(["risk", "control", "effectiveness", "evidence", "mapping"], crows))
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- model card
MITCHELL_SECTIONS = (
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
)  # Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019), section 4


def model_card_front_matter(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Hugging Face model-card metadata (``ModelCardData`` reads it), plus llmops' own fields."""
    from llmops_cli.govern.reports import hf

    d = doc["model_details"]
    front: dict[str, Any] = {"model_name": d["name"], "model_version": d["version"]}
    front.update(hf.hub_licence(d.get("licence")))
    if d.get("tags"):
        front["tags"] = [str(t) for t in (d["tags"] if isinstance(d["tags"], list) else [d["tags"]])]
    if d.get("task"):
        front["pipeline_tag"] = str(d["task"])
    if doc.get("data_card"):
        front["datasets"] = [doc["data_card"]["name"]]
    index = hf.model_index(doc)
    if index:
        front["model-index"] = index
    gov = doc.get("governance") or {}
    if gov:
        front["governance_status"] = gov.get("status")
    return front


def model_card_markdown(doc: Mapping[str, Any]) -> str:
    import yaml

    d = doc["model_details"]
    front = model_card_front_matter(doc)
    exp = doc.get("experiment") or {}
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=True, allow_unicode=True).strip(),
        "---",
        "",
        f"# Model card: {d['name']} {d['version']}",
        "",
        "## Model details",
        "",
        table(
            ["field", "value"],
            [
                ["owner", d.get("owner") or "not provided"],
                ["licence", d.get("licence") or "not provided"],
                ["version", d["version"]],
                ["task", d.get("task") or "not provided"],
                ["experiment logs", exp.get("reference") or "not provided"],
            ],
        ),
        "",
        text_block(d.get("description")),
        "",
        "## Intended use",
        "",
        text_block(doc.get("intended_use")),
        "",
        "### Out-of-scope use",
        "",
        text_block(doc.get("out_of_scope_use")),
        "",
        "## Factors",
        "",
        text_block(doc.get("factors") or _factors(doc)),
        "",
        "## Metrics",
        "",
        text_block(doc.get("metrics")),
        "",
        "## Evaluation data",
        "",
        text_block(doc.get("evaluation_data")),
        "",
        "## Training data",
        "",
        text_block(doc.get("training_data")),
    ]
    if doc.get("data_card"):
        dc = doc["data_card"]
        lines += [
            "",
            f"Data card: [data_card.md](data_card.md) ({dc['rows']} rows, sha256 `{dc['sha256']}`).",
        ]
    lines += ["", "## Quantitative analyses", ""]
    if doc.get("fairness"):
        metric_names = sorted({k for v in doc["fairness"].values() for k in v})
        rows = [[attr, *(num(v.get(k)) for k in metric_names)] for attr, v in doc["fairness"].items()]
        lines += ["Fairness metrics per sensitive attribute (details: [bias.md](bias.md)).", ""]
        lines.append(table(["attribute", *metric_names], rows))
    else:
        lines.append("_No disaggregated evaluation: the bias stage did not run._")
    ex = doc.get("explanations")
    if ex is not None:
        lines += ["", "## Explanations", ""]
        if ex["available"]:
            lines.append(f"{ex['method']}. Share of the total attribution per feature (top {len(ex['top_features'])}):")
            lines += ["", table(["feature", "share"], [[f, num(v)] for f, v in ex["top_features"].items()])]
            lines += ["", f"Carried by sensitive attributes and their proxies: {num(ex['sensitive_or_proxy_share'])}."]
        else:
            lines.append(f"⚠️ {ex['warning']}.")
    if doc.get("llm_evaluation"):
        from llmops_cli.govern.llmeval.report import card_markdown

        lines += card_markdown(doc["llm_evaluation"])
    lines += [
        "",
        "## Ethical considerations",
        "",
        text_block(doc.get("ethical_considerations")),
        "",
        "## Caveats and recommendations",
        "",
        text_block(doc.get("limitations")),
    ]
    comp = doc["completeness"]
    lines += [
        "",
        "## Governance status",
        "",
        "Card completeness: "
        + ("complete." if comp["complete"] else "missing " + ", ".join(comp["missing_required"]) + "."),
    ]
    gov = doc.get("governance") or {}
    if gov:
        lines.append(
            f"Policy check: **{gov['status']}** ({gov['passed']} passed, {gov['failed']} failed, "
            f"{gov['warnings']} warnings). See [summary.md](summary.md)."
        )
    return "\n".join(lines) + "\n"


def _factors(doc: Mapping[str, Any]) -> str | None:
    attrs = list((doc.get("fairness") or {}).keys())
    if not attrs:
        return None
    return "Results are disaggregated by the sensitive attributes " + ", ".join(f"`{a}`" for a in attrs) + "."


# ----------------------------------------------------------------------------------------- privacy
def privacy_markdown(m: Mapping[str, Any]) -> str:
    pets = ", ".join(
        p["technique"] + (f" ({', '.join(p['columns'])})" if p["columns"] else " (whole dataset)") for p in m["pets"]
    )
    lines = [
        "# Privacy: consent and privacy-enhancing techniques",
        "",
        table(
            ["check", "value"],
            [
                ["lawful basis (GDPR Art. 6(1))", m["consent_basis"] or "not declared"],
                ["consent record", m["consent_reference"] or "not given"],
                ["special-category attributes", m["special_category_columns"] or "none"],
                ["Art. 9(2) condition", m["special_category_condition"] or "none declared"],
                ["privacy-enhancing techniques", pets or "none declared"],
                ["columns that look like personal data", m["pii_columns"] or "none"],
                ["personal data without a PET", m["unprotected_pii_columns"] or "none"],
                ["consent valid", m["consent_valid"]],
            ],
        ),
    ]
    if m["problems"]:
        lines += ["", "## Problems", "", *(f"- {p}" for p in m["problems"])]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- summary
ICON = {"pass": "✅", "fail": "❌", "error": "⛔", "warn": "⚠️"}


def summary_markdown(
    model: Mapping[str, str],
    results: Sequence[Mapping[str, Any]],
    status: str,
    fail_on: str,
    *,
    coverage: Mapping[str, Any] | None = None,
    phase_of: Mapping[str, str] | None = None,
) -> str:
    """The Go/No-Go review: the verdict, the rules grouped by lifecycle phase, and the evidence coverage."""
    from llmops_cli.govern import mappings as mp

    counts = _counts(results, fail_on)
    lines = [
        f"# Governance check: {model['name']} {model['version']}",
        "",
        f"**{status.upper()}**: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['warnings']} warnings "
        f"(failing on: {fail_on}).",
        "",
    ]
    by_phase: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        by_phase.setdefault((phase_of or {}).get(r["stage"], "model_evaluation"), []).append(r)
    for phase, title in _phases().items():
        if phase not in by_phase:
            continue
        lines += [f"## {title}", ""]
        rows = []
        for r in by_phase[phase]:
            outcome = r["outcome"]
            icon = ICON["pass"] if outcome == "pass" else (ICON["warn"] if _is_warning(r, fail_on) else ICON[outcome])
            values = ", ".join(f"{k} = {num(v)}" for k, v in r["values"].items())
            rows.append([icon, r["id"], r["severity"], r["stage"], f"`{r['expr']}`", values or r["detail"]])
        lines += [table(["", "rule", "severity", "stage", "expression", "values"], rows), ""]
    failing = [r for r in results if r["outcome"] != "pass"]
    if failing:
        lines += ["## Findings", ""]
        for r in failing:
            extra = f" ({r['detail']})" if r["detail"] else ""
            lines.append(f"- **{r['id']}** ({r['severity']}): {r['message']}{extra}")
        lines.append("")
    # A control is evidenced only when every rule that cites it passed: one failed rule makes it a gap.
    failed_controls = {c for r in results if r["outcome"] != "pass" for c in r["controls"]}
    controls = sorted({c for r in results for c in r["controls"]} - failed_controls)
    if controls:
        lines += ["## Controls evidenced", ""]
        lines += [table(["control", "title"], [[c, mp.title_of(c)] for c in controls]), ""]
    if failed_controls:
        lines += ["## Controls not evidenced (a rule citing them did not pass)", ""]
        lines += [table(["control", "title"], [[c, mp.title_of(c)] for c in sorted(failed_controls)]), ""]
    if coverage is not None:
        lines += coverage_lines(coverage)
    return "\n".join(lines).rstrip("\n") + "\n"


def coverage_lines(c: Mapping[str, Any]) -> list[str]:
    share = c["automatic_share"]
    lines = [
        "## Evidence coverage (CPMAI lifecycle)",
        "",
        f"{c['present']} of {c['total']} artefacts present; {c['automatic']} generated automatically, "
        f"{c['human']} written by people: {share * 100:.0f} % automatic "
        f"(design target ≥ {c['design_target'] * 100:.0f} %).",
        "",
    ]
    rows = []
    for phase, title in _phases().items():
        for a in c["phases"].get(phase, []):
            mark = {"present": "✅", "incomplete": "⚠️", "missing": "·"}[a["state"]]
            rows.append([title, a["title"], mark + " " + a["state"], a["kind"], a["note"]])
    lines += [table(["phase", "artefact", "state", "made", "evidence"], rows), ""]
    return lines


def _phases() -> dict[str, str]:
    from llmops_cli.govern.lifecycle import PHASES

    return PHASES


def _is_warning(r: Mapping[str, Any], fail_on: str) -> bool:
    return r["outcome"] != "pass" and r["severity"] == "warning" and fail_on != "warning"


def _counts(results: Sequence[Mapping[str, Any]], fail_on: str) -> dict[str, int]:
    passed = sum(1 for r in results if r["outcome"] == "pass")
    warnings = sum(1 for r in results if _is_warning(r, fail_on))
    return {"passed": passed, "warnings": warnings, "failed": len(results) - passed - warnings}


def measured_lines(m: Mapping[str, Any]) -> list[str]:
    """Risks whose likelihood follows measured failure rates (`measured_by` in the register)."""
    rows = []
    for rid, r in m["risks"].items():
        info = r.get("measured")
        if not info:
            continue
        rates = ", ".join(f"{k} = {num(v)}" for k, v in info["rates"].items())
        got = info["likelihood"]
        rows.append([rid, info["declared_likelihood"], got if got is not None else "not measured", rates])
    if not rows:
        return []
    return [
        "",
        "Likelihood measured, not declared (the worst named failure rate: under 1 % → 1, 5 % → 2, 20 % → 3, "
        "50 % → 4, else 5):",
        "",
        table(["risk", "declared", "measured", "failure rates"], rows),
    ]
