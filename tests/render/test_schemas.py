"""Every core object passes kubernetes-validate --strict for the pinned k3s's Kubernetes minor; every
custom resource passes a schema of the fields its pinned CRD defines (tests/render/crd_schemas)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from llmops_cli.versions import KUBERNETES_MINOR

from .conftest import all_variants, objects

CRD_GROUPS = {"argoproj.io", "helm.cattle.io", "monitoring.coreos.com", "postgresql.cnpg.io"}
SCHEMAS = Path(__file__).parent / "crd_schemas"


@cache
def crd_schema(kind: str) -> dict:
    return json.loads((SCHEMAS / f"{kind.lower()}.json").read_text())


def _group(obj: dict) -> str:
    api = obj["apiVersion"]
    return api.split("/")[0] if "/" in api else ""


@pytest.mark.parametrize(("variant", "tree"), all_variants(), ids=[v for v, _ in all_variants()])
def test_core_objects_pass_kubernetes_validate_strict(variant, tree):
    checked = 0
    for path, obj in objects(tree).items():
        if _group(obj) in CRD_GROUPS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_MINOR, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{variant} {path}: {e.message}")
        checked += 1
    assert checked > 10


@pytest.mark.parametrize(("variant", "tree"), all_variants(), ids=[v for v, _ in all_variants()])
def test_custom_resources_match_their_crd_schema(variant, tree):
    kinds = set()
    for path, obj in objects(tree).items():
        if _group(obj) not in CRD_GROUPS:
            continue
        schema = crd_schema(obj["kind"])
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(obj), key=str)
        assert not errors, f"{variant} {path}: {errors[0].message} at {list(errors[0].absolute_path)}"
        kinds.add(obj["kind"])
    expected = {
        "Application", "AppProject", "HelmChart", "ServiceMonitor", "PrometheusRule", "Rollout", "AnalysisTemplate",
    }  # fmt: skip
    assert kinds == (expected | {"Cluster"} if variant.startswith("prod") else expected)


def test_crd_schemas_reject_unknown_fields():
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "x"},
        "spec": {"project": "p", "destination": {}, "syncPolicy": {"automatic": {}}},
    }
    assert list(jsonschema.Draft202012Validator(crd_schema("Application")).iter_errors(app))
