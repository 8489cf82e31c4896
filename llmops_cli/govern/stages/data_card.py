"""Data card: provenance (from a dataset metadata YAML) and statistics (from the data itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_cli.govern.io import YamlDoc, read_yaml
from llmops_cli.govern.stages import StageResult
from llmops_cli.govern.stages.data_quality import COLUMN_TYPES, ColumnSpec
from llmops_cli.govern.stages.fields import present

if TYPE_CHECKING:
    import pandas as pd

PROVENANCE_FIELDS = (
    "name",
    "description",
    "source",
    "licence",
    "collection_period",
    "consent",
    "preprocessing",
)
META_KEYS = (*PROVENANCE_FIELDS, "license", "sensitive_attributes", "schema", "version", "pets")
COLUMN_KEYS = ("type", "min", "max", "allowed", "required", "description")
TOP_VALUES = 5

METRICS_SCHEMA: dict[str, Any] = {
    **{f: None for f in PROVENANCE_FIELDS},  # text or a list, as written: not type-checked
    "file": "string",
    "sha256": "string",
    "rows": "int",
    "columns": "list",
    "sensitive_attributes": "list",
    "missing_fields": "list",
    "missing_field_count": "int",
    "complete": "bool",
    "column_stats": {
        "*": {
            "type": "string",
            "missing": "int",
            "unique": "int",
            "min": "double?",
            "max": "double?",
            "mean": "double?",
            "top": "map",
        }
    },
}


@dataclass(frozen=True)
class DatasetMeta:
    fields: dict[str, Any] = field(default_factory=dict)
    sensitive_attributes: tuple[str, ...] = ()
    schema: dict[str, ColumnSpec] = field(default_factory=dict)
    file: Path | None = None


def load_dataset_meta(path: Path) -> DatasetMeta:
    doc = read_yaml(path, "dataset metadata")
    for key in doc.data:
        if key not in META_KEYS:
            raise doc.error(f"unknown key {key!r}; known keys: {', '.join(META_KEYS)}", str(key))
    fields: dict[str, Any] = {}
    for key in PROVENANCE_FIELDS:
        value = doc.data.get(key)
        if key == "licence" and value is None:
            value = doc.data.get("license")
        if key == "consent" and isinstance(value, dict):  # structured: checked by the privacy stage
            fields[key] = value
            continue
        if value is not None and not isinstance(value, (str, list, int, float, bool)):
            raise doc.error("expected text or a list of text", key)
        fields[key] = value
    fields["pets"] = doc.data.get("pets")  # privacy-enhancing techniques: checked by the privacy stage
    sens = doc.data.get("sensitive_attributes") or []
    if not isinstance(sens, list) or not all(isinstance(s, str) for s in sens):
        raise doc.error("expected a list of column names", "sensitive_attributes")
    return DatasetMeta(fields, tuple(sens), _schema(doc), path)


def _schema(doc: YamlDoc) -> dict[str, ColumnSpec]:
    raw = doc.data.get("schema") or {}
    if not isinstance(raw, dict):
        raise doc.error("expected a mapping of column name -> {type, min, max, allowed}", "schema")
    out: dict[str, ColumnSpec] = {}
    for col, spec in raw.items():
        at = ("schema", str(col))
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise doc.error("expected a mapping with type, min, max, allowed, required", *at)
        for key in spec:
            if key not in COLUMN_KEYS:
                raise doc.error(f"unknown key {key!r}; known keys: {', '.join(COLUMN_KEYS)}", *at, str(key))
        kind = spec.get("type")
        if kind is not None and kind not in COLUMN_TYPES:
            raise doc.error(f"type must be one of {', '.join(COLUMN_TYPES)}, got {kind!r}", *at, "type")
        for bound in ("min", "max"):
            v = spec.get(bound)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise doc.error(f"{bound} must be a number, got {v!r}", *at, bound)
        allowed = spec.get("allowed")
        if allowed is not None and not isinstance(allowed, list):
            raise doc.error("allowed must be a list of values", *at, "allowed")
        required = spec.get("required", True)
        if not isinstance(required, bool):
            raise doc.error("required must be true or false", *at, "required")
        out[str(col)] = ColumnSpec(
            type=kind,
            min=spec.get("min"),
            max=spec.get("max"),
            allowed=tuple(allowed) if allowed is not None else None,
            required=required,
        )
    return out


def column_stats(df: pd.DataFrame) -> dict[str, Any]:
    import pandas as pd

    from llmops_cli.govern.stages.data_quality import dtype_name, value_counts

    stats: dict[str, Any] = {}
    for c in df.columns:
        s = df[c]
        row: dict[str, Any] = {
            "type": dtype_name(s),
            "missing": int(s.isna().sum()),
            "unique": int(s.nunique(dropna=True)),
        }
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s) and s.notna().any():
            row.update(min=float(s.min()), max=float(s.max()), mean=float(s.mean()))
        else:
            counts = value_counts(s)
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_VALUES]
            row["top"] = dict(top)
        stats[str(c)] = row
    return stats


def run_data_card(
    df: pd.DataFrame,
    meta: DatasetMeta,
    *,
    data_file: str,
    sha256: str,
    sensitive: tuple[str, ...] = (),
) -> StageResult:
    sens = list(dict.fromkeys([*meta.sensitive_attributes, *sensitive]))
    missing = [f for f in PROVENANCE_FIELDS if not present(meta.fields.get(f))]
    metrics: dict[str, Any] = {
        **{f: meta.fields.get(f) for f in PROVENANCE_FIELDS},
        "file": data_file,
        "sha256": sha256,
        "rows": len(df),
        "columns": [str(c) for c in df.columns],
        "sensitive_attributes": sens,
        "missing_fields": missing,
        "missing_field_count": len(missing),
        "complete": not missing,
        "column_stats": column_stats(df),
    }
    if metrics["name"] in (None, ""):
        metrics["name"] = Path(data_file).stem
    return StageResult("data_card", metrics)
