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
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?\(?\d[\d\s().-]{5,18}\d$")
_SSN = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_NAME_VALUE = re.compile(r"^[A-Z][a-z]+(?:[ '-][A-Z][a-z'-]+)+$")
_NAME_COLUMN = re.compile(r"(^|[_ -])(first|last|full|given|family|sur|middle)?[_ -]?name$", re.IGNORECASE)

METRICS_SCHEMA: dict[str, Any] = {
    "rows": None,
    "columns": None,
    "missing_cells": None,
    "missing_ratio": {"*": None},
    "max_missing_ratio": None,
    "duplicate_rows": None,
    "duplicate_ratio": None,
    "constant_columns": None,
    "constant_column_count": None,
    "schema_violations": None,
    "schema_violation_count": None,
    "out_of_range": {"*": None},
    "out_of_range_total": None,
    "label_balance": {"positive_ratio": None, "minority_ratio": None, "classes": {"*": None}},
    "pii_columns": {"*": None},
    "pii_column_count": None,
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


def pii_kind(series: pd.Series, column: str) -> str | None:
    """'email', 'phone', 'ssn' or 'name' when most sampled values look like it, else None."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    values = [str(v).strip() for v in series.dropna().head(PII_SAMPLE)]
    values = [v for v in values if v]
    if not values:
        return None
    for kind, pattern in (("email", _EMAIL), ("ssn", _SSN), ("phone", _PHONE)):
        hits = sum(1 for v in values if pattern.match(v))
        if hits / len(values) >= PII_MIN_SHARE and (kind != "phone" or _phone_like(values)):
            return kind
    name_hits = sum(1 for v in values if _NAME_VALUE.match(v)) / len(values)
    distinct = len(set(values)) / len(values)
    if (_NAME_COLUMN.search(column) and name_hits >= 0.3) or (name_hits >= 0.8 and distinct >= 0.5):
        return "name"
    return None


def _phone_like(values: list[str]) -> bool:
    # Plain integers (ids, counts) are not phone numbers: require a separator or a leading '+'.
    sep = sum(1 for v in values if v.startswith("+") or any(c in v for c in " -()."))
    return sep / len(values) >= PII_MIN_SHARE


def run_data_quality(df: pd.DataFrame, cfg: DataQualityConfig) -> StageResult:
    import numpy as np

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
            allowed = {str(a) for a in spec.allowed}
            bad |= (~s.astype(str).isin(allowed) & s.notna()).to_numpy(dtype=bool)
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
    }
    if cfg.label and cfg.label in df.columns:
        metrics["label_balance"] = label_balance(df[cfg.label], cfg.positive)
    pii = {str(c): k for c in df.columns if (k := pii_kind(df[c], str(c)))}
    metrics["pii_columns"] = pii
    metrics["pii_column_count"] = len(pii)
    return StageResult("data_quality", metrics)


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


def label_balance(s: pd.Series, positive: str | None) -> dict[str, Any]:
    counts = value_counts(s)
    total = sum(counts.values()) or 1
    classes = {k: v / total for k, v in sorted(counts.items())}
    pos_key = positive if positive is not None else ("1" if "1" in classes else None)
    out: dict[str, Any] = {
        "classes": classes,
        "minority_ratio": min(classes.values()) if len(classes) > 1 else 0.0,
    }
    out["positive_ratio"] = classes.get(pos_key, 0.0) if pos_key is not None else None
    return out
