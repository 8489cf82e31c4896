"""Argo CD: apply the rendered bootstrap (namespaces + the pinned argo-cd chart as a k3s HelmChart), wait for
its workloads, then the AppProject and the root Application (app of apps); once the tree's `argo-cd`
Application runs Argo CD, hand it over: Argo CD has one owner after bootstrap.

Before the handover both the HelmChart (k3s's helm-controller) and the Application write Argo CD's objects, and
deleting the HelmChart would uninstall Argo CD (helm-controller runs `helm delete` for a chart it manages). The
handover marks the HelmChart unmanaged (helm-controller then ignores it, on change and on removal), drops its
finalizer and deletes it: Argo CD keeps running, managed by its own Application from then on, and `up` does not
apply the HelmChart again."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from llmops_cli.adapters import upstream
from llmops_cli.cluster.model import PlanInputs, Step, UpOptions, fingerprint
from llmops_cli.cluster.poll import wait_for
from llmops_cli.cluster.steps.objects import all_applied, apply_all, ident
from llmops_cli.errors import LlmopsError

if TYPE_CHECKING:
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings

ARGO_KINDS = {"Application", "AppProject"}
ARGOCD_READY_TIMEOUT = 600.0
DEFAULT_NAMESPACE = "argocd"


def split(bootstrap: tuple[dict[str, Any], ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(install objects, Argo CD objects): the CRDs of the second only exist once the first is running."""
    install = [o for o in bootstrap if o.get("kind") not in ARGO_KINDS]
    argo = [o for o in bootstrap if o.get("kind") in ARGO_KINDS]
    return install, argo


def app_state(app: dict[str, Any]) -> tuple[str, str]:
    st = app.get("status") or {}
    return (st.get("sync") or {}).get("status", "Unknown"), (st.get("health") or {}).get("status", "Unknown")


def resource_health_note(app: dict[str, Any]) -> str:
    """Where the resources' health is when the Application does not carry it (Argo CD >= 3.0 without
    ``controller.resource.health.persist``: ``upstream``), else ''."""
    if (app.get("status") or {}).get("resourceHealthSource") != upstream.ARGOCD_HEALTH_IN_APP_TREE:
        return ""
    return (
        f"Argo CD keeps its resources' health out of the Application ({upstream.ARGOCD_PERSIST_RESOURCE_HEALTH} "
        'is not "true" in argocd-cmd-params-cm): see them in the Argo CD UI'
    )


def is_healthy(app: dict[str, Any]) -> bool:
    return app_state(app) == ("Synced", "Healthy")


def argocd_namespace(bootstrap: tuple[dict[str, Any], ...]) -> str:
    for o in bootstrap:
        if o.get("kind") in ARGO_KINDS and (o.get("metadata") or {}).get("namespace"):
            return str(o["metadata"]["namespace"])
    return DEFAULT_NAMESPACE


def ready_workloads(ctx: StepContext, ns: str) -> list[str] | None:
    """The names of the deployments in ``ns`` once its server and repo-server deployments exist and
    every deployment and statefulset there has its replicas available; None until then."""
    kube = ctx.kube()
    deployments = kube.list("apps/v1", "Deployment", ns)
    names = [d["metadata"]["name"] for d in deployments]
    if not any(n.endswith("-server") and not n.endswith("-repo-server") for n in names):
        return None
    if not any(n.endswith("-repo-server") for n in names):
        return None
    for d in deployments:
        st = d.get("status") or {}
        want = (d.get("spec") or {}).get("replicas", 1)
        if (st.get("availableReplicas") or 0) < want:
            return None
    for s in kube.list("apps/v1", "StatefulSet", ns):
        st = s.get("status") or {}
        if (st.get("readyReplicas") or 0) < (s.get("spec") or {}).get("replicas", 1):
            return None
    return names


def _helmchart(bootstrap: tuple[dict[str, Any], ...]) -> tuple[str, str]:
    for o in bootstrap:
        if o.get("kind") == "HelmChart":
            return o["metadata"]["name"], o["metadata"].get("namespace", "kube-system")
    return "argo-cd", "kube-system"


def server_service(bootstrap: tuple[dict[str, Any], ...]) -> str:
    """The Argo CD server's Service for the bootstrap's release (argo-helm's naming, ``upstream``)."""
    release, _ = _helmchart(bootstrap)
    return upstream.argocd_server_service(release)


def ui_hint(context: str, bootstrap: tuple[dict[str, Any], ...]) -> str:
    ns = argocd_namespace(bootstrap)
    return (
        f"Argo CD UI: kubectl --context {context} -n {ns} port-forward svc/{server_service(bootstrap)} "
        f"8080:{upstream.ARGOCD_SERVER_HTTP_PORT}, then http://localhost:8080 (user admin; the server speaks plain "
        "HTTP: server.insecure)"
    )


def handed_over(ctx: StepContext) -> bool:
    """Argo CD runs under its own Application and the bootstrap HelmChart is gone."""
    chart, chart_ns = _helmchart(ctx.inputs.bootstrap)
    kube = ctx.kube()
    if kube.get("helm.cattle.io/v1", "HelmChart", chart, chart_ns) is not None:
        return False
    ns = argocd_namespace(ctx.inputs.bootstrap)
    return kube.get("argoproj.io/v1alpha1", "Application", chart, ns) is not None


def _describe_workloads(ctx: StepContext, ns: str) -> list[str]:
    kube = ctx.kube()
    lines = []
    for kind in ("Deployment", "StatefulSet"):
        for d in kube.list("apps/v1", kind, ns):
            st = d.get("status") or {}
            ready = st.get("availableReplicas", st.get("readyReplicas")) or 0
            want = (d.get("spec") or {}).get("replicas", 1)
            if ready < want:
                conds = "; ".join(
                    f"{c.get('type')}={c.get('status')} {c.get('message', '')}".strip()
                    for c in st.get("conditions", [])
                )
                lines.append(f"{kind} {ns}/{d['metadata']['name']}: {ready}/{want} ready {conds}".rstrip())
                lines += [f"    {e}" for e in kube.events_for(ns, d["metadata"]["name"], kind, limit=3)]
    if not lines:
        lines.append(f"no Argo CD workloads in namespace {ns} yet; the HelmChart install job may be failing:")
        chart, chart_ns = _helmchart(ctx.inputs.bootstrap)
        # k3s's Helm controller runs the install as Job helm-install-<chart> in the HelmChart's namespace.
        lines += [f"    {e}" for e in kube.events_for(chart_ns, f"helm-install-{chart}", limit=3)]
    return lines


def _install_objects(ctx: StepContext, install: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bootstrap to apply: without the HelmChart once Argo CD manages itself (re-applying it would give Argo
    CD two owners again)."""
    if handed_over(ctx):
        return [o for o in install if o.get("kind") != "HelmChart"]
    return install


def install_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    install, _ = split(inputs.bootstrap)
    ns = argocd_namespace(inputs.bootstrap)

    def wait(ctx: StepContext) -> None:
        wait_for(
            lambda: ready_workloads(ctx, ns),
            timeout=min(ARGOCD_READY_TIMEOUT, ctx.options.timeout),
            what=f"Argo CD in namespace {ns} to be ready",
            clock=ctx.clock,
            sleep=ctx.sleep,
            describe=lambda: _describe_workloads(ctx, ns),
        )

    return [
        Step(
            id="apply_argocd_install",
            phase="argocd",
            description="install Argo CD (pinned chart through k3s's Helm controller)",
            changes="server-side apply: " + ", ".join(ident(o) for o in install) + " (the HelmChart only until "
            "Argo CD manages itself)",
            check=lambda ctx: all_applied(ctx, _install_objects(ctx, install)),
            apply=lambda ctx: apply_all(ctx, _install_objects(ctx, install)),
            fingerprint=fingerprint(install),
        ),
        Step(
            id="wait_argocd_ready",
            phase="argocd",
            description="wait for Argo CD's deployments",
            changes="nothing (waits)",
            check=lambda ctx: ready_workloads(ctx, ns) is not None,
            apply=wait,
            mutating=False,
            record=False,
        ),
    ]


def handover_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    """After every Application is healthy: the tree's `argo-cd` Application alone owns Argo CD."""
    chart, chart_ns = _helmchart(inputs.bootstrap)
    ns = argocd_namespace(inputs.bootstrap)
    if not any(o.get("kind") == "HelmChart" for o in inputs.bootstrap):
        return []

    def done(ctx: StepContext) -> bool:
        return ctx.kube().get("helm.cattle.io/v1", "HelmChart", chart, chart_ns) is None

    def apply(ctx: StepContext) -> None:
        kube = ctx.kube()
        app = kube.get("argoproj.io/v1alpha1", "Application", chart, ns)
        if app is None or not is_healthy(app):
            state = "/".join(app_state(app)) if app else "missing"
            raise LlmopsError(
                f"Argo CD's own Application {ns}/{chart} is {state}: Argo CD stays with its bootstrap HelmChart",
                hint="check the Application (llmops status), then run `llmops up` again",
                code="argocd_handover",
            )
        # helm-controller skips an unmanaged chart, on change and on removal: no `helm delete` of Argo CD.
        kube.merge_patch(
            "helm.cattle.io/v1",
            "HelmChart",
            chart,
            {"metadata": {"annotations": {upstream.HELM_UNMANAGED_ANNOTATION: "true"}, "finalizers": None}},
            chart_ns,
        )
        kube.delete("helm.cattle.io/v1", "HelmChart", chart, chart_ns, propagation="Orphan")
        wait_for(
            lambda: True if done(ctx) else None,
            timeout=120,
            what=f"HelmChart {chart_ns}/{chart} to go",
            clock=ctx.clock,
            sleep=ctx.sleep,
        )

    def verify(ctx: StepContext) -> None:
        if ready_workloads(ctx, ns) is None:
            raise LlmopsError("Argo CD stopped running after its HelmChart was removed", code="argocd_handover")

    return [
        Step(
            id="hand_over_argocd",
            phase="argocd",
            description=f"hand Argo CD over to its own Application ({ns}/{chart})",
            changes=f"HelmChart {chart_ns}/{chart}: annotate {upstream.HELM_UNMANAGED_ANNOTATION}, drop its finalizer "
            "and delete it (Argo CD keeps running; one owner from now on)",
            check=done,
            apply=apply,
            verify=verify,
            record=False,
        )
    ]


def admin_password(ctx: StepContext, ns: str) -> str | None:
    s = ctx.kube().get("v1", "Secret", "argocd-initial-admin-secret", ns)
    raw = ((s or {}).get("data") or {}).get("password")
    return base64.b64decode(raw).decode() if raw else None


def root_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    _, argo = split(inputs.bootstrap)
    if not argo:
        raise LlmopsError("the rendered bootstrap has no AppProject/Application", code="bug")

    def apply(ctx: StepContext) -> None:
        apply_all(ctx, argo)

    def after(ctx: StepContext) -> None:
        if not all_applied(ctx, argo):
            raise LlmopsError("the Argo CD objects did not stick", code="argocd")

    return [
        Step(
            id="apply_root_application",
            phase="gitops",
            description="apply the AppProject and root Application (app of apps)",
            changes="server-side apply: " + ", ".join(ident(o) for o in argo),
            check=lambda ctx: all_applied(ctx, argo),
            apply=apply,
            verify=after,
            fingerprint=fingerprint(argo),
        )
    ]
