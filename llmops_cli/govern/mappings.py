"""Framework tables shipped as package data: NIST AI RMF, ISO/IEC 42001 Annex A, Singapore's GenAI framework,
the EU AI Act (rules, articles and dates) and the default mapping of risk categories onto them.

Control IDs are written ``framework:ID`` everywhere (``nist-ai-rmf:MEASURE 2.11``, ``iso-42001:A.7.4``,
``sg-genai:data``, ``eu-ai-act:Art. 10``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

FRAMEWORKS = {
    "nist-ai-rmf": "nist_ai_rmf.yaml",
    "iso-42001": "iso_42001.yaml",
    "sg-genai": "sg_genai.yaml",
    "eu-ai-act": "eu_ai_act.yaml",
}
# Frameworks every risk and control is mapped onto.
RISK_FRAMEWORKS = ("nist-ai-rmf", "iso-42001", "sg-genai")


@cache
def load(name: str) -> dict[str, Any]:
    """A data file from ``llmops_cli/govern/data`` (read through importlib.resources)."""
    from importlib.resources import files

    import yaml

    text = files("llmops_cli.govern").joinpath("data", name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):  # pragma: no cover - packaging error
        raise RuntimeError(f"packaged data file {name} is not a mapping")
    return data


def framework(fw: str) -> dict[str, Any]:
    return load(FRAMEWORKS[fw])


def titles(fw: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in framework(fw)["controls"].items()}


@cache
def control_ids() -> set[str]:
    return {f"{fw}:{cid}" for fw in FRAMEWORKS for cid in titles(fw)}


def title_of(control: str) -> str:
    fw, _, cid = control.partition(":")
    if fw not in FRAMEWORKS:
        return ""
    return titles(fw).get(cid, "")


def category_map() -> dict[str, dict[str, list[str]]]:
    return load("category_map.yaml")["categories"]  # type: ignore[no-any-return]


def eu_ai_act() -> dict[str, Any]:
    return framework("eu-ai-act")
