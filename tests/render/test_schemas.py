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

from .conftest import all_variants, backup_tree, objects, recovery_tree

CRD_GROUPS = {"argoproj.io", "helm.cattle.io", "monitoring.coreos.com", "postgresql.cnpg.io", "barmancloud.cnpg.io"}
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
    if variant.startswith("prod"):
        expected |= {"Cluster"}
    if variant == "prod-backup":
        expected |= {"ObjectStore", "ScheduledBackup"}
    assert kinds == expected


def test_crd_schemas_reject_unknown_fields():
    app = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "x"},
        "spec": {"project": "p", "destination": {}, "syncPolicy": {"automatic": {}}},
    }
    assert list(jsonschema.Draft202012Validator(crd_schema("Application")).iter_errors(app))


def test_backup_schemas_enforce_what_the_pinned_crds_enforce():
    """The vendored ObjectStore and ScheduledBackup schemas keep the CRDs' patterns, enums and required fields."""
    tree = objects(backup_tree("prod"))
    store = next(o for o in tree.values() if o["kind"] == "ObjectStore")
    scheduled = next(o for o in tree.values() if o["kind"] == "ScheduledBackup")
    cluster = next(o for o in tree.values() if o["kind"] == "Cluster")

    def errors(obj: dict) -> list:
        return list(jsonschema.Draft202012Validator(crd_schema(obj["kind"])).iter_errors(obj))

    assert not errors(store) and not errors(scheduled) and not errors(cluster)
    bad_retention = {**store, "spec": {**store["spec"], "retentionPolicy": "30 days"}}
    no_destination = {**store, "spec": {**store["spec"], "configuration": {"wal": {"compression": "gzip"}}}}
    bad_wal = {
        **store,
        "spec": {**store["spec"], "configuration": {**store["spec"]["configuration"], "wal": {"compression": "zip"}}},
    }
    bad_method = {**scheduled, "spec": {**scheduled["spec"], "method": "barman"}}
    no_schedule = {**scheduled, "spec": {k: v for k, v in scheduled["spec"].items() if k != "schedule"}}
    unnamed_plugin = {**cluster, "spec": {**cluster["spec"], "plugins": [{"isWALArchiver": True}]}}
    for obj in (bad_retention, no_destination, bad_wal, bad_method, no_schedule, unnamed_plugin):
        assert errors(obj), obj["spec"]


def test_the_documented_restore_is_a_cluster_the_pinned_crd_accepts_reading_the_rendered_store():
    """docs/pgvector-backups.md's recovery Cluster: valid for the CRD, and it reads the ObjectStore, the server
    name (the backed-up Cluster's), the database, owner, Secret and image the render uses."""
    import yaml

    from llmops_cli import versions

    doc = (Path(__file__).parents[2] / "docs" / "pgvector-backups.md").read_text()
    blocks = [yaml.safe_load(b.split("```", 1)[0]) for b in doc.split("```yaml\n")[1:]]
    (restore,) = [b for b in blocks if isinstance(b, dict) and b.get("kind") == "Cluster"]
    errors = list(jsonschema.Draft202012Validator(crd_schema("Cluster")).iter_errors(restore))
    assert not errors, errors[0].message
    tree = objects(backup_tree("prod"))
    cluster = next(o for o in tree.values() if o["kind"] == "Cluster")
    store = next(o for o in tree.values() if o["kind"] == "ObjectStore")
    recovery = restore["spec"]["bootstrap"]["recovery"]
    (source,) = restore["spec"]["externalClusters"]
    assert recovery["source"] == source["name"]
    assert source["plugin"]["name"] == cluster["spec"]["plugins"][0]["name"]
    assert source["plugin"]["parameters"] == {
        "barmanObjectName": store["metadata"]["name"],
        "serverName": cluster["metadata"]["name"],
    }
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert (recovery["database"], recovery["owner"], recovery["secret"]) == (
        initdb["database"],
        initdb["owner"],
        initdb["secret"],
    )
    assert restore["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    assert restore["spec"]["imageName"] == cluster["spec"]["imageName"] == versions.CNPG_POSTGRES_IMAGE
    assert restore["metadata"]["name"] != cluster["metadata"]["name"]  # beside the live one, never over it


def test_a_recovery_renders_a_cluster_bootstrapped_from_the_object_store():
    """stacks.pgvector.backup.recovery: the Cluster bootstraps from the rendered ObjectStore's folder of the backed-up
    cluster, to the point in time, keeps the platform's database, owner and Secret, and archives into a new folder."""
    from .upstream.rendered import release

    tree = objects(recovery_tree("prod"))
    cluster = next(o for o in tree.values() if o["kind"] == "Cluster")
    store = next(o for o in tree.values() if o["kind"] == "ObjectStore")
    errors = list(jsonschema.Draft202012Validator(crd_schema("Cluster")).iter_errors(cluster))
    assert not errors, errors[0].message
    cnpg = release("cloudnative-pg chart")
    spec = cluster["spec"]
    assert set(spec) <= cnpg.names("cluster_spec")
    assert set(spec["bootstrap"]) == {"recovery"}  # never initdb over a recovery
    recovery = spec["bootstrap"]["recovery"]
    assert set(recovery) <= cnpg.names("recovery") and set(recovery["recoveryTarget"]) <= cnpg.names("recovery_target")
    assert recovery["recoveryTarget"]["targetTime"] == "2026-12-07T09:59:00Z"
    assert (recovery["database"], recovery["owner"], recovery["secret"]["name"]) == (
        "llmops",
        "llmops",
        "llmops-pgvector",
    )
    (source,) = spec["externalClusters"]
    assert set(source) <= cnpg.names("external_cluster") and source["name"] == recovery["source"]
    assert source["plugin"]["parameters"] == {"barmanObjectName": store["metadata"]["name"], "serverName": "pgvector"}
    (archiver,) = spec["plugins"]
    assert archiver["parameters"]["serverName"] == "pgvector-2" != source["plugin"]["parameters"]["serverName"]
