"""Model card: Markdown with Hugging Face model-card YAML front matter, plus JSON, and a completeness check
against the fields the policy file requires."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops_cli.govern.io import read_yaml
from llmops_cli.govern.stages import StageResult
from llmops_cli.govern.stages.fields import present

CARD_FIELDS = (
    "name",
    "version",
    "owner",
    "description",
    "intended_use",
    "out_of_scope_use",
    "training_data",
    "evaluation_data",
    "metrics",
    "limitations",
    "ethical_considerations",
    "licence",
    "tags",
    "task",
    "factors",
    "experiment",
)
TEXT_OR_LIST = ("intended_use", "out_of_scope_use", "limitations", "ethical_considerations", "tags", "factors")
MLFLOW_RUN_ID = r"^[0-9a-f]{32}$"  # MLflow run ids: uuid4().hex, 32 lowercase hex digits (not checked at a pinned tag)
# Bundle paths use name/version: keep them to safe path segments.
SAFE_SEGMENT = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$"

METRICS_SCHEMA: dict[str, Any] = {
    "name": "string",
    "version": "string",
    "present_fields": "list",
    "required_fields": "list",
    "missing_required": "list",
    "missing_count": "int",
    "complete": "bool",
    "experiment": {"kind": "string", "reference": "string", "sha256": "string?", "tracking_uri": "string?"},
}


@dataclass(frozen=True)
class ModelMeta:
    fields: dict[str, Any]
    file: Path

    @property
    def name(self) -> str:
        return str(self.fields["name"])

    @property
    def version(self) -> str:
        return str(self.fields["version"])


def load_model_meta(path: Path) -> ModelMeta:
    doc = read_yaml(path, "model metadata")
    data = dict(doc.data)
    if "license" in data and "licence" not in data:
        data["licence"] = data.pop("license")
    for key in data:
        if key not in CARD_FIELDS:
            raise doc.error(f"unknown key {key!r}; known keys: {', '.join(CARD_FIELDS)}", str(key))
    for key in ("name", "version"):
        value = data.get(key)
        if value is None or str(value).strip() == "":
            raise doc.error(
                f"required field {key!r} is missing",
                key,
                hint="the evidence bundle is filed under name/version",
            )
        if not re.fullmatch(SAFE_SEGMENT, str(value)):
            raise doc.error(f"{key} {value!r} must be letters, digits, '.', '_', '+' or '-' (it names a folder)", key)
    for key in TEXT_OR_LIST:
        v = data.get(key)
        if v is not None and not isinstance(v, (str, list)):
            raise doc.error("expected text or a list of text", key)
    for key in ("training_data", "evaluation_data", "metrics"):
        v = data.get(key)
        if v is not None and not isinstance(v, (str, dict, list)):
            raise doc.error("expected text, a mapping or a list", key)
    if data.get("experiment") is not None:
        data["experiment"] = _experiment(doc, data["experiment"], path)
    if data.get("task") is not None and not isinstance(data["task"], str):
        raise doc.error("expected a task name such as tabular-classification", "task")
    return ModelMeta(data, path)


def _experiment(doc: Any, raw: Any, path: Path) -> dict[str, Any]:
    """Experiment logs by reference: ``{mlflow_run_id: <32 hex>, tracking_uri: ...}`` or ``{file: PATH}``."""
    from llmops_cli.govern.io import sha256_file

    if not isinstance(raw, dict) or not ({"mlflow_run_id", "file"} & set(raw)):
        raise doc.error("expected {mlflow_run_id: RUN_ID, tracking_uri: URI} or {file: PATH}", "experiment")
    for key in raw:
        if key not in ("mlflow_run_id", "tracking_uri", "file"):
            raise doc.error(f"unknown key {key!r}; known keys: mlflow_run_id, tracking_uri, file", "experiment", key)
    if "mlflow_run_id" in raw:
        run = str(raw["mlflow_run_id"])
        if not re.fullmatch(MLFLOW_RUN_ID, run):
            raise doc.error(f"{run!r} is not an MLflow run id (32 lowercase hex digits)", "experiment", "mlflow_run_id")
        uri = raw.get("tracking_uri")
        return {"kind": "mlflow", "reference": f"mlflow run {run}", "run_id": run, "tracking_uri": uri, "sha256": None}
    file = Path(str(raw["file"])).expanduser()
    target = file if file.is_absolute() else path.parent / file
    if not target.is_file():
        raise doc.error(f"experiment log {raw['file']!r} not found (relative to {path.name})", "experiment", "file")
    return {"kind": "file", "reference": str(raw["file"]), "sha256": sha256_file(target), "tracking_uri": None}


def run_model_card(meta: ModelMeta, required: tuple[str, ...]) -> StageResult:
    """Completeness metrics; the Markdown is rendered once the governance status is known."""
    given = [f for f in CARD_FIELDS if present(meta.fields.get(f))]  # "TBD", "-" and blanks are missing
    missing = [f for f in required if f not in given]
    metrics = {
        "name": meta.name,
        "version": meta.version,
        "present_fields": given,
        "required_fields": list(required),
        "missing_required": missing,
        "missing_count": len(missing),
        "complete": not missing,
        "experiment": meta.fields.get("experiment"),
    }
    return StageResult("model_card", metrics)


def model_card_document(
    meta: ModelMeta,
    card_metrics: dict[str, Any],
    *,
    data_card: dict[str, Any] | None = None,
    bias: dict[str, Any] | None = None,
    data_quality: dict[str, Any] | None = None,
    explain: dict[str, Any] | None = None,
    governance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The model card as data (model_card.json); the Markdown is rendered from this."""
    f = meta.fields
    doc: dict[str, Any] = {
        "model_details": {
            "name": meta.name,
            "version": meta.version,
            "owner": f.get("owner"),
            "description": f.get("description"),
            "licence": f.get("licence"),
            "tags": f.get("tags") or [],
            "task": f.get("task"),
        },
        "factors": f.get("factors"),
        "experiment": f.get("experiment"),
        "intended_use": f.get("intended_use"),
        "out_of_scope_use": f.get("out_of_scope_use"),
        "training_data": f.get("training_data"),
        "evaluation_data": f.get("evaluation_data"),
        "metrics": f.get("metrics"),
        "limitations": f.get("limitations"),
        "ethical_considerations": f.get("ethical_considerations"),
        "completeness": card_metrics,
    }
    if data_card is not None:
        doc["data_card"] = {
            "file": "data_card.md",
            "name": data_card.get("name"),
            "sha256": data_card.get("sha256"),
            "rows": data_card.get("rows"),
        }
    if data_quality is not None:
        doc["data_quality"] = {
            k: data_quality.get(k)
            for k in (
                "rows",
                "max_missing_ratio",
                "duplicate_ratio",
                "pii_column_count",
                "schema_violation_count",
            )
        }
    if bias is not None:
        from llmops_cli.govern.stages.bias import ATTRIBUTE_METRICS, PRIVILEGED_METRICS

        doc["fairness"] = {
            name: {m: bias[name].get(m) for m in (*ATTRIBUTE_METRICS, *PRIVILEGED_METRICS) if m in bias[name]}
            for name in bias.get("attributes", [])
        }
    if explain is not None:
        doc["explanations"] = {
            "available": explain.get("available"),
            "method": explain.get("method"),
            "warning": explain.get("warning"),
            "top_features": {f: round(explain["features"][f]["share"], 4) for f in explain.get("top_features", [])},
            "sensitive_or_proxy_share": explain.get("sensitive_or_proxy_share"),
        }
    if governance is not None:
        doc["governance"] = governance
    return doc
