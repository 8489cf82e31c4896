"""`llmops status`: nodes, GPU allocatable, Argo CD Applications, endpoints and pinned versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.cluster.steps.argocd import app_state, is_healthy

if TYPE_CHECKING:
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.config.model import Settings

GPU_RESOURCE = "nvidia.com/gpu"


@dataclass
class StatusReport:
    context: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    pins: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": self.context,
            "healthy": self.healthy,
            "nodes": self.nodes,
            "applications": self.applications,
            "endpoints": self.endpoints,
            "pins": self.pins,
            "problems": self.problems,
        }


def _endpoint(kube: Kube, label: str, namespace: str, selector: str | None, name: str | None) -> dict[str, Any]:
    services = (
        [s for s in [kube.get("v1", "Service", name, namespace)] if s]
        if name
        else kube.list("v1", "Service", namespace, label_selector=selector)
    )
    if not services:
        return {"name": label, "present": False, "url": None, "port_forward": None}
    svc = services[0]
    ports = (svc.get("spec") or {}).get("ports") or [{}]
    port = ports[0].get("port")
    sname = svc["metadata"]["name"]
    return {
        "name": label,
        "present": True,
        "url": f"http://{sname}.{namespace}.svc:{port}",
        "port_forward": f"kubectl -n {namespace} port-forward svc/{sname} 8080:{port}",
    }


def collect_status(kube: Kube, settings: Settings, *, context: str) -> StatusReport:
    from llmops_cli import versions
    from llmops_cli.render import names

    report = StatusReport(context=context, pins=dict(versions.PINS))
    for n in kube.list("v1", "Node"):
        st = n.get("status") or {}
        conds = {c.get("type"): c.get("status") for c in st.get("conditions", [])}
        ready = conds.get("Ready") == "True"
        gpus = (st.get("allocatable") or {}).get(GPU_RESOURCE)
        report.nodes.append(
            {
                "name": n["metadata"]["name"],
                "ready": ready,
                "version": (st.get("nodeInfo") or {}).get("kubeletVersion"),
                "gpu_allocatable": int(gpus) if gpus and str(gpus).isdigit() else 0,
            }
        )
        if not ready:
            report.problems.append(f"node {n['metadata']['name']} is not Ready")
    if not report.nodes:
        report.problems.append("no nodes")
    if settings.gpu.mode == "on" and not any(n["gpu_allocatable"] for n in report.nodes):
        report.problems.append(f"gpu.mode is on but no node has {GPU_RESOURCE} allocatable")
    apps = kube.list("argoproj.io/v1alpha1", "Application", names.ARGOCD_NAMESPACE)
    for a in apps:
        sync, health = app_state(a)
        report.applications.append({"name": a["metadata"]["name"], "sync": sync, "health": health})
        if not is_healthy(a):
            report.problems.append(f"Application {a['metadata']['name']} is {sync}/{health}")
    if not apps:
        report.problems.append(f"no Argo CD Applications in namespace {names.ARGOCD_NAMESPACE}: run `llmops up`")
    report.endpoints = [
        _endpoint(kube, "gateway", names.APPS_NAMESPACE, None, names.GATEWAY_NAME),
        _endpoint(kube, "grafana", names.MONITORING_NAMESPACE, "app.kubernetes.io/name=grafana", None),
        _endpoint(kube, "argocd", names.ARGOCD_NAMESPACE, "app.kubernetes.io/name=argocd-server", None),
    ]
    return report
