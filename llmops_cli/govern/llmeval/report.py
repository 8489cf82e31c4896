"""The llm_eval report (llm_eval.md) and what the model card carries of it (a section and model-index
entries in Hugging Face's format: huggingface_hub 2.5.0, repocard_data.py ``model_index_to_eval_results``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _rate(r: Mapping[str, Any] | None) -> str:
    if not r or r.get("rate") is None:
        return "not measured"
    ci = r.get("ci") or [None, None]
    return f"{_num(r['rate'])} [{_num(ci[0])}, {_num(ci[1])}] (n={r['n']}, probes={r['probes']})"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def headline(m: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any] | None]]:
    """The rates people read first, in order."""
    b, s, lk, g = m["bias"], m["safety"], m["leakage"], m["grounding"]
    rows: list[tuple[str, Mapping[str, Any] | None]] = [
        ("counterfactual divergence", b["counterfactual"]["divergence"]),
        ("BBQ stereotyped answers (ambiguous)", b["bbq"]["ambiguous"]["stereotyped"]),
        ("BBQ accuracy (disambiguated)", b["bbq"]["disambiguated"]["accuracy"]),
        ("refusal of disallowed requests", s["refusal"]),
        ("over-refusal of benign look-alikes", s["over_refusal"]),
        ("secret leaked under injection", lk["secret_leak"]),
        ("PII echoed", lk["pii_echo"]),
    ]
    if g["ran"]:
        rows += [
            ("retrieval recall", g["retrieval_recall"]),
            ("grounded answers", g["supported"]),
            ("abstention on unanswerable", g["abstention"]),
        ]
    return rows


def llm_eval_markdown(m: Mapping[str, Any]) -> str:
    model = m["model"]
    lines = [
        f"# LLM evaluation: {model['requested']}",
        "",
        f"Endpoint `{model['endpoint']}`, served model id(s): {', '.join(model['served']) or 'not reported'}; "
        f"temperature {_num(m['params'].get('temperature'))}, seed {m['params'].get('seed')}"
        + ("" if m["params"].get("seed_sent", True) else " (the endpoint does not take a seed)")
        + f"; judge: {m['judge']['kind']}"
        + (f" ({m['judge']['model']})" if m["judge"].get("model") else "")
        + ".",
        "",
        _table(
            ["suite", "file", "sha256", "probes"],
            [[s["name"], s.get("file", ""), f"`{s['sha256'][:16]}…`", s["probes"]] for s in m["suites"]],
        ),
        "",
        f"{m['requests']['total']} requests, {m['requests']['failed']} failed; verdicts by rule "
        f"{m['verdicts']['rule']}, by judge {m['verdicts']['judge']}, by default {m['verdicts']['default']}.",
        "",
        "## Summary",
        "",
        "Rates with 95 % Wilson intervals on the effective sample size (paraphrases of a probe are correlated).",
        "",
        _table(["measure", "rate [95 % CI]"], [[name, _rate(r)] for name, r in headline(m)]),
        "",
        "## Bias per attribute",
        "",
    ]
    cf = m["bias"]["counterfactual"]["attributes"]
    bbq = m["bias"]["bbq"]["attributes"]
    rows = []
    for attr in m["bias"]["attributes"]:
        c, q = cf.get(attr), bbq.get(attr)
        rows.append(
            [
                attr,
                _rate(c["divergence"]) if c else "not probed",
                ", ".join(f"{g} {_num(v)}" for g, v in (c or {}).get("positive_rates", {}).items()) or "n/a",
                _rate(q["ambiguous"]["stereotyped"]) if q else "not probed",
                _num(q["ambiguous"]["bias_score"]) if q else "n/a",
                _num(q["disambiguated"]["bias_score"]) if q else "n/a",
            ]
        )
    lines.append(
        _table(
            [
                "attribute",
                "counterfactual divergence",
                "'yes' rate per group",
                "BBQ stereotyped (ambiguous)",
                "BBQ bias score (ambiguous)",
                "BBQ bias score (disambiguated)",
            ],
            rows,
        )
        if rows
        else "_No bias probes._"
    )
    cats = m["safety"]["categories"]
    if cats:
        lines += [
            "",
            "## Refusal per category",
            "",
            _table(["category", "refusal"], [[c, _rate(v["refusal"])] for c, v in cats.items()]),
        ]
    rob = m["robustness"]
    lines += [
        "",
        "## Robustness",
        "",
        "Outcome variance across the paraphrases of each probe (p·(1−p) of its failures) and the share of probes "
        "whose paraphrases disagree.",
        "",
        _table(
            ["section", "probes", "mean variance", "unstable share"],
            [[k, v["probes"], _num(v["mean_variance"]), _num(v["unstable_share"])] for k, v in rob["sections"].items()]
            + [
                [
                    "all",
                    rob["overall"]["probes"],
                    _num(rob["overall"]["mean_variance"]),
                    _num(rob["overall"]["unstable_share"]),
                ]
            ],
        ),
        "",
        f"Repeated requests answered identically: {_rate(rob['repeat_agreement'])}.",
        "",
        "Every request and answer: `llm_eval_transcript.jsonl`.",
    ]
    if m["grounding"]["ran"]:
        r = m["grounding"]["retrieval"] or {}
        lines += [
            "",
            f"Grounding retrieved passages through {r.get('store')} {r.get('pgvector_version') or ''} "
            f"(embedding {r.get('embedding')}, top {r.get('top_k')}).",
        ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- model card
INDEX_METRICS = (
    ("counterfactual_divergence_rate", ("bias", "counterfactual", "divergence"), "Counterfactual divergence"),
    ("bbq_ambiguous_stereotyped_rate", ("bias", "bbq", "ambiguous", "stereotyped"), "BBQ stereotyped (ambiguous)"),
    ("bbq_disambiguated_accuracy", ("bias", "bbq", "disambiguated", "accuracy"), "BBQ accuracy (disambiguated)"),
    ("refusal_rate", ("safety", "refusal"), "Refusal of disallowed requests"),
    ("over_refusal_rate", ("safety", "over_refusal"), "Over-refusal of benign requests"),
    ("secret_leak_rate", ("leakage", "secret_leak"), "Secret leaked under injection"),
    ("pii_echo_rate", ("leakage", "pii_echo"), "PII echoed"),
    ("grounded_answer_rate", ("grounding", "supported"), "Answers supported by retrieved passages"),
)


def _at(m: Mapping[str, Any], path: Sequence[str]) -> Any:
    cur: Any = m
    for p in path:
        cur = cur.get(p) if isinstance(cur, Mapping) else None
    return cur


def card_section(m: Mapping[str, Any]) -> dict[str, Any]:
    """What model_card.json carries of the evaluation."""
    results = []
    for key, path, name in INDEX_METRICS:
        r = _at(m, path)
        if isinstance(r, Mapping) and r.get("rate") is not None:
            results.append({"metric": key, "name": name, "value": r["rate"], "ci": r.get("ci"), "n": r.get("n")})
    return {
        "model": m["model"]["requested"],
        "served": m["model"]["served"],
        "endpoint": m["model"]["endpoint"],
        "suites": [{"name": s["name"], "sha256": s["sha256"]} for s in m["suites"]],
        "judge": m["judge"]["kind"],
        "results": results,
        "report": "llm_eval.md",
    }


def model_index(section: Mapping[str, Any]) -> list[dict[str, Any]]:
    """model-index entries: one result per suite set, task text-generation, each rate a metric."""
    if not section.get("results"):
        return []
    suites = "+".join(s["name"] for s in section["suites"])
    digest = ",".join(s["sha256"][:12] for s in section["suites"])
    metrics = [{"type": r["metric"], "value": r["value"], "name": r["name"]} for r in section["results"]]
    served = section["served"][0] if section["served"] else section["model"]
    return [
        {
            "name": str(served),
            "results": [
                {
                    "task": {"type": "text-generation", "name": "LLM governance evaluation"},
                    "dataset": {"type": f"llmops/{suites}", "name": suites, "revision": digest},
                    "metrics": metrics,
                    "source": {"name": "llmops govern llm-eval", "url": "llm_eval.md"},
                }
            ],
        }
    ]


def card_markdown(section: Mapping[str, Any]) -> list[str]:
    """Lines for the model card's quantitative analyses."""
    rows = []
    for r in section["results"]:
        ci = r.get("ci") or [None, None]
        rows.append([r["name"], _num(r["value"]), f"[{_num(ci[0])}, {_num(ci[1])}]", r.get("n")])
    return [
        "",
        f"### Served LLM: {section['model']}",
        "",
        f"Evaluated at `{section['endpoint']}` with suites "
        + ", ".join(f"{s['name']} (`{s['sha256'][:12]}`)" for s in section["suites"])
        + f"; judge: {section['judge']}. Details: [llm_eval.md](llm_eval.md).",
        "",
        _table(["measure", "rate", "95 % CI", "n"], rows) if rows else "_No results._",
    ]
