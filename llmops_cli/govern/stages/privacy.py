"""Privacy: the consent (lawful basis) and privacy-enhancing techniques (PETs) a data card declares, checked
against what the data holds.

The data card declares, e.g.::

    consent:
      basis: consent                       # GDPR Art. 6(1): consent, contract, legal_obligation,
                                           # vital_interests, public_task, legitimate_interests; or
                                           # not_applicable when no data subject is described
      special_category_condition: explicit_consent   # GDPR Art. 9(2), for special-category data
      reference: docs/consent-form-v3.pdf  # where the record or assessment lives
    pets:
      - technique: pseudonymisation
        columns: [applicant_id]
      - technique: synthetic_data          # no columns: the whole dataset

Checks: a basis is declared; ``not_applicable`` is accepted only when the data holds no personal data or
is synthetic/anonymised as a whole; special-category attributes (ethnicity, religion, health, ...; GDPR
Art. 9(1)) need an Art. 9(2) condition unless the dataset as a whole is synthetic or anonymised; every
column that looks like personal data (the data-quality detector) is covered by a PET that lists it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from llmops_cli.govern.stages import StageResult

if TYPE_CHECKING:
    import pandas as pd

LAWFUL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
    "not_applicable",
)
# GDPR Art. 9(2)(a)-(j), by short name.
SPECIAL_CONDITIONS = (
    "explicit_consent",
    "employment_social_security",
    "vital_interests",
    "not_for_profit_body",
    "made_public_by_subject",
    "legal_claims",
    "substantial_public_interest",
    "health_or_social_care",
    "public_health",
    "archiving_research_statistics",
)
PETS = (
    "pseudonymisation",
    "anonymisation",
    "aggregation",
    "k_anonymity",
    "differential_privacy",
    "synthetic_data",
    "encryption",
    "federated_learning",
    "secure_multiparty_computation",
    "masking",
    "data_minimisation",
)
DATASET_WIDE = {"synthetic_data", "anonymisation", "aggregation", "differential_privacy", "k_anonymity"}
# Column names that suggest GDPR Art. 9(1) special categories of personal data.
_SPECIAL = re.compile(
    r"(ethnic|race|racial|religio|belief|politic|union|health|medical|diagnos|disabil|sexual|orientation|"
    r"genetic|biometric)",
    re.IGNORECASE,
)
CONSENT_KEYS = ("basis", "special_category_condition", "reference", "description")
PET_KEYS = ("technique", "columns", "description", "parameters")

METRICS_SCHEMA: dict[str, Any] = {
    "consent_declared": None,
    "consent_basis": None,
    "consent_reference": None,
    "special_category_columns": None,
    "special_category_condition": None,
    "pets": None,
    "pets_declared": None,
    "dataset_wide_pet": None,
    "pii_columns": None,
    "unprotected_pii_columns": None,
    "unprotected_pii_count": None,
    "problems": None,
    "problem_count": None,
    "consent_valid": None,
}


def parse_consent(raw: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """The structured consent declaration, or None with the reason (free text is not a declaration)."""
    if raw is None or raw == "":
        return None, ["the data card declares no consent"]
    if not isinstance(raw, dict):
        return None, ["consent is free text; declare `consent: {basis: ...}` (GDPR Art. 6(1) lawful basis)"]
    unknown = [k for k in raw if k not in CONSENT_KEYS]
    problems = [f"consent: unknown key {k!r}; known keys: {', '.join(CONSENT_KEYS)}" for k in unknown]
    basis = raw.get("basis")
    if basis not in LAWFUL_BASES:
        problems.append(f"consent.basis {basis!r} is not one of {', '.join(LAWFUL_BASES)}")
    cond = raw.get("special_category_condition")
    if cond is not None and cond not in SPECIAL_CONDITIONS:
        problems.append(f"consent.special_category_condition {cond!r} is not one of {', '.join(SPECIAL_CONDITIONS)}")
    return dict(raw), problems


def parse_pets(raw: Any, columns: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    if raw is None:
        return [], []
    if not isinstance(raw, list):
        return [], ["pets must be a list of {technique, columns}"]
    pets, problems = [], []
    for i, p in enumerate(raw):
        if not isinstance(p, dict) or p.get("technique") not in PETS:
            got = p.get("technique") if isinstance(p, dict) else p
            problems.append(f"pets[{i}]: technique {got!r} is not one of {', '.join(PETS)}")
            continue
        unknown = [k for k in p if k not in PET_KEYS]
        problems += [f"pets[{i}]: unknown key {k!r}; known keys: {', '.join(PET_KEYS)}" for k in unknown]
        cols = p.get("columns") or []
        if not isinstance(cols, list) or not all(isinstance(c, str) for c in cols):
            problems.append(f"pets[{i}]: columns must be a list of column names")
            cols = []
        absent = [c for c in cols if c not in columns]
        problems += [f"pets[{i}] ({p['technique']}): column {c!r} is not in the data" for c in absent]
        pets.append({"technique": p["technique"], "columns": list(cols)})
    return pets, problems


def run_privacy(df: pd.DataFrame, meta: Any, *, sensitive: tuple[str, ...] = ()) -> StageResult:
    from llmops_cli.govern.stages.data_quality import pii_kind

    columns = [str(c) for c in df.columns]
    consent, problems = parse_consent(meta.fields.get("consent"))
    pets, pet_problems = parse_pets(meta.fields.get("pets"), columns)
    problems += pet_problems
    wide = sorted({p["technique"] for p in pets if p["technique"] in DATASET_WIDE and not p["columns"]})
    pii = sorted(c for c in columns if pii_kind(df[c], c))
    covered = {c for p in pets for c in p["columns"]}
    unprotected = [] if wide else [c for c in pii if c not in covered]
    problems += [f"column {c!r} looks like personal data and no PET covers it" for c in unprotected]
    attrs = list(dict.fromkeys([*meta.sensitive_attributes, *sensitive]))
    special = sorted(c for c in attrs if _SPECIAL.search(c))
    basis = consent.get("basis") if consent else None
    condition = consent.get("special_category_condition") if consent else None
    personal = bool(pii or attrs)
    if basis == "not_applicable" and personal and not wide:
        problems.append(
            "consent.basis is not_applicable, but the data holds personal data "
            f"({', '.join(pii + attrs)}) and no dataset-wide PET (synthetic_data, anonymisation, ...) is declared"
        )
    if special and not wide and basis not in (None, "not_applicable") and condition is None:
        problems.append(
            f"special-category attributes ({', '.join(special)}) need consent.special_category_condition "
            "(GDPR Art. 9(2))"
        )
    metrics = {
        "consent_declared": consent is not None and basis in LAWFUL_BASES,
        "consent_basis": basis,
        "consent_reference": consent.get("reference") if consent else None,
        "special_category_columns": special,
        "special_category_condition": condition,
        "pets": pets,
        "pets_declared": bool(pets),
        "dataset_wide_pet": wide,
        "pii_columns": pii,
        "unprotected_pii_columns": unprotected,
        "unprotected_pii_count": len(unprotected),
        "problems": problems,
        "problem_count": len(problems),
        "consent_valid": consent is not None and basis in LAWFUL_BASES and not problems,
    }
    return StageResult("privacy", metrics)
