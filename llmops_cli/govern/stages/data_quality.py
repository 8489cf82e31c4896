"""Data quality: declared schema and types, missing values, duplicates, constant columns, out-of-range values,
label balance and columns that look like personal data."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.govern.stages import StageResult

if TYPE_CHECKING:
    import pandas as pd

COLUMN_TYPES = ("integer", "number", "string", "boolean")
PII_SAMPLE = 1000
PII_MIN_SHARE = 0.5
# Personal-data detectors (what each can and cannot find: policies/README.md, "Personal data"). They read up to
# PII_SAMPLE non-blank values of a text column and fire when at least PII_MIN_SHARE of them match.
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?\(?\d[\d\s().-]{5,18}\d$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_DATE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?)?$"
)
_NAME_VALUE = re.compile(r"^[A-Z][a-z]+(?:[ '-][A-Z][a-z'-]+)+$")
_NAME_WORDS = re.compile(r"^[^\W\d_]+(?:[ '.-]+[^\W\d_]+){0,3}\.?$")
_NAME_TOKENS = {
    "name",
    "names",
    "first",
    "last",
    "surname",
    "forename",
    "firstname",
    "lastname",
    "fullname",
    "givenname",
    "familyname",
    "middlename",
    "maidenname",
}
_BIRTH_TOKENS = {"dob", "birth", "birthday", "birthdate", "born", "dateofbirth"}
# The metrics and their CEL types, for policy checks at load time ("*" = any key; "?" = may be null).
METRICS_SCHEMA: dict[str, Any] = {
    "rows": "int",
    "columns": "int",
    "missing_cells": "int",
    "missing_ratio": {"*": "double"},
    "max_missing_ratio": "double",
    "duplicate_rows": "int",
    "duplicate_ratio": "double",
    "constant_columns": "list",
    "constant_column_count": "int",
    "schema_violations": "list",
    "schema_violation_count": "int",
    "out_of_range": {"*": "int"},
    "out_of_range_total": "int",
    "label_balance": {"positive_ratio": "double?", "minority_ratio": "double", "classes": {"*": "double"}},
    "pii_columns": {"*": "string"},
    "pii_column_count": "int",
    "duplicate_column_names": {"*": "list"},
    "duplicate_column_count": "int",
}


@dataclass(frozen=True)
class ColumnSpec:
    type: str | None = None
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None
    required: bool = True


@dataclass(frozen=True)
class DataQualityConfig:
    label: str | None = None
    positive: str | None = None
    label_map: Mapping[str, str] = field(default_factory=dict)  # raw label value -> the class it counts as
    schema: Mapping[str, ColumnSpec] = field(default_factory=dict)


def _is_type(series: pd.Series, kind: str) -> bool:
    import pandas as pd

    s = series.dropna()
    if kind == "boolean":
        return pd.api.types.is_bool_dtype(series) or bool(s.isin([0, 1, True, False]).all())
    if kind == "integer":
        if pd.api.types.is_integer_dtype(series):
            return True
        return pd.api.types.is_float_dtype(series) and bool((s == s.round()).all())
    if kind == "number":
        return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def dtype_name(series: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    return "string"


def _tokens(column: str) -> set[str]:
    """Words of a column name (``first_name``, ``FirstName``, ``date-of-birth``), lower case, plus their join."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", column)
    words = [w.lower() for w in re.split(r"[^A-Za-z]+", spaced) if w]
    return {*words, "".join(words)}


def pii_kind(series: pd.Series, column: str) -> str | None:
    """'email', 'ssn', 'date_of_birth', 'phone' or 'name' when most sampled values look like it, else None."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    values = [str(v).strip() for v in series.dropna().head(PII_SAMPLE)]
    values = [v for v in values if v]
    if not values:
        return None
    tokens = _tokens(column)

    def share(pattern: re.Pattern[str]) -> float:
        return sum(1 for v in values if pattern.match(v)) / len(values)

    if share(_EMAIL) >= PII_MIN_SHARE:
        return "email"
    if share(_SSN) >= PII_MIN_SHARE:
        return "ssn"
    dates = share(_DATE)
    if dates >= PII_MIN_SHARE:
        # Dates are personal data when they are birth dates; other dates (a screening date) are not flagged.
        return "date_of_birth" if tokens & _BIRTH_TOKENS else None
    phones = [v for v in values if _PHONE.match(v) and 7 <= sum(c.isdigit() for c in v) <= 15]
    if len(phones) / len(values) >= PII_MIN_SHARE and _phone_like(phones):
        return "phone"
    distinct = len(set(values)) / len(values)
    if tokens & _NAME_TOKENS and share(_NAME_WORDS) >= 0.8 and distinct >= 0.05:
        return "name"  # any case ("miguel hernandez") when the column is called a name
    if share(_NAME_VALUE) >= 0.8 and distinct >= 0.5:
        return "name"  # "Ada Lovelace" shapes in a column with another name, when nearly every value differs
    return None


def _phone_like(values: list[str]) -> bool:
    # Plain integers (ids, counts) are not phone numbers: require a separator or a leading '+'.
    sep = sum(1 for v in values if v.startswith("+") or any(c in v for c in " -()."))
    return sep / len(values) >= PII_MIN_SHARE


def run_data_quality(df: pd.DataFrame, cfg: DataQualityConfig) -> StageResult:
    import numpy as np

    from llmops_cli.govern.io import DUPLICATES

    rows = len(df)
    missing = df.isna().sum()
    missing_ratio = {str(c): float(missing[c]) / rows for c in df.columns}
    dup = int(df.duplicated().sum())
    constant = [str(c) for c in df.columns if df[c].nunique(dropna=False) <= 1]
    violations: list[str] = []
    out_of_range: dict[str, int] = {}
    for col, spec in cfg.schema.items():
        if col not in df.columns:
            if spec.required:
                violations.append(f"column {col!r} is declared but missing")
            continue
        s = df[col]
        if spec.type and not _is_type(s, spec.type):
            violations.append(f"column {col!r} should be {spec.type}, found {dtype_name(s)}")
            continue
        bad = np.zeros(rows, dtype=bool)
        if spec.min is not None or spec.max is not None:
            num = _as_number(s)
            if spec.min is not None:
                bad |= (num < spec.min).to_numpy(dtype=bool, na_value=False)
            if spec.max is not None:
                bad |= (num > spec.max).to_numpy(dtype=bool, na_value=False)
        if spec.allowed is not None:
            bad |= not_allowed(s, spec.allowed)
        out_of_range[col] = int(bad.sum())
    metrics: dict[str, Any] = {
        "rows": rows,
        "columns": len(df.columns),
        "missing_cells": int(missing.sum()),
        "missing_ratio": missing_ratio,
        "max_missing_ratio": max(missing_ratio.values(), default=0.0),
        "duplicate_rows": dup,
        "duplicate_ratio": dup / rows,
        "constant_columns": constant,
        "constant_column_count": len(constant),
        "schema_violations": violations,
        "schema_violation_count": len(violations),
        "out_of_range": out_of_range,
        "out_of_range_total": sum(out_of_range.values()),
        "pii_columns": {},
        "pii_column_count": 0,
        "duplicate_column_names": {k: list(v) for k, v in df.attrs.get(DUPLICATES, {}).items()},
        "duplicate_column_count": len(df.attrs.get(DUPLICATES, {})),
    }
    if cfg.label and cfg.label in df.columns:
        metrics["label_balance"] = label_balance(df[cfg.label], cfg.positive, cfg.label_map)
    pii = {str(c): k for c in df.columns if (k := pii_kind(df[c], str(c)))}
    metrics["pii_columns"] = pii
    metrics["pii_column_count"] = len(pii)
    return StageResult("data_quality", metrics)


def not_allowed(s: pd.Series, allowed: tuple[Any, ...]) -> Any:
    """Rows whose value is not in ``allowed``; missing values are counted as missing, not as out of range.

    Values compare as they print (``1`` = ``1.0``: a 0/1 column with one blank cell is read as floats)."""
    import numpy as np

    from llmops_cli.govern.stages.bias import group_label

    ok = {group_label(a) for a in allowed}
    codes, uniques = s.factorize(use_na_sentinel=True)
    hit = np.array([group_label(u) not in ok for u in uniques] + [False], dtype=bool)
    return hit[np.asarray(codes)]


def _as_number(s: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(s, errors="coerce")


def value_counts(s: pd.Series) -> dict[str, int]:
    """Non-missing values (as group labels: 1.0 reads '1') and their counts; one hash pass over the rows."""
    from llmops_cli.govern.stages.bias import group_label

    out: dict[str, int] = {}
    for k, v in s.value_counts(dropna=True).items():
        label = group_label(k)
        out[label] = out.get(label, 0) + int(v)
    return out


def label_balance(s: pd.Series, positive: str | None, label_map: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Class shares of the label column, counted as the bias scan counts them (after ``label_map``)."""
    counts = value_counts(s)
    if label_map:
        from llmops_cli.govern.stages.bias import column_value

        keys = {column_value(s, k): column_value(s, v) for k, v in label_map.items()}
        mapped: dict[str, int] = {}
        for k, n in counts.items():
            mapped[keys.get(k, k)] = mapped.get(keys.get(k, k), 0) + n
        counts = mapped
    total = sum(counts.values()) or 1
    classes = {k: v / total for k, v in sorted(counts.items())}
    pos_key = positive if positive is not None else ("1" if "1" in classes else None)
    out: dict[str, Any] = {
        "classes": classes,
        "minority_ratio": min(classes.values()) if len(classes) > 1 else 0.0,
    }
    out["positive_ratio"] = classes.get(pos_key, 0.0) if pos_key is not None else None
    return out
