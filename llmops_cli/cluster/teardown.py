"""`llmops down`: remove the platform (root Application with cascade), optionally k3s, and the context."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.errors import ClusterError, UsageError

if TYPE_CHECKING:
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import Reporter

CASCADE_FINALIZER = "resources-finalizer.argocd.argoproj.io"
KEEP_ON_DELETE = {"argocd.argoproj.io/sync-options": "Delete=false"}
DELETE_TIMEOUT = 600.0


@dataclass
class DownReport:
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # False when there was nothing to remove: no kubeconfig context, no k3s on the host.
    installed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"installed": self.installed, "removed": self.removed, "kept": self.kept, "warnings": self.warnings}


def _remove_platform(
    kube: Kube,
    settings: Settings,
    env: str,
    keep_data: bool,
    reporter: Reporter,
    report: DownReport,
    timeout: float,
) -> None:
    from llmops_cli.render import names

    ns = names.ARGOCD_NAMESPACE
    app = "argoproj.io/v1alpha1"
    root = names.root_app_name(env)
    data_namespaces = [names.APPS_NAMESPACE, names.MONITORING_NAMESPACE, names.SYSTEM_NAMESPACE]
    if keep_data:
        for dns in data_namespaces:
            for pvc in kube.list("v1", "PersistentVolumeClaim", dns):
                kube.merge_patch(
                    "v1",
                    "PersistentVolumeClaim",
                    pvc["metadata"]["name"],
                    {"metadata": {"annotations": KEEP_ON_DELETE}},
                    dns,
                )
                report.kept.append(f"PersistentVolumeClaim {dns}/{pvc['metadata']['name']}")
    # Argo CD manages itself through a child Application: orphan it, or the cascade would delete the
    # controller that has to finish the cascade.
    if kube.get(app, "Application", names.ARGOCD_RELEASE, ns) is not None:
        kube.merge_patch(app, "Application", names.ARGOCD_RELEASE, {"metadata": {"finalizers": None}}, ns)
    if kube.get(app, "Application", root, ns) is not None:
        reporter.step(f"delete Application {root} with cascade", "running")
        kube.merge_patch(app, "Application", root, {"metadata": {"finalizers": [CASCADE_FINALIZER]}}, ns)
        kube.delete(app, "Application", root, ns, propagation="Foreground")

        def gone() -> bool | None:
            remaining = [a for a in kube.list(app, "Application", ns) if a["metadata"]["name"] != names.ARGOCD_RELEASE]
            return True if not remaining else None

        kube.wait_until(
            gone,
            timeout=timeout,
            what="Argo CD to remove the platform's Applications",
            describe=lambda: [
                f"Application {a['metadata']['name']} still present" for a in kube.list(app, "Application", ns)
            ],
        )
        report.removed.append(f"Application {root} (cascade)")
    kube.delete(app, "Application", names.ARGOCD_RELEASE, ns)
    for chart_ns in ("kube-system", ns):  # where render puts the HelmChart; k3s's controller uninstalls it
        if kube.delete("helm.cattle.io/v1", "HelmChart", names.ARGOCD_RELEASE, chart_ns):
            report.removed.append(f"HelmChart {chart_ns}/{names.ARGOCD_RELEASE} (Argo CD)")
    for dns in [ns, names.GPU_NAMESPACE, *data_namespaces]:
        if keep_data and dns in data_namespaces:
            report.kept.append(f"namespace {dns} (generated secrets and data)")
            continue
        if kube.delete("v1", "Namespace", dns, propagation="Background"):
            report.removed.append(f"namespace {dns}")


def down(
    settings: Settings,
    *,
    host: Host,
    kube_factory: Callable[[], Kube],
    env: str,
    keep_data: bool,
    uninstall_k3s: bool,
    reporter: Reporter,
    environ: Mapping[str, str],
    timeout: float = DELETE_TIMEOUT,
) -> DownReport:
    from llmops_cli.adapters import kubeconfig
    from llmops_cli.adapters.hostfacts import K3S_BIN, K3S_KUBECONFIG, K3S_UNINSTALL
    from llmops_cli.cluster.state import State

    if keep_data and uninstall_k3s:
        raise UsageError(
            "--keep-data and --uninstall-k3s conflict: k3s's uninstall script deletes /var/lib/rancher (all volumes)",
            hint="drop one of the two flags",
        )
    report = DownReport()
    name = settings.cluster.context_name
    if kubeconfig.find_context(name, environ) is None and not any(
        host.exists(path) for path in (K3S_KUBECONFIG, K3S_BIN, K3S_UNINSTALL)
    ):
        State.load(settings.cluster.name, environ).clear()  # what a failed first `up` may have left
        report.installed = False
        return report
    reporter.phase("platform")
    try:
        kube = kube_factory()
        _remove_platform(kube, settings, env, keep_data, reporter, report, timeout)
        reporter.step("remove the platform", "changed")
    except ClusterError as e:
        if not uninstall_k3s:
            raise
        report.warnings.append(f"cluster not reachable, removing k3s anyway: {e.message}")
        reporter.warn(report.warnings[-1])
    if uninstall_k3s:
        reporter.phase("k3s")
        if host.exists(K3S_UNINSTALL):
            host.run([K3S_UNINSTALL], privileged=True, timeout=600)
            report.removed.append("k3s (k3s-uninstall.sh)")
            reporter.step("uninstall k3s", "changed")
        else:
            reporter.step("uninstall k3s", "skip", f"{K3S_UNINSTALL} not found")
    reporter.phase("kubeconfig")
    for path in kubeconfig.remove_context(name, environ=environ):
        report.removed.append(f"kubeconfig context {name} from {path}")
    reporter.step(f"remove kubeconfig context {name}", "changed")
    State.load(settings.cluster.name, environ).clear()
    return report
