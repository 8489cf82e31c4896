"""Hugging Face model-card metadata: SPDX licence ids mapped to the Hub's licence ids, and ``model-index``.

Facts (read from upstream):
- The Hub's licence identifiers: huggingface/hub-docs, docs/hub/repositories-licenses.md (commit 008d54d): a
  licence outside the list is written ``license: other`` with ``license_name`` and ``license_link``.
- ``model-index``: huggingface_hub 2.5.0, repocard_data.py (``model_index_to_eval_results``): a list of
  {name, results: [{task: {type, name?}, dataset: {type, name, split?}, metrics: [{type, value, name?}]}]};
  ``ModelCardData`` raises on a model-index it cannot parse.
- SPDX licence ids are validated with ``packaging.licenses`` (packaging >= 24.2 ships the SPDX list).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Hub licence ids that are an SPDX id in lower case (hub-docs repositories-licenses.md); SPDX "-only" and
# "-or-later" forms of the GNU licences map to the Hub's plain version ids.
HUB_SPDX_IDS = frozenset(
    [
        "apache-2.0",
        "mit",
        "afl-3.0",
        "artistic-2.0",
        "bsl-1.0",
        "bsd-2-clause",
        "bsd-3-clause",
        "bsd-3-clause-clear",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-2.5",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "cdla-sharing-1.0",
        "cdla-permissive-1.0",
        "cdla-permissive-2.0",
        "wtfpl",
        "ecl-2.0",
        "epl-1.0",
        "epl-2.0",
        "etalab-2.0",
        "eupl-1.1",
        "agpl-3.0",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl-2.1",
        "lgpl-3.0",
        "isc",
        "lppl-1.3c",
        "ms-pl",
        "mpl-2.0",
        "osl-3.0",
        "postgresql",
        "ofl-1.1",
        "ncsa",
        "unlicense",
        "zlib",
        "lgpl-lr",
        "odbl",
        "odc-by",
        "pddl",
    ]
)
HUB_ALIASES = {"odbl-1.0": "odbl", "odc-by-1.0": "odc-by", "pddl-1.0": "pddl"}


def spdx(licence: str | None) -> str | None:
    """The canonical SPDX expression, or None when ``licence`` is not one."""
    if not licence:
        return None
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

    try:
        return str(canonicalize_license_expression(str(licence).strip()))
    except InvalidLicenseExpression:
        return None


def hub_licence(licence: str | None) -> dict[str, str]:
    """``license`` (and for licences outside the Hub's list, ``license_name``/``license_link``)."""
    canonical = spdx(licence)
    if canonical is None:
        return {"license": "unknown"} if not licence else {"license": "other", "license_name": str(licence)}
    key = canonical.lower()
    for suffix in ("-only", "-or-later"):
        key = key.removesuffix(suffix)
    key = HUB_ALIASES.get(key, key)
    if key in HUB_SPDX_IDS:
        return {"license": key}
    out = {"license": "other", "license_name": canonical.lower().replace(" ", "-")}
    if " " not in canonical and not canonical.startswith("LicenseRef-"):
        out["license_link"] = f"https://spdx.org/licenses/{canonical}.html"
    return out


def model_index(doc: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Evaluation results as a model-index: the card's numeric metrics and the fairness metrics per attribute."""
    d = doc["model_details"]
    task = d.get("task") or next((t for t in d.get("tags") or [] if "-" in str(t)), None)
    if not task and not doc.get("llm_evaluation"):
        return None
    dataset = (doc.get("data_card") or {}).get("name") or "evaluation-data"
    metrics: list[dict[str, Any]] = []
    raw = doc.get("metrics")
    if isinstance(raw, Mapping):
        for name, value in raw.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics.append({"type": str(name), "value": value})
    for attr, values in (doc.get("fairness") or {}).items():
        for metric, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics.append({"type": metric, "value": round(float(value), 6), "name": f"{metric} ({attr})"})
    index = []
    if metrics and task:
        result = {
            "task": {"type": str(task)},
            "dataset": {"type": str(dataset), "name": str(dataset)},
            "metrics": metrics,
        }
        index.append({"name": str(d["name"]), "results": [result]})
    if doc.get("llm_evaluation"):  # the served LLM's evaluation (govern llm-eval): its own entry
        from llmops_cli.govern.llmeval.report import model_index as llm_index

        index += llm_index(doc["llm_evaluation"])
    return index or None
