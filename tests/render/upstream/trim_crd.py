"""Trim a CRD's OpenAPI schema to the fields the rendered objects (and the test stand-ins) use.

The schemas in tests/render/crd_schemas/ are facts read from the pinned release's CRD, not copies of it: only
the property paths listed here survive, each with its upstream type, format, enum and int-or-string form, and
every object keeps the upstream ``required`` list (the trim refuses to drop a required field). Objects get
``additionalProperties: false`` so a field the CRD does not define (a typo, a field of another release) fails.

    git -C <argo-rollouts checkout> show v1.9.0:manifests/crds/rollout-crd.yaml > /tmp/rollout-crd.yaml
    python -m tests.render.upstream.trim_crd rollout /tmp/rollout-crd.yaml > tests/render/crd_schemas/rollout.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

META = {
    "additionalProperties": False,
    "properties": {
        "annotations": {"additionalProperties": {"type": "string"}, "type": "object"},
        "labels": {"additionalProperties": {"type": "string"}, "type": "object"},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "generation": {"type": "integer"},
        "uid": {"type": "string"},
        "creationTimestamp": {"type": "string"},
        "ownerReferences": {
            "items": {
                "additionalProperties": False,
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "uid": {"type": "string"},
                    "controller": {"type": "boolean"},
                    "blockOwnerDeletion": {"type": "boolean"},
                },
                "required": ["apiVersion", "kind", "name", "uid"],
                "type": "object",
            },
            "type": "array",
        },
    },
    "required": ["name"],
    "type": "object",
}

_METRIC = [
    "name",
    "interval",
    "initialDelay",
    "count",
    "failureLimit",
    "inconclusiveLimit",
    "consecutiveErrorLimit",
    "successCondition",
    "failureCondition",
    "provider.prometheus.address",
    "provider.prometheus.query",
    "provider.prometheus.timeout",
]
_ARGS = ["name", "value"]

PATHS: dict[str, list[str]] = {
    "rollout": [
        "spec.replicas",
        "spec.revisionHistoryLimit",
        "spec.progressDeadlineSeconds",
        "spec.progressDeadlineAbort",
        "spec.selector.matchLabels",
        "spec.workloadRef.apiVersion",
        "spec.workloadRef.kind",
        "spec.workloadRef.name",
        "spec.workloadRef.scaleDown",
        "spec.strategy.canary.maxSurge",
        "spec.strategy.canary.maxUnavailable",
        "spec.strategy.canary.steps[].setWeight",
        "spec.strategy.canary.steps[].pause.duration",
        "spec.strategy.canary.steps[].analysis.templates[].templateName",
        "spec.strategy.canary.steps[].analysis.args[].name",
        "spec.strategy.canary.steps[].analysis.args[].value",
        "spec.strategy.canary.steps[].analysis.args[].valueFrom.podTemplateHashValue",
        "status.abort",
        "status.abortedAt",
        "status.phase",
        "status.message",
        "status.stableRS",
        "status.currentPodHash",
        "status.currentStepIndex",
        "status.replicas",
        "status.updatedReplicas",
        "status.readyReplicas",
        "status.availableReplicas",
        "status.observedGeneration",
        "status.conditions[].type",
        "status.conditions[].status",
        "status.conditions[].reason",
        "status.conditions[].message",
        "status.conditions[].lastUpdateTime",
        "status.conditions[].lastTransitionTime",
        "status.canary.currentStepAnalysisRunStatus.name",
        "status.canary.currentStepAnalysisRunStatus.status",
        "status.canary.currentStepAnalysisRunStatus.message",
    ],
    "analysistemplate": [*(f"spec.args[].{a}" for a in _ARGS), *(f"spec.metrics[].{m}" for m in _METRIC)],
    "analysisrun": [
        *(f"spec.args[].{a}" for a in _ARGS),
        *(f"spec.metrics[].{m}" for m in _METRIC),
        "spec.terminate",
        "status.phase",
        "status.message",
        "status.startedAt",
        "status.completedAt",
        *(
            f"status.metricResults[].{f}"
            for f in (
                "name",
                "phase",
                "message",
                "count",
                "successful",
                "failed",
                "inconclusive",
                "error",
                "consecutiveError",
                "consecutiveSuccess",
                "dryRun",
                "metadata",
            )
        ),
        *(
            f"status.metricResults[].measurements[].{f}"
            for f in ("phase", "message", "startedAt", "finishedAt", "value", "metadata")
        ),
        *(f"status.runSummary.{f}" for f in ("count", "successful", "failed", "inconclusive", "error")),
        *(f"status.dryRunSummary.{f}" for f in ("count", "successful", "failed", "inconclusive", "error")),
    ],
    # CloudNativePG chart cloudnative-pg-v0.29.0 templates/crds/crds.yaml (scheduledbackups.postgresql.cnpg.io).
    "scheduledbackup": [
        "spec.schedule",
        "spec.immediate",
        "spec.suspend",
        "spec.backupOwnerReference",
        "spec.cluster.name",
        "spec.method",
        "spec.target",
        "spec.pluginConfiguration.name",
        "spec.pluginConfiguration.parameters",
    ],
    # cloudnative-pg/charts plugin-barman-cloud-v0.7.0 templates/crds/crds.yaml (objectstores.barmancloud.cnpg.io).
    "objectstore": [
        "spec.retentionPolicy",
        "spec.configuration.destinationPath",
        "spec.configuration.endpointURL",
        "spec.configuration.endpointCA.name",
        "spec.configuration.endpointCA.key",
        *(
            f"spec.configuration.s3Credentials.{k}.{f}"
            for k in ("accessKeyId", "secretAccessKey", "region", "sessionToken")
            for f in ("name", "key")
        ),
        "spec.configuration.s3Credentials.inheritFromIAMRole",
        "spec.configuration.wal.compression",
        "spec.configuration.wal.maxParallel",
        "spec.configuration.data.compression",
        "spec.configuration.data.jobs",
        "spec.instanceSidecarConfiguration.resources",
        "spec.instanceSidecarConfiguration.retentionPolicyIntervalSeconds",
    ],
    # Added to cluster.json (the other Cluster fields there were trimmed earlier): the Barman Cloud plugin, and
    # the external cluster a recovery reads from (docs/pgvector-backups.md).
    "cluster": [
        "spec.instances",
        "spec.plugins[].name",
        "spec.plugins[].enabled",
        "spec.plugins[].isWALArchiver",
        "spec.plugins[].parameters",
        "spec.externalClusters[].name",
        "spec.externalClusters[].plugin.name",
        "spec.externalClusters[].plugin.enabled",
        "spec.externalClusters[].plugin.isWALArchiver",
        "spec.externalClusters[].plugin.parameters",
    ],
}

_KEEP = ("type", "format", "enum", "anyOf", "x-kubernetes-int-or-string", "additionalProperties", "items")


def _leaf(schema: dict[str, Any]) -> dict[str, Any]:
    """A kept field: its whole upstream schema (maps and int-or-strings included), minus descriptions."""
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k == "description":
            continue
        out[k] = (
            _leaf(v)
            if isinstance(v, dict)
            else ([_leaf(x) if isinstance(x, dict) else x for x in v] if isinstance(v, list) else v)
        )
    if "properties" in out:
        out["properties"] = {k: _leaf(v) for k, v in schema["properties"].items()}
    return out


def _insert(dst: dict[str, Any], src: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    array = head.endswith("[]")
    name = head[:-2] if array else head
    props = src.get("properties") or {}
    if name not in props:
        raise SystemExit(f"{name} is not a property here (have: {', '.join(sorted(props))})")
    sub = props[name]
    dst.setdefault("type", "object")
    dst["additionalProperties"] = False
    dst.setdefault("properties", {})
    if not rest:
        dst["properties"][name] = _leaf(sub)
        return
    node = dst["properties"].setdefault(name, {})
    if array:
        node["type"] = "array"
        node.setdefault("items", {})
        _insert(node["items"], sub["items"], rest)
        _required(node["items"], sub["items"])
    else:
        _insert(node, sub, rest)
        _required(node, sub)


def _required(dst: dict[str, Any], src: dict[str, Any]) -> None:
    req = src.get("required") or []
    if req:
        dst["required"] = list(req)


def trim(crd: dict[str, Any], kind_key: str) -> dict[str, Any]:
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    group = crd["spec"]["group"]
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": f"{group}/{version['name']}"},
            "kind": {"const": crd["spec"]["names"]["kind"]},
            "metadata": META,
        },
        "required": ["apiVersion", "kind", "metadata", *(schema.get("required") or [])],
        "type": "object",
    }
    for path in PATHS[kind_key]:
        _insert(out, schema, path.split("."))
    # Every object kept must keep the fields upstream requires of it.
    _check_required(out, schema, kind_key)
    out["properties"]["metadata"] = META
    return out


def _check_required(dst: dict[str, Any], src: dict[str, Any], where: str) -> None:
    for name in dst.get("required") or []:
        if name in ("apiVersion", "kind", "metadata"):
            continue
        if name not in (dst.get("properties") or {}):
            raise SystemExit(f"{where}: the CRD requires {name}, which the trim would drop: add it to PATHS")
    for name, sub in (dst.get("properties") or {}).items():
        src_sub = (src.get("properties") or {}).get(name) or {}
        if sub.get("type") == "array" and "items" in sub and "properties" in sub["items"]:
            _check_required(sub["items"], src_sub.get("items") or {}, f"{where}.{name}[]")
        elif "properties" in sub and "additionalProperties" in sub and sub["additionalProperties"] is False:
            _check_required(sub, src_sub, f"{where}.{name}")


def main(argv: list[str]) -> None:
    kind_key, path = argv
    with open(path, encoding="utf-8") as fh:
        crd = yaml.safe_load(fh)
    json.dump(trim(crd, kind_key), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
