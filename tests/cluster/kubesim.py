"""A simulated single-node k3s cluster that enforces what a real one enforces where `up` and `down` depend on it.

Used by both stand-ins of the Kubernetes API (the in-memory ``FakeKube`` and the HTTP ``apistub``), so they
fail alike. What it enforces, each as the real component does:

- **API server**: creating a namespaced object in a missing namespace is 404, in a Terminating one 403
  ("unable to create new content in namespace X because it is being terminated"); an object with finalizers is
  only marked for deletion (``deletionTimestamp``) until they are gone; a namespace is Terminating until
  everything in it is gone; Argo CD's kinds exist only once their CRDs do; Secrets keep ``data`` (base64), never
  ``stringData``; a pod naming a RuntimeClass that does not exist is rejected.
- **Scheduler**: a pod is bound to the node only if its node selector/affinity match and its requests (cpu,
  memory, ``nvidia.com/gpu``, counted against every pod bound and not finished) fit the node's allocatable;
  otherwise it stays Pending with ``PodScheduled=False``/Unschedulable and a FailedScheduling event, as
  kube-scheduler reports it.
- **kubelet**: a bound pod whose Secret or ConfigMap volume (or secretKeyRef) does not exist waits in
  ContainerCreating; otherwise it runs (Deployments, StatefulSets, DaemonSets) or completes (Jobs).
- **Controllers**: Deployments/StatefulSets/DaemonSets/Jobs own their pods, and so do Argo Rollouts' Rollouts
  (from the template of the Deployment their ``workloadRef`` names, as if the rollouts controller ran); Jobs
  succeed only when their pod did; the NVIDIA device plugin's pod, once it runs, makes ``nvidia.com/gpu`` allocatable (GPUs x time-slicing
  replicas); k3s's helm-controller installs Argo CD for a managed HelmChart, adds its finalizer and uninstalls
  on deletion, and ignores a chart annotated unmanaged; the local Git server accepts the push Job only while it
  is available; Argo CD (while its application controller runs) syncs Applications from the pushed tree or a
  remote one, reports health, cascades deletions through ``resources-finalizer.argocd.argoproj.io`` and
  releases an AppProject's finalizer once no Application uses it. Application status is shaped as Argo CD
  v3.4.4 writes it: no ``health.message`` on the Application (deprecated, never set), a failed apply in
  ``operationState``, and each resource's health only when the chart's ``argocd-cmd-params-cm`` sets
  ``controller.resource.health.persist: "true"`` (otherwise ``resourceHealthSource: appTree``; see
  ``llmops_cli.adapters.upstream``).
"""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import io
import re
import tarfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Key = tuple[str, str, str, str]  # (apiVersion, kind, namespace, name)

# (apiVersion, kind) -> (plural, namespaced): what discovery answers for the kinds llmops and the tree use.
TYPES: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Node"): ("nodes", False),
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "Pod"): ("pods", True),
    ("v1", "Event"): ("events", True),
    ("v1", "PersistentVolumeClaim"): ("persistentvolumeclaims", True),
    ("apps/v1", "Deployment"): ("deployments", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("apps/v1", "DaemonSet"): ("daemonsets", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networkpolicies", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ("clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ("clusterrolebindings", False),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ("customresourcedefinitions", False),
    ("node.k8s.io/v1", "RuntimeClass"): ("runtimeclasses", False),
    ("helm.cattle.io/v1", "HelmChart"): ("helmcharts", True),
    ("argoproj.io/v1alpha1", "Application"): ("applications", True),
    ("argoproj.io/v1alpha1", "AppProject"): ("appprojects", True),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("servicemonitors", True),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("prometheusrules", True),
    ("argoproj.io/v1alpha1", "Rollout"): ("rollouts", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
    ("postgresql.cnpg.io/v1", "Cluster"): ("clusters", True),
}
# Kinds that exist only once a CRD defines them (k3s ships the HelmChart CRD itself).
CRD_OF = {
    ("argoproj.io/v1alpha1", "Application"): "applications.argoproj.io",
    ("argoproj.io/v1alpha1", "AppProject"): "appprojects.argoproj.io",
    ("postgresql.cnpg.io/v1", "Cluster"): "clusters.postgresql.cnpg.io",
}
# What Argo CD's own health check for a CloudNativePG Cluster reads (argo-cd v3.4.4
# resource_customizations/postgresql.cnpg.io/Cluster/health.lua: status.phase).
CNPG_HEALTHY = "Cluster in healthy state"
CNPG_SETTING_UP = "Setting up primary"
ARGO_CASCADE = "resources-finalizer.argocd.argoproj.io"
ARGOCD_CMD_PARAMS = "argocd-cmd-params-cm"
PERSIST_RESOURCE_HEALTH = "controller.resource.health.persist"
HELM_FINALIZER = "wrangler.cattle.io/on-helm-chart-remove"
HELM_UNMANAGED = "helmcharts.helm.cattle.io/unmanaged"
TRACKING = "argocd.argoproj.io/tracking-id"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "Rollout")
# Kinds whose pods are replicas of a template (a Rollout is Argo Rollouts' Deployment: its controller makes the
# pods, from spec.template or the template of the Deployment that spec.workloadRef names).
REPLICATED = ("Deployment", "StatefulSet", "Rollout")


class SimError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"])


def quantity(value: Any) -> float:
    """A Kubernetes quantity as a number (cpu in cores, memory in bytes, counts as counts)."""
    text = str(value)
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", text)
    if not m:
        raise ValueError(f"bad quantity {text!r}")
    n, unit = float(m.group(1)), m.group(2)
    scale = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return n * scale[unit]


def pod_requests(spec: Mapping[str, Any]) -> dict[str, float]:
    """Requests of a pod (extended resources: requests default to limits, which they must equal)."""
    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        req = dict(res.get("limits") or {})
        req = {k: v for k, v in req.items() if "/" in k}  # only extended resources default to limits
        req.update(res.get("requests") or {})
        for k, v in req.items():
            total[k] = total.get(k, 0.0) + quantity(v)
    return total


def _selector_matches(selector: str | None, labels: Mapping[str, str]) -> bool:
    if not selector:
        return True
    for part in selector.split(","):
        k, _, v = part.partition("=")
        if labels.get(k) != v:
            return False
    return True


@dataclass
class Sim:
    objects: dict[Key, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    job_logs: dict[str, str] = field(default_factory=dict)  # Job name -> what its pod prints
    remote_trees: dict[str, dict[str, str]] = field(default_factory=dict)  # repo URL -> files (remote GitOps)
    # repo URL -> the commit those files are (Argo CD reports it as status.sync.revision: argo-cd v3.4.4
    # pkg/apis/application/v1alpha1/types.go SyncStatus.Revision)
    remote_revisions: dict[str, str] = field(default_factory=dict)
    git_tree: dict[str, str] | None = None  # what the local Git server holds (after a push)
    git_files: dict[str, bytes] = field(default_factory=dict)  # the same, every file (bundled charts too)
    # No route to the internet: a chart source on a Helm repository fails as Argo CD's repo-server does.
    offline: bool = False
    git_url: str = "http://llmops-git.llmops-system.svc:80/llmops.git"
    gpus: int = 0  # physical GPUs the device plugin finds on the node
    app_health: str = "Healthy"  # forced health of path Applications (tests of unhealthy waits)
    controllers_enabled: bool = True
    runtime_handlers: set[str] = field(default_factory=lambda: {"runc"})  # what k3s's containerd config has
    _serial: int = 0

    # ------------------------------------------------------------------ plumbing
    def _stamp(self, obj: dict[str, Any]) -> None:
        self._serial += 1
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{self._serial}")
        meta["resourceVersion"] = str(self._serial)
        meta.setdefault("creationTimestamp", f"2026-01-01T00:00:{self._serial % 60:02d}Z")

    def event(self, ns: str, kind: str, name: str, reason: str, message: str) -> None:
        self._serial += 1
        self.events.append(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{name}.{self._serial}", "namespace": ns},
                "involvedObject": {"kind": kind, "name": name, "namespace": ns},
                "reason": reason,
                "message": message,
                "lastTimestamp": f"2026-01-01T00:{self._serial // 60 % 60:02d}:{self._serial % 60:02d}Z",
            }
        )

    def type_exists(self, api_version: str, kind: str) -> bool:
        crd = CRD_OF.get((api_version, kind))
        return crd is None or ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", crd) in self.objects

    def namespaced(self, api_version: str, kind: str) -> bool:
        return TYPES.get((api_version, kind), ("", True))[1]

    def _admit_create(self, key: Key, obj: dict[str, Any]) -> None:
        av, kind, ns, name = key
        if not self.type_exists(av, kind):
            raise SimError(404, "NotFound", f'the server could not find the requested resource ({kind} "{name}")')
        if ns and self.namespaced(av, kind):
            nso = self.objects.get(("v1", "Namespace", "", ns))
            if nso is None:
                raise SimError(404, "NotFound", f'namespaces "{ns}" not found')
            if nso["metadata"].get("deletionTimestamp"):
                raise SimError(
                    403,
                    "Forbidden",
                    f'{kind.lower()}s "{name}" is forbidden: unable to create new content in namespace {ns} '
                    "because it is being terminated",
                )
        if kind == "Pod":
            rc = (obj.get("spec") or {}).get("runtimeClassName")
            if rc and ("node.k8s.io/v1", "RuntimeClass", "", rc) not in self.objects:
                raise SimError(403, "Forbidden", f'pod rejected: RuntimeClass "{rc}" not found')

    @staticmethod
    def _normalize(obj: dict[str, Any]) -> None:
        if obj.get("kind") == "Secret" and "stringData" in obj:
            data = dict(obj.get("data") or {})
            for k, v in (obj.pop("stringData") or {}).items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        if obj.get("kind") == "ConfigMap" and "binaryData" in obj:
            obj["binaryData"] = dict(obj["binaryData"])

    # ------------------------------------------------------------------ verbs
    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A create as a controller does it (admission applies, never replaces)."""
        obj = copy.deepcopy(obj)
        key = key_of(obj)
        if key in self.objects:
            raise SimError(409, "AlreadyExists", f"{key[1]} {key[3]} already exists")
        self._admit_create(key, obj)
        self._normalize(obj)
        if key[1] == "Namespace":
            obj.setdefault("status", {})["phase"] = "Active"
        self._stamp(obj)
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply: create, or take over the applied fields and keep everyone else's."""
        new = copy.deepcopy(dict(obj))
        key = key_of(new)
        live = self.objects.get(key)
        if live is None:
            return self.create(new)
        self._normalize(new)
        meta, lmeta = new.setdefault("metadata", {}), live["metadata"]
        for field_name in ("labels", "annotations"):
            merged = {**(lmeta.get(field_name) or {}), **(meta.get(field_name) or {})}
            if merged:
                meta[field_name] = merged
        if "finalizers" not in meta and lmeta.get("finalizers"):
            meta["finalizers"] = list(lmeta["finalizers"])
        for keep in ("uid", "creationTimestamp", "deletionTimestamp", "ownerReferences"):
            if keep in lmeta:
                meta[keep] = lmeta[keep]
        if "status" in live:
            new["status"] = live["status"]
        self._stamp(new)
        self.objects[key] = new
        return copy.deepcopy(new)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        if not self.type_exists(api_version, kind):
            return None
        obj = self.objects.get((api_version, kind, namespace or "", name))
        return copy.deepcopy(obj) if obj else None

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        if kind == "Event":
            return self._events(namespace, field_selector)
        if not self.type_exists(api_version, kind):
            return []
        out = []
        for (av, k, ns, _), obj in sorted(self.objects.items()):
            if av != api_version or k != kind or (namespace and ns != namespace):
                continue
            if _selector_matches(label_selector, obj["metadata"].get("labels") or {}):
                out.append(copy.deepcopy(obj))
        return out

    def _events(self, namespace: str | None, field_selector: str | None) -> list[dict[str, Any]]:
        want = dict(p.split("=", 1) for p in (field_selector or "").split(",") if "=" in p)
        out = []
        for e in self.events:
            inv = e["involvedObject"]
            if namespace and e["metadata"]["namespace"] != namespace:
                continue
            if want.get("involvedObject.name", inv["name"]) != inv["name"]:
                continue
            if want.get("involvedObject.kind", inv["kind"]) != inv["kind"]:
                continue
            out.append(copy.deepcopy(e))
        return out

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        key = (api_version, kind, namespace or "", name)
        obj = self.objects.get(key)
        if obj is None or not self.type_exists(api_version, kind):
            return False
        meta = obj["metadata"]
        if kind == "Namespace":
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
                obj.setdefault("status", {})["phase"] = "Terminating"
                obj.setdefault("spec", {})["finalizers"] = ["kubernetes"]
            return True
        if meta.get("finalizers"):
            meta.setdefault("deletionTimestamp", "2026-01-01T00:00:00Z")
            return True
        self._remove(key)
        return True

    def merge_patch(
        self, api_version: str, kind: str, name: str, patch: Mapping[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        key = (api_version, kind, namespace or "", name)
        obj = self.objects.get(key)
        if obj is None:
            raise SimError(404, "NotFound", f'{kind.lower()}s "{name}" not found')
        _merge(obj, copy.deepcopy(dict(patch)))
        self._stamp(obj)
        self._finish_if_released(key)
        return copy.deepcopy(self.objects.get(key) or obj)

    def remove_finalizer(self, key: Key, finalizer: str) -> None:
        obj = self.objects.get(key)
        if obj is None:
            return
        obj["metadata"]["finalizers"] = [f for f in obj["metadata"].get("finalizers") or [] if f != finalizer]
        self._finish_if_released(key)

    def _finish_if_released(self, key: Key) -> None:
        obj = self.objects.get(key)
        if obj is not None and obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            if key[1] != "Namespace":
                self._remove(key)

    def _remove(self, key: Key) -> None:
        obj = self.objects.pop(key, None)
        if obj is None:
            return
        uid = obj["metadata"].get("uid")
        for k, o in list(self.objects.items()):  # garbage collection of owned objects
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or []):
                self.delete(k[0], k[1], k[3], k[2])
        if key[1] == "CustomResourceDefinition":
            for k in [k for k in self.objects if CRD_OF.get((k[0], k[1])) == key[3]]:
                self.objects.pop(k, None)

    def logs(self, pod: str, namespace: str) -> str:
        obj = self.objects.get(("v1", "Pod", namespace, pod))
        if obj is None:
            raise SimError(404, "NotFound", f'pods "{pod}" not found')
        job = (obj["metadata"].get("labels") or {}).get("job-name", "")
        return self.job_logs.get(job, "")

    # ------------------------------------------------------------------ controllers
    def tick(self) -> None:
        if not self.controllers_enabled:
            return
        for _ in range(12):  # until nothing changes (each pass is one controller round)
            before = self._fingerprint()
            self._namespaces()
            self._helm_controller()
            self._argocd()
            self._workloads()
            self._schedule()
            self._kubelet()
            self._device_plugin()
            self._statuses()
            self._cnpg()
            if self._fingerprint() == before:
                return

    def _fingerprint(self) -> str:
        return repr(sorted((k, o.get("status"), o["metadata"].get("finalizers")) for k, o in self.objects.items()))

    def _namespaces(self) -> None:
        for key, ns in list(self.objects.items()):
            if key[1] != "Namespace" or not ns["metadata"].get("deletionTimestamp"):
                continue
            inside = [k for k in self.objects if k[2] == key[3] and self.namespaced(k[0], k[1])]
            for k in inside:
                self.delete(k[0], k[1], k[3], k[2])
            remaining = [k for k in self.objects if k[2] == key[3] and self.namespaced(k[0], k[1])]
            ns["status"]["conditions"] = [
                {
                    "type": "NamespaceFinalizersRemaining",
                    "status": "True" if remaining else "False",
                    "message": ", ".join(
                        f"{k[1]}/{k[3]}: {self.objects[k]['metadata'].get('finalizers')}" for k in remaining
                    ),
                }
            ]
            if not remaining:
                self.objects.pop(key, None)

    # k3s's helm-controller and the Argo CD chart ------------------------------------------------
    def argocd_objects(
        self, release: str, namespace: str, values: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        full = release if "argocd" in release else f"{release}-argocd"
        labels = {"app.kubernetes.io/part-of": "argocd", "app.kubernetes.io/instance": release}

        def workload(kind: str, name: str) -> dict[str, Any]:
            sel = {"app.kubernetes.io/name": f"argocd-{name}", "app.kubernetes.io/instance": release}
            return {
                "apiVersion": "apps/v1",
                "kind": kind,
                "metadata": {"name": f"{full}-{name}", "namespace": namespace, "labels": {**labels, **sel}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": sel},
                    "template": {
                        "metadata": {"labels": sel},
                        "spec": {"containers": [{"name": name, "resources": {"requests": {"cpu": "50m"}}}]},
                    },
                },
            }

        crds = [
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": n, "labels": {"app.kubernetes.io/part-of": "argocd"}},
            }
            for n in ("applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io")
        ]
        server_sel = {"app.kubernetes.io/name": "argocd-server", "app.kubernetes.io/instance": release}
        return [
            *crds,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"{full}-application-controller", "labels": labels},
            },
            workload("Deployment", "server"),
            workload("Deployment", "repo-server"),
            workload("Deployment", "applicationset-controller"),
            workload("Deployment", "redis"),
            workload("StatefulSet", "application-controller"),
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"{full}-server", "namespace": namespace, "labels": {**labels, **server_sel}},
                "spec": {
                    "ports": [
                        {"name": "http", "port": 80, "targetPort": 8080},
                        {"name": "https", "port": 443, "targetPort": 8080},
                    ]
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "argocd-initial-admin-secret", "namespace": namespace},
                "data": {"password": base64.b64encode(b"argo-pw").decode()},
            },
            # configs.params as the chart writes them (templates/argocd-configs/argocd-cmd-params-cm.yaml:
            # every value through toString, so true becomes "true").
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": ARGOCD_CMD_PARAMS, "namespace": namespace, "labels": labels},
                "data": {
                    str(k): str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in (((values or {}).get("configs") or {}).get("params") or {}).items()
                },
            },
        ]

    def _ensure(self, obj: dict[str, Any], tracking: str | None = None) -> None:
        key = key_of(obj)
        if tracking:
            obj = copy.deepcopy(obj)
            obj["metadata"].setdefault("annotations", {})[TRACKING] = tracking
        if key in self.objects:
            if tracking and (self.objects[key]["metadata"].get("annotations") or {}).get(TRACKING) != tracking:
                self.objects[key]["metadata"].setdefault("annotations", {})[TRACKING] = tracking
            return
        try:
            self.create(obj)
        except SimError as e:
            ns = key[2] or "default"
            self.event(ns, key[1], key[3], "FailedCreate", e.message)

    def _helm_controller(self) -> None:
        for key, chart in list(self.objects.items()):
            if key[:2] != ("helm.cattle.io/v1", "HelmChart") or key[2] != "kube-system":
                continue
            meta = chart["metadata"]
            if HELM_UNMANAGED in (meta.get("annotations") or {}):
                continue
            spec = chart.get("spec") or {}
            target = spec.get("targetNamespace") or key[2]
            if meta.get("deletionTimestamp"):
                if HELM_FINALIZER in (meta.get("finalizers") or []):
                    for o in self.argocd_objects(key[3], target, _values(spec)):
                        if o["kind"] != "CustomResourceDefinition":  # the chart keeps its CRDs (crds.keep)
                            self.delete(
                                o["apiVersion"], o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")
                            )
                    self.remove_finalizer(key, HELM_FINALIZER)
                continue
            if HELM_FINALIZER not in (meta.get("finalizers") or []):
                meta.setdefault("finalizers", []).append(HELM_FINALIZER)
                meta.setdefault("annotations", {})["helmcharts.cattle.io/managed-by"] = "helm-controller"
            if spec.get("chart") != "argo-cd":
                continue
            if ("v1", "Namespace", "", target) not in self.objects and spec.get("createNamespace"):
                self._ensure({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}})
            for o in self.argocd_objects(key[3], target, _values(spec)):
                self._ensure(o)

    # Argo CD ----------------------------------------------------------------------------------------
    def argocd_running(self, namespace: str = "argocd") -> bool:
        for (_, kind, ns, _), pod in self.objects.items():
            labels = pod["metadata"].get("labels") or {}
            if (
                kind == "Pod"
                and ns == namespace
                and labels.get("app.kubernetes.io/name") == "argocd-application-controller"
            ):
                return (pod.get("status") or {}).get("phase") == "Running"
        return False

    def _tree_for(self, source: Mapping[str, Any]) -> dict[str, str] | None:
        url = source.get("repoURL", "")
        if url == self.git_url:
            return self.git_tree
        return self.remote_trees.get(url)

    def _desired(self, app: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
        """(objects the Application's source renders, an error message)."""
        spec = app.get("spec") or {}
        source = spec.get("source") or {}
        dest_ns = (spec.get("destination") or {}).get("namespace")
        if source.get("chart"):
            if self.offline:
                # argo-cd v3.4.4 util/helm/client.go loadRepoIndex: "error making HTTP request: <Go's error>"
                return [], (
                    f'error making HTTP request: Get "{source.get("repoURL")}/index.yaml": dial tcp: lookup '
                    f"{source.get('repoURL', '').split('/')[2]}: no such host"
                )
            return self._chart_objects(app["metadata"]["name"], source, dest_ns), None
        tree = self._tree_for(source)
        if tree is None:
            return [], f"repository {source.get('repoURL')} not found"
        prefix = source.get("path", "").strip("/") + "/"
        chart_yaml = self.git_files.get(prefix + "Chart.yaml") if source.get("repoURL") == self.git_url else None
        if chart_yaml is not None:
            # A directory with a Chart.yaml is a Helm source (argo-cd v3.4.4 util/app/discovery/discovery.go);
            # `helm template` needs the dependencies the chart declares under its charts/ (repository.go
            # helmTemplate runs `helm dependency build`, which needs the network, only when they are missing).
            meta = yaml.safe_load(chart_yaml) or {}
            for dep in meta.get("dependencies") or []:
                vendored = any(n.startswith(f"{prefix}charts/{dep['name']}") for n in self.git_files)
                if not vendored and self.offline:
                    return [], (
                        f"Error: An error occurred while checking for chart dependencies. found in Chart.yaml, "
                        f"but missing in charts/ directory: {dep['name']}"
                    )
            return self._chart_objects(app["metadata"]["name"], {**source, "chart": meta.get("name")}, dest_ns), None
        out = []
        for path, text in sorted(tree.items()):
            if not path.startswith(prefix) or "/" in path[len(prefix) :] or not path.endswith((".yaml", ".yml")):
                continue
            for doc in _parse(text):
                if dest_ns and self.namespaced(doc["apiVersion"], doc["kind"]):
                    doc.setdefault("metadata", {}).setdefault("namespace", dest_ns)
                out.append(doc)
        if not out:
            return [], f"app path {source.get('path')} does not exist"
        return out, None

    def _chart_objects(self, app: str, source: Mapping[str, Any], ns: str | None) -> list[dict[str, Any]]:
        values = (source.get("helm") or {}).get("valuesObject") or {}
        if source.get("chart") == "nvidia-device-plugin":
            sel = {"app.kubernetes.io/name": "nvidia-device-plugin"}
            pod_spec: dict[str, Any] = {"containers": [{"name": "nvidia-device-plugin-ctr"}]}
            for k in ("runtimeClassName", "affinity", "nodeSelector"):
                if k in values:
                    pod_spec[k] = values[k]
            ds = {
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": {"name": "nvidia-device-plugin", "namespace": ns, "labels": sel},
                "spec": {"selector": {"matchLabels": sel}, "template": {"metadata": {"labels": sel}, "spec": pod_spec}},
            }
            replicas = 1
            cfg = (values.get("config") or {}).get("map", {}).get("default")
            if cfg:
                for r in yaml.safe_load(cfg)["sharing"]["timeSlicing"]["resources"]:
                    if r["name"] == "nvidia.com/gpu":
                        replicas = int(r["replicas"])
            ds["metadata"]["annotations"] = {"sim/replicas": str(replicas)}
            return [ds]
        if source.get("chart") == "argo-cd":
            release = (source.get("helm") or {}).get("releaseName") or app
            return self.argocd_objects(release, ns or "argocd", values)
        if source.get("chart") == "cloudnative-pg":
            sel = {"app.kubernetes.io/name": "cloudnative-pg"}
            return [
                {
                    "apiVersion": "apiextensions.k8s.io/v1",
                    "kind": "CustomResourceDefinition",
                    "metadata": {"name": "clusters.postgresql.cnpg.io"},
                },
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "cloudnative-pg", "namespace": ns, "labels": sel},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": sel},
                        "template": {"metadata": {"labels": sel}, "spec": {"containers": [{"name": "manager"}]}},
                    },
                },
            ]
        return []  # other charts: nothing `up` waits on is simulated inside them

    def _argocd(self) -> None:
        if not self.argocd_running():
            return
        apps = {k: o for k, o in self.objects.items() if k[:2] == ("argoproj.io/v1alpha1", "Application")}
        for key, app in apps.items():
            if key not in self.objects:
                continue
            name = key[3]
            if app["metadata"].get("deletionTimestamp"):
                if ARGO_CASCADE in (app["metadata"].get("finalizers") or []):
                    owned = [k for k, o in self.objects.items() if self._tracked_by(o, name)]
                    for k in owned:
                        self.delete(k[0], k[1], k[3], k[2])
                    if not [k for k, o in self.objects.items() if self._tracked_by(o, name)]:
                        self.remove_finalizer(key, ARGO_CASCADE)
                continue
            self._sync(key, app)
        for key, project in list(self.objects.items()):
            if key[:2] != ("argoproj.io/v1alpha1", "AppProject") or not project["metadata"].get("deletionTimestamp"):
                continue
            users = [a for k, a in self.objects.items() if k[:2] == ("argoproj.io/v1alpha1", "Application")]
            if not [a for a in users if (a.get("spec") or {}).get("project") == key[3]]:
                self.remove_finalizer(key, ARGO_CASCADE)

    @staticmethod
    def _tracked_by(obj: Mapping[str, Any], app: str) -> bool:
        return str(((obj.get("metadata") or {}).get("annotations") or {}).get(TRACKING, "")).startswith(f"{app}:")

    def _sync(self, key: Key, app: dict[str, Any]) -> None:
        name = key[3]
        desired, error = self._desired(app)
        spec = app.get("spec") or {}
        dest_ns = (spec.get("destination") or {}).get("namespace")
        options = (spec.get("syncPolicy") or {}).get("syncOptions") or []
        status: dict[str, Any] = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}, "resources": []}
        revision = self.remote_revisions.get((spec.get("source") or {}).get("repoURL", ""))
        if revision:
            status["sync"]["revision"] = revision
        if error:
            status = {
                "sync": {"status": "Unknown"},
                "health": {"status": "Missing"},
                "conditions": [{"type": "ComparisonError", "message": error}],
            }
            app["status"] = status
            return
        params = self.objects.get(("v1", "ConfigMap", key[2], ARGOCD_CMD_PARAMS)) or {}
        persist = (params.get("data") or {}).get(PERSIST_RESOURCE_HEALTH) == "true"
        if dest_ns and "CreateNamespace=true" in options:
            self._ensure({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": dest_ns}})
        wanted = set()
        for obj in desired:
            k = key_of(obj)
            wanted.add(k)
            tracking = f"{name}:{k[0].split('/')[0] if '/' in k[0] else ''}/{k[1]}:{k[2]}/{k[3]}"
            if k in self.objects:
                self._ensure(obj, tracking)
                continue
            tagged = copy.deepcopy(obj)
            tagged["metadata"].setdefault("annotations", {})[TRACKING] = tracking
            try:
                self.apply(tagged)
            except SimError as e:
                status["sync"]["status"] = "OutOfSync"
                status["health"] = {"status": "Missing"}
                status["operationState"] = {"phase": "Failed", "message": e.message}
        if (spec.get("syncPolicy") or {}).get("automated", {}).get("prune"):
            for k, o in list(self.objects.items()):
                if self._tracked_by(o, name) and k not in wanted:
                    self.delete(k[0], k[1], k[3], k[2])
        for k in sorted(wanted):
            health = self._health(k)
            status["resources"].append(
                {"kind": k[1], "namespace": k[2], "name": k[3], "status": "Synced", "health": _hs(*health)}
            )
            if health[0] != "Healthy" and status["health"]["status"] == "Healthy":
                status["health"] = {"status": health[0]}
        if not (spec.get("source") or {}).get("chart") and self.app_health != "Healthy" and name != "argo-cd":
            status["health"] = {"status": self.app_health}
            status["resources"] = [
                {
                    "kind": "Deployment",
                    "namespace": "llmops",
                    "name": "vllm-qwen",
                    "status": "Synced",
                    "health": _hs("Progressing", "0 of 1 updated replicas available"),
                }
            ]
        if not persist:  # Argo CD >= 3.0 keeps resource health in its resource tree, not in the Application
            status["resourceHealthSource"] = "appTree"
            for r in status["resources"]:
                r.pop("health")
        app["status"] = status

    def _health(self, key: Key) -> tuple[str, str]:
        obj = self.objects.get(key)
        if obj is None:
            return "Missing", "not created"
        st = obj.get("status") or {}
        kind = key[1]
        if kind in REPLICATED:
            want = (obj.get("spec") or {}).get("replicas", 1)
            have = st.get("availableReplicas", st.get("readyReplicas", 0)) or 0
            return ("Healthy", "") if have >= want else ("Progressing", f"{have} of {want} replicas available")
        if kind == "DaemonSet":
            ok = (st.get("numberReady") or 0) >= (st.get("desiredNumberScheduled") or 1)
            return ("Healthy", "") if ok else ("Progressing", "not every pod is ready")
        if kind == "Job":
            return ("Healthy", "") if st.get("succeeded") else ("Progressing", "job has not completed")
        if kind == "Application":
            h = (st.get("health") or {}).get("status", "Progressing")
            return (h, "") if h == "Healthy" else (h, f"child Application {key[3]} is {h}")
        if kind == "Cluster":
            phase = st.get("phase")
            return ("Healthy", "") if phase == CNPG_HEALTHY else ("Progressing", str(st.get("phaseReason") or phase))
        return "Healthy", ""

    def _cnpg(self) -> None:
        """The CloudNativePG operator: while it runs, a Cluster whose initdb secret holds username and password
        (what the operator reads: cloudnative-pg GetUserPasswordFromSecret) becomes healthy."""
        operator = [
            o
            for k, o in self.objects.items()
            if k[1] == "Deployment"
            and (o["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "cloudnative-pg"
            and ((o.get("status") or {}).get("availableReplicas") or 0) >= 1
        ]
        for key, cluster in self.objects.items():
            if key[:2] != ("postgresql.cnpg.io/v1", "Cluster") or not operator:
                continue
            initdb = (((cluster.get("spec") or {}).get("bootstrap") or {}).get("initdb")) or {}
            name = (initdb.get("secret") or {}).get("name")
            secret = self.objects.get(("v1", "Secret", key[2], name)) if name else None
            keys = set((secret or {}).get("data") or {})
            if name and not {"username", "password"} <= keys:
                reason = f"secret {name} lacks username/password" if secret else f"secret {name} not found"
                cluster["status"] = {"phase": CNPG_SETTING_UP, "phaseReason": reason}
            else:
                cluster["status"] = {
                    "phase": CNPG_HEALTHY,
                    "instances": (cluster.get("spec") or {}).get("instances", 1),
                }

    # workloads, scheduler, kubelet -------------------------------------------------------------
    def _pods_of(self, owner: Mapping[str, Any]) -> list[Key]:
        uid = owner["metadata"]["uid"]
        return [
            k
            for k, o in self.objects.items()
            if k[1] == "Pod" and any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    def _template(self, owner: Mapping[str, Any]) -> dict[str, Any]:
        spec = owner.get("spec") or {}
        ref = spec.get("workloadRef") or {}
        if owner.get("kind") == "Rollout" and ref.get("kind") == "Deployment":
            # argoproj/argo-rollouts v1.9.0 docs/migrating.md: workloadRef reuses the Deployment's pod template.
            deploy = self.objects.get(("apps/v1", "Deployment", owner["metadata"]["namespace"], ref.get("name", "")))
            return copy.deepcopy(((deploy or {}).get("spec") or {}).get("template") or {})
        return copy.deepcopy(spec.get("template") or {})

    def _new_pod(self, owner: Mapping[str, Any], name: str, extra_labels: Mapping[str, str]) -> None:
        template = self._template(owner)
        labels = {**(template.get("metadata") or {}).get("labels", {}), **extra_labels}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": owner["metadata"]["namespace"],
                "labels": labels,
                "ownerReferences": [
                    {"kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]}
                ],
            },
            "spec": template.get("spec") or {},
            "status": {"phase": "Pending"},
        }
        try:
            self.create(pod)
        except SimError as e:
            self.event(
                owner["metadata"]["namespace"], owner["kind"], owner["metadata"]["name"], "FailedCreate", e.message
            )

    def _workloads(self) -> None:
        for key, obj in list(self.objects.items()):
            if key[1] not in WORKLOADS or key not in self.objects or obj["metadata"].get("deletionTimestamp"):
                continue
            pods = self._pods_of(obj)
            if key[1] in REPLICATED:
                want = (obj.get("spec") or {}).get("replicas", 1)
                if key[1] == "Rollout" and not self._template(obj):
                    continue  # its Deployment is not there yet
                for i in range(len(pods), want):
                    self._new_pod(obj, f"{key[3]}-{i}", {})
            elif key[1] == "DaemonSet":
                if not pods:
                    self._new_pod(obj, f"{key[3]}-node", {})
            elif key[1] == "Job":
                if not pods and not (obj.get("status") or {}).get("succeeded"):
                    self._new_pod(obj, f"{key[3]}-run", {"job-name": key[3]})

    def node(self) -> dict[str, Any] | None:
        return next((o for k, o in self.objects.items() if k[1] == "Node"), None)

    def _fits(self, pod: Mapping[str, Any], node: Mapping[str, Any]) -> str | None:
        """None when the pod fits the node, else the scheduler's reason."""
        spec = pod.get("spec") or {}
        labels = node["metadata"].get("labels") or {}
        for k, v in (spec.get("nodeSelector") or {}).items():
            if labels.get(k) != v:
                return "1 node(s) didn't match Pod's node affinity/selector"
        terms = (
            ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
                "requiredDuringSchedulingIgnoredDuringExecution"
            )
            or {}
        ).get("nodeSelectorTerms")
        if terms and not any(
            all(labels.get(e["key"]) in e.get("values", []) for e in t.get("matchExpressions") or []) for t in terms
        ):
            return "1 node(s) didn't match Pod's node affinity/selector"
        alloc = (node.get("status") or {}).get("allocatable") or {}
        used: dict[str, float] = {}
        for k, o in self.objects.items():
            if (
                k[1] == "Pod"
                and (o.get("spec") or {}).get("nodeName")
                and (o.get("status") or {}).get("phase")
                in (
                    "Pending",
                    "Running",
                )
            ):
                for r, q in pod_requests(o.get("spec") or {}).items():
                    used[r] = used.get(r, 0.0) + q
        short = [
            r for r, q in pod_requests(spec).items() if q > 0 and used.get(r, 0.0) + q > quantity(alloc.get(r, "0"))
        ]
        return ", ".join(f"1 Insufficient {r}" for r in sorted(short)) or None

    def _schedule(self) -> None:
        node = self.node()
        for key, pod in list(self.objects.items()):
            if key[1] != "Pod" or (pod.get("spec") or {}).get("nodeName") or pod["metadata"].get("deletionTimestamp"):
                continue
            reason = "no nodes available to schedule pods" if node is None else self._fits(pod, node)
            if reason is None and node is not None:
                pod["spec"]["nodeName"] = node["metadata"]["name"]
                pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
                continue
            message = f"0/1 nodes are available: {reason}." if node is not None else reason
            pod["status"]["conditions"] = [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
            ]
            if not any(
                e["involvedObject"]["name"] == key[3] and e["reason"] == "FailedScheduling" for e in self.events
            ):
                self.event(key[2], "Pod", key[3], "FailedScheduling", message)

    def _missing_refs(self, pod: Mapping[str, Any]) -> list[str]:
        ns = pod["metadata"]["namespace"]
        spec = pod.get("spec") or {}
        missing = []
        for v in spec.get("volumes") or []:
            # A projected volume's sources are checked as their own volumes are (kubelet mounts none until all are).
            for source in [v, *((v.get("projected") or {}).get("sources") or [])]:
                for kind, ref, name_key in (
                    ("Secret", "secret", "secretName"),
                    ("Secret", "secret", "name"),
                    ("ConfigMap", "configMap", "name"),
                ):
                    src = source.get(ref)
                    if (
                        src
                        and src.get(name_key)
                        and not src.get("optional")
                        and ("v1", kind, ns, src.get(name_key)) not in self.objects
                    ):
                        missing.append(f'{kind.lower()} "{src.get(name_key)}" not found')
        for c in spec.get("containers") or []:
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional") and ("v1", "Secret", ns, ref["name"]) not in self.objects:
                    missing.append(f'secret "{ref["name"]}" not found')
        return missing

    def _kubelet(self) -> None:
        for key, pod in list(self.objects.items()):
            if key[1] != "Pod" or not (pod.get("spec") or {}).get("nodeName"):
                continue
            status = pod.setdefault("status", {})
            if status.get("phase") in ("Running", "Succeeded", "Failed"):
                continue
            handler = (pod.get("spec") or {}).get("runtimeClassName")
            if handler and handler not in self.runtime_handlers:
                status["containerStatuses"] = [{"state": {"waiting": {"reason": "ContainerCreating"}}}]
                if not any(
                    e["involvedObject"]["name"] == key[3] and e["reason"] == "FailedCreatePodSandBox"
                    for e in self.events
                ):
                    self.event(
                        key[2],
                        "Pod",
                        key[3],
                        "FailedCreatePodSandBox",
                        f'failed to get sandbox runtime: no runtime for "{handler}" is configured',
                    )
                continue
            missing = self._missing_refs(pod)
            if missing:
                status["containerStatuses"] = [{"state": {"waiting": {"reason": "ContainerCreating"}}}]
                if not any(e["involvedObject"]["name"] == key[3] and e["reason"] == "FailedMount" for e in self.events):
                    self.event(key[2], "Pod", key[3], "FailedMount", "MountVolume.SetUp failed: " + "; ".join(missing))
                continue
            owner = ((pod["metadata"].get("ownerReferences") or [{}])[0]).get("kind")
            if owner == "Job":
                job = (pod["metadata"].get("labels") or {}).get("job-name", "")
                status["phase"] = self._job_outcome(key[2], job)
            else:
                status["phase"] = "Running"

    def _seed_volume(self, namespace: str, job: str) -> dict[str, bytes]:
        """The files of the push Job's /seed volume, as kubelet mounts them (a ConfigMap, or a projected volume of
        several: every key of each, binaryData decoded)."""
        spec = (self.objects.get(("batch/v1", "Job", namespace, job)) or {}).get("spec") or {}
        volumes = ((spec.get("template") or {}).get("spec") or {}).get("volumes") or []
        seed = next(v for v in volumes if v["name"] == "seed")
        sources = (seed.get("projected") or {}).get("sources") or [seed]
        files: dict[str, bytes] = {}
        for src in sources:
            cm = self.objects[("v1", "ConfigMap", namespace, src["configMap"]["name"])]
            files.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
            files.update({k: v.encode() for k, v in (cm.get("data") or {}).items()})
        return files

    def _job_outcome(self, namespace: str, job: str) -> str:
        if job == "llmops-git-seed":
            server = self.objects.get(("apps/v1", "Deployment", namespace, "llmops-git"))
            if server is None or not ((server.get("status") or {}).get("availableReplicas") or 0):
                return "Pending"
            # What the push script does: join tree.tar.gz and tree.tar.gz.1 .. .<SEED_PARTS - 1>, in order.
            files = self._seed_volume(namespace, job)
            spec = self.objects[("batch/v1", "Job", namespace, job)]["spec"]["template"]["spec"]
            env = {e["name"]: e.get("value") for e in spec["containers"][0].get("env") or []}
            parts = int(env.get("SEED_PARTS") or 1)
            try:
                raw = b"".join(files["tree.tar.gz" + (f".{i}" if i else "")] for i in range(parts))
            except KeyError as e:
                self.job_logs[job] = f"cat: can't open '/seed/{e.args[0]}': No such file or directory\n"
                return "Failed"
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw))) as tar:
                self.git_files = {
                    m.name: (tar.extractfile(m) or io.BytesIO()).read() for m in tar.getmembers() if m.isfile()
                }
            self.git_tree = {
                name: data.decode() for name, data in self.git_files.items() if not name.startswith("charts/")
            }
            self.job_logs[job] = f"{abs(hash(tuple(sorted(self.git_files.items())))):040x}"[:40] + "\n"
        return "Succeeded"

    def _device_plugin(self) -> None:
        node = self.node()
        if node is None:
            return
        running = [
            o
            for k, o in self.objects.items()
            if k[1] == "Pod"
            and (o["metadata"].get("labels") or {}).get("app.kubernetes.io/name") == "nvidia-device-plugin"
            and (o.get("status") or {}).get("phase") == "Running"
        ]
        alloc = node.setdefault("status", {}).setdefault("allocatable", {})
        if running and self.gpus:
            ds = self.objects.get(("apps/v1", "DaemonSet", running[0]["metadata"]["namespace"], "nvidia-device-plugin"))
            replicas = int(((ds or {}).get("metadata", {}).get("annotations") or {}).get("sim/replicas", "1"))
            alloc["nvidia.com/gpu"] = str(self.gpus * replicas)
        else:
            alloc.pop("nvidia.com/gpu", None)

    def _statuses(self) -> None:
        for key, obj in list(self.objects.items()):
            if key[1] not in WORKLOADS:
                continue
            phases = [(self.objects[k].get("status") or {}).get("phase") for k in self._pods_of(obj)]
            running = phases.count("Running")
            if key[1] in REPLICATED:
                obj["status"] = {"replicas": len(phases), "availableReplicas": running, "readyReplicas": running}
            elif key[1] == "DaemonSet":
                obj["status"] = {"desiredNumberScheduled": 1, "numberReady": running}
            elif key[1] == "Job":
                st: dict[str, Any] = {}
                if "Succeeded" in phases:
                    st = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
                elif "Failed" in phases:
                    st = {"failed": 1, "conditions": [{"type": "Failed", "status": "True"}]}
                elif phases:
                    st = {"active": 1}
                obj["status"] = st or obj.get("status") or {}

    # ------------------------------------------------------------------ test helpers
    def k3s_started(self) -> None:
        """What a fresh k3s server has: its namespaces, and the RuntimeClasses it ships for the runtimes it knows
        (the pods using one fail to start until containerd has its handler)."""
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.objects.setdefault(
                ("v1", "Namespace", "", ns),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}, "status": {"phase": "Active"}},
            )
        for rc in ("nvidia", "nvidia-experimental"):
            self.objects.setdefault(
                ("node.k8s.io/v1", "RuntimeClass", "", rc),
                {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": rc}, "handler": rc},
            )

    def add_node(self, name: str, *, cpus: int, memory_gib: int, labels: Mapping[str, str] | None = None) -> None:
        self.objects[("v1", "Node", "", name)] = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "labels": {"kubernetes.io/hostname": name, **(labels or {})},
                "uid": f"node-{name}",
            },
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "allocatable": {"cpu": str(cpus), "memory": f"{memory_gib}Gi", "pods": "110"},
                "nodeInfo": {"kubeletVersion": "v1.33.5+k3s1"},
            },
        }

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self.list("v1", "Pod", namespace)

    def phase_of(self, namespace: str, prefix: str) -> list[tuple[str, str]]:
        return [
            (p["metadata"]["name"], (p.get("status") or {}).get("phase", ""))
            for p in self.pods(namespace)
            if p["metadata"]["name"].startswith(prefix)
        ]

    def put(self, obj: Mapping[str, Any]) -> None:
        """Insert as it is, bypassing admission (a test arranging the world)."""
        new = copy.deepcopy(dict(obj))
        self._stamp(new)
        self.objects[key_of(new)] = new


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[dict[str, Any], ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return tuple(d for d in yaml.load_all(text, Loader=loader) if d)


def _parse(text: str) -> list[dict[str, Any]]:
    return copy.deepcopy(list(_parsed(text)))


def _values(helmchart_spec: Mapping[str, Any]) -> dict[str, Any]:
    """A HelmChart's values (``valuesContent``, YAML)."""
    return yaml.safe_load(helmchart_spec.get("valuesContent") or "") or {}


def _hs(status: str, message: str = "") -> dict[str, str]:
    """A resource's health as Argo CD reports it: a message only when there is one."""
    return {"status": status, "message": message} if message else {"status": status}


def _merge(dst: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for k, v in patch.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


def decode_secret(obj: Mapping[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}


def render_yaml_docs(texts: Iterable[str]) -> list[dict[str, Any]]:
    return [d for t in texts for d in yaml.safe_load_all(t) if d]


Hook = Callable[[Sim], None]
