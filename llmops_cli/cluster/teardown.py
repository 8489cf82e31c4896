"""`llmops down`: remove the platform in an order that lets every finalizer finish, then (optionally) what `up`
added to the host, and the kubeconfig context.

Order, so that no namespace is left Terminating (the next `up` could create nothing in it):

1. Argo CD's own Application is orphaned (its finalizer dropped): Argo CD must keep running through step 2.
2. The root Application is deleted with Argo CD's cascade finalizer; Argo CD deletes every child Application
   and what they deployed. `down` waits until they are gone.
3. The AppProject is deleted while Argo CD still runs: its controller drops the project's finalizer once no
   Application uses it.
4. Argo CD itself: a bootstrap HelmChart k3s's helm-controller still manages is deleted (`helm delete`);
   after the handover the argocd namespace takes it. Only once Argo CD's controller is gone are finalizers on
   leftover Argo CD objects removed (nothing else would), then the chart's kept CRDs and cluster roles go.
5. The namespaces are deleted and `down` waits until they are gone, naming what still holds them.

`--keep-data` keeps volumes (annotated so Argo CD does not prune them) and the namespaces with the generated
secrets. The host ledger (:mod:`llmops_cli.cluster.state`) says what `up` added to the host: `down` reports what
stays, `--purge` removes it (k3s only if llmops installed it; backups are never removed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llmops_cli.adapters import upstream
from llmops_cli.cluster.poll import wait_for
from llmops_cli.errors import ClusterError, UsageError

if TYPE_CHECKING:
    from llmops_cli.adapters.hosts import Host
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.state import State
    from llmops_cli.config.model import Settings
    from llmops_cli.reporting import Reporter

CASCADE_FINALIZER = "resources-finalizer.argocd.argoproj.io"
KEEP_ON_DELETE = {"argocd.argoproj.io/sync-options": "Delete=false"}
DELETE_TIMEOUT = 600.0
APP = "argoproj.io/v1alpha1"


@dataclass
class DownReport:
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    left_on_host: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # False when there was nothing to remove: no kubeconfig context, no k3s on the host.
    installed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "installed": self.installed,
            "removed": self.removed,
            "kept": self.kept,
            "left_on_host": self.left_on_host,
            "warnings": self.warnings,
        }


@dataclass
class Waiter:
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    timeout: float = DELETE_TIMEOUT

    def until(self, probe: Callable[[], Any], what: str, describe: Callable[[], list[str]] | None = None) -> Any:
        return wait_for(
            probe,
            timeout=self.timeout,
            what=what,
            clock=self.clock,
            sleep=self.sleep,
            describe=describe,
            hint="see what holds it with kubectl describe; run `llmops down` again",
        )


def _controller_running(kube: Kube, ns: str) -> bool:
    for s in kube.list("apps/v1", "StatefulSet", ns):
        if s["metadata"]["name"].endswith("application-controller"):
            return ((s.get("status") or {}).get("readyReplicas") or 0) >= 1
    return False


def _strip_argo_finalizers(kube: Kube, report: DownReport) -> None:
    """Finalizers on Argo CD objects nobody will process any more (its controller is gone)."""
    for kind in ("Application", "AppProject"):
        for obj in kube.list(APP, kind):
            meta = obj["metadata"]
            if meta.get("finalizers"):
                kube.merge_patch(APP, kind, meta["name"], {"metadata": {"finalizers": None}}, meta.get("namespace"))
                report.warnings.append(f"removed the finalizer of {kind} {meta.get('namespace')}/{meta['name']}")


def _namespace_left(kube: Kube, name: str) -> list[str]:
    ns = kube.get("v1", "Namespace", name)
    if ns is None:
        return []
    conds = (ns.get("status") or {}).get("conditions") or []
    held = [c.get("message", "") for c in conds if c.get("status") == "True" and c.get("message")]
    return [f"namespace {name} is still Terminating" + (f": {'; '.join(held)}" if held else "")]


def _gone(kube: Kube, api_version: str, kind: str, name: str, ns: str | None) -> Callable[[], bool | None]:
    return lambda: True if kube.get(api_version, kind, name, ns) is None else None


def _left(kube: Kube, namespace: str) -> Callable[[], list[str]]:
    return lambda: _namespace_left(kube, namespace)


def _remove_platform(
    kube: Kube,
    settings: Settings,
    env: str,
    keep_data: bool,
    reporter: Reporter,
    report: DownReport,
    waiter: Waiter,
) -> None:
    from llmops_cli.render import names

    ns = names.ARGOCD_NAMESPACE
    root = names.root_app_name(env)
    self_app = names.ARGOCD_RELEASE
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
    argo_runs = _controller_running(kube, ns)
    # 1. Argo CD manages itself through a child Application: orphan it, or the cascade would delete the
    # controller that has to finish the cascade.
    if kube.get(APP, "Application", self_app, ns) is not None:
        kube.merge_patch(APP, "Application", self_app, {"metadata": {"finalizers": None}}, ns)
    # 2. The root Application, with Argo CD's cascade.
    if kube.get(APP, "Application", root, ns) is not None:
        reporter.step(f"delete Application {root} with cascade", "running")
        if argo_runs:
            kube.merge_patch(APP, "Application", root, {"metadata": {"finalizers": [CASCADE_FINALIZER]}}, ns)
        else:
            report.warnings.append("Argo CD's controller is not running: its Applications are deleted without cascade")
            _strip_argo_finalizers(kube, report)
        kube.delete(APP, "Application", root, ns, propagation="Foreground")

        def apps_gone() -> bool | None:
            left = [a for a in kube.list(APP, "Application", ns) if a["metadata"]["name"] != self_app]
            return True if not left else None

        waiter.until(
            apps_gone,
            "Argo CD to remove the platform's Applications",
            lambda: [f"Application {a['metadata']['name']} still present" for a in kube.list(APP, "Application", ns)],
        )
        report.removed.append(f"Application {root} (cascade)")
    # 3. The AppProject, while the controller can still release its finalizer.
    for project in kube.list(APP, "AppProject", ns):
        pname = project["metadata"]["name"]
        if pname == "default":
            continue
        kube.delete(APP, "AppProject", pname, ns)
        if argo_runs:
            waiter.until(_gone(kube, APP, "AppProject", pname, ns), f"Argo CD to release AppProject {ns}/{pname}")
        report.removed.append(f"AppProject {ns}/{pname}")
    # 4. Argo CD itself.
    kube.delete(APP, "Application", self_app, ns)
    for chart_ns in ("kube-system", ns):  # where render puts the HelmChart
        chart = kube.get("helm.cattle.io/v1", "HelmChart", self_app, chart_ns)
        if chart is None:
            continue
        if upstream.HELM_UNMANAGED_ANNOTATION in (chart["metadata"].get("annotations") or {}):
            kube.merge_patch("helm.cattle.io/v1", "HelmChart", self_app, {"metadata": {"finalizers": None}}, chart_ns)
        kube.delete("helm.cattle.io/v1", "HelmChart", self_app, chart_ns)
        waiter.until(
            _gone(kube, "helm.cattle.io/v1", "HelmChart", self_app, chart_ns),
            f"k3s's helm-controller to uninstall Argo CD (HelmChart {chart_ns}/{self_app})",
        )
        report.removed.append(f"HelmChart {chart_ns}/{self_app} (Argo CD)")
    # 5. Namespaces (Argo CD's first, so its controller is gone before leftover finalizers are removed).
    deleted = []
    for dns in [ns, names.GPU_NAMESPACE, *data_namespaces]:
        if keep_data and dns in data_namespaces:
            report.kept.append(f"namespace {dns} (generated secrets and data)")
            continue
        if kube.delete("v1", "Namespace", dns, propagation="Background"):
            deleted.append(dns)
    if ns in deleted:
        waiter.until(lambda: True if not _controller_running(kube, ns) else None, "Argo CD's controller to stop")
        _strip_argo_finalizers(kube, report)
    for dns in deleted:
        waiter.until(
            _gone(kube, "v1", "Namespace", dns, None),
            f"namespace {dns} to be deleted",
            _left(kube, dns),
        )
        report.removed.append(f"namespace {dns}")
    # The chart keeps its CRDs on uninstall (crds.keep) and nothing else removes its cluster-wide objects.
    if ns in deleted:
        for crd in upstream.ARGOCD_CRDS:
            if kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd):
                report.removed.append(f"CustomResourceDefinition {crd}")
        for kind in ("ClusterRole", "ClusterRoleBinding"):
            for obj in kube.list("rbac.authorization.k8s.io/v1", kind, label_selector=upstream.ARGOCD_PART_OF_LABEL):
                kube.delete("rbac.authorization.k8s.io/v1", kind, obj["metadata"]["name"])
                report.removed.append(f"{kind} {obj['metadata']['name']}")


# ------------------------------------------------------------------------------------------- the host
def host_leftovers(ledger: Mapping[str, Any]) -> list[str]:
    """What `up` added to the host and stays after a plain `down` (from the ledger)."""
    out = []
    k3s = ledger.get("k3s") or {}
    if k3s.get("installed_by") == "llmops":
        out.append(
            f"k3s {k3s.get('version', '')} (installed by llmops; `down --purge` runs k3s-uninstall.sh)".replace(
                "  ", " "
            )
        )
    if ledger.get("dropin"):
        out.append(f"k3s config drop-in {ledger['dropin']}")
    if ledger.get("registries"):
        mirrors = ", ".join(sorted(ledger["registries"].get("mirrors") or {}))
        out.append(f"registry mirrors in /etc/rancher/k3s/registries.yaml ({mirrors})")
    tk = ledger.get("nvidia_toolkit") or {}
    if tk:
        files = ", ".join(tk.get("files") or [])
        out.append(
            f"NVIDIA container toolkit {tk.get('version', '')} ({', '.join(tk.get('packages') or [])})"
            + (f" and its repository ({files})" if files else "")
        )
    for b in ledger.get("backups") or []:
        out.append(f"datastore backup {b} (never removed by llmops)")
    return out


def down_actions(ledger: Mapping[str, Any], *, uninstall_k3s: bool, purge: bool) -> list[str]:
    """What `down` will do on the host, for the confirmation question."""
    actions = []
    ours = (ledger.get("k3s") or {}).get("installed_by") == "llmops"
    if uninstall_k3s or (purge and ours):
        actions.append("run k3s-uninstall.sh (deletes k3s and all its data under /var/lib/rancher)")
    elif purge:
        if ledger.get("dropin"):
            actions.append(f"remove {ledger['dropin']} and restart k3s")
        if ledger.get("registries"):
            actions.append("remove llmops's mirrors from /etc/rancher/k3s/registries.yaml")
    if purge and ledger.get("nvidia_toolkit"):
        actions.append("remove the NVIDIA container toolkit packages, repository and key llmops installed")
    return actions


def _purge_toolkit(host: Host, ledger: Mapping[str, Any], report: DownReport) -> None:
    tk = ledger.get("nvidia_toolkit") or {}
    pkgs = list(tk.get("packages") or [])
    if pkgs and host.which("apt-get"):
        host.run(
            ["apt-get", "-o", f"DPkg::Lock::Timeout={upstream.APT_LOCK_TIMEOUT_S}", "remove", "-y", *pkgs],
            privileged=True,
            timeout=900,
        )
    elif pkgs and host.which("dnf"):
        host.run(["dnf", "remove", "-y", *pkgs], privileged=True, timeout=900)
    elif pkgs and host.which("zypper"):
        host.run(["zypper", "--non-interactive", "remove", *pkgs], privileged=True, timeout=900)
    if tk.get("zypper_repo"):
        host.run(["zypper", "--non-interactive", "rr", tk["zypper_repo"]], privileged=True, check=False)
    for f in tk.get("files") or []:
        host.remove(f, privileged=True)
    report.removed.append("NVIDIA container toolkit (" + ", ".join(pkgs) + ") and its repository")


def _clean_host(
    host: Host,
    state: State,
    init_system: str,
    *,
    uninstall_k3s: bool,
    purge: bool,
    report: DownReport,
    reporter: Reporter,
) -> None:
    from llmops_cli.adapters.hostfacts import K3S_REGISTRIES, K3S_UNINSTALL
    from llmops_cli.cluster.steps.k3s import merge_registries, service_argv

    ledger = state.host
    ours = (ledger.get("k3s") or {}).get("installed_by") == "llmops"
    if uninstall_k3s or (purge and ours):
        reporter.phase("k3s")
        if host.exists(K3S_UNINSTALL):
            host.run([K3S_UNINSTALL], privileged=True, timeout=600)
            report.removed.append("k3s (k3s-uninstall.sh: also /etc/rancher/k3s and /var/lib/rancher/k3s)")
            reporter.step("uninstall k3s", "changed")
        else:
            reporter.step("uninstall k3s", "skip", f"{K3S_UNINSTALL} not found")
        for key in ("k3s", "dropin", "registries"):
            state.record_host(key, None)
    elif purge:
        reporter.phase("host")
        restart = False
        if ledger.get("dropin") and host.exists(ledger["dropin"]):
            host.remove(ledger["dropin"], privileged=True)
            report.removed.append(ledger["dropin"])
            restart = True
        state.record_host("dropin", None)
        if ledger.get("registries"):
            current = host.read_text(K3S_REGISTRIES, privileged=True)
            new, _, _ = merge_registries(current, None, ledger["registries"])
            if new is None:
                host.remove(K3S_REGISTRIES, privileged=True)
            elif new != current:
                host.write_text(K3S_REGISTRIES, new, mode=0o600, privileged=True)
            report.removed.append("llmops's mirrors from " + K3S_REGISTRIES)
            state.record_host("registries", None)
            restart = True
        if restart and host.exists(K3S_UNINSTALL):
            host.run(service_argv(init_system, "restart"), privileged=True, check=False, timeout=180)
            report.removed.append("(k3s restarted without llmops's settings)")
    if purge and ledger.get("nvidia_toolkit"):
        _purge_toolkit(host, ledger, report)
        state.record_host("nvidia_toolkit", None)
    report.left_on_host = host_leftovers(state.host)


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
    purge: bool = False,
    init_system: str = "systemd",
    timeout: float = DELETE_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DownReport:
    from llmops_cli.adapters import kubeconfig
    from llmops_cli.adapters.hostfacts import K3S_BIN, K3S_KUBECONFIG, K3S_UNINSTALL
    from llmops_cli.cluster.state import State

    state = State.load(settings.cluster.name, environ)
    removes_data = uninstall_k3s or (purge and (state.host.get("k3s") or {}).get("installed_by") == "llmops")
    if keep_data and removes_data:
        raise UsageError(
            "--keep-data conflicts with removing k3s (--uninstall-k3s, or --purge of a k3s llmops installed): "
            "k3s's uninstall script deletes /var/lib/rancher (all volumes)",
            hint="drop one of the flags",
        )
    report = DownReport()
    name = settings.cluster.context_name
    if kubeconfig.find_context(name, environ) is None and not any(
        host.exists(path) for path in (K3S_KUBECONFIG, K3S_BIN, K3S_UNINSTALL)
    ):
        state.clear()  # what a failed first `up` may have left
        report.installed = False
        return report
    reporter.phase("platform")
    waiter = Waiter(clock=clock, sleep=sleep, timeout=timeout)
    try:
        kube = kube_factory()
        _remove_platform(kube, settings, env, keep_data, reporter, report, waiter)
        reporter.step("remove the platform", "changed")
    except ClusterError as e:
        if not removes_data:
            raise
        report.warnings.append(f"cluster not reachable, removing k3s anyway: {e.message}")
        reporter.warn(report.warnings[-1])
    _clean_host(host, state, init_system, uninstall_k3s=uninstall_k3s, purge=purge, report=report, reporter=reporter)
    reporter.phase("kubeconfig")
    for path in kubeconfig.remove_context(name, environ=environ):
        report.removed.append(f"kubeconfig context {name} from {path}")
    reporter.step(f"remove kubeconfig context {name}", "changed")
    if purge:
        backups = state.host.get("backups")
        state.clear()
        if backups:
            state.record_host("backups", backups)
    else:
        state.clear_run()
    return report
