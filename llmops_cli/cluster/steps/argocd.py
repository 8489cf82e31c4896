"""Argo CD: apply the rendered bootstrap (namespaces + the pinned argo-cd chart as a k3s HelmChart), wait for
its workloads, then the AppProject and the root Application (app of apps)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from llmops_cli.cluster.model import PlanInputs, Step, UpOptions, fingerprint
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


def argocd_namespace(bootstrap: tuple[dict[str, Any], ...]) -> str:
    for o in bootstrap:
        if o.get("kind") in ARGO_KINDS and (o.get("metadata") or {}).get("namespace"):
            return str(o["metadata"]["namespace"])
    return DEFAULT_NAMESPACE


def _ready_workloads(ctx: StepContext, ns: str) -> list[str] | None:
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


def install_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    install, _ = split(inputs.bootstrap)
    ns = argocd_namespace(inputs.bootstrap)

    def wait(ctx: StepContext) -> None:
        ctx.kube().wait_until(
            lambda: _ready_workloads(ctx, ns),
            timeout=min(ARGOCD_READY_TIMEOUT, ctx.options.timeout),
            what=f"Argo CD in namespace {ns} to be ready",
            describe=lambda: _describe_workloads(ctx, ns),
        )

    return [
        Step(
            id="apply_argocd_install",
            phase="argocd",
            description="install Argo CD (pinned chart through k3s's Helm controller)",
            changes="server-side apply: " + ", ".join(ident(o) for o in install),
            check=lambda ctx: all_applied(ctx, install),
            apply=lambda ctx: apply_all(ctx, install),
            fingerprint=fingerprint(install),
        ),
        Step(
            id="wait_argocd_ready",
            phase="argocd",
            description="wait for Argo CD's deployments",
            changes="nothing (waits)",
            check=lambda ctx: _ready_workloads(ctx, ns) is not None,
            apply=wait,
            mutating=False,
            record=False,
        ),
    ]


def admin_password(ctx: StepContext, ns: str) -> str | None:
    s = ctx.kube().get("v1", "Secret", "argocd-initial-admin-secret", ns)
    raw = ((s or {}).get("data") or {}).get("password")
    return base64.b64decode(raw).decode() if raw else None


def root_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    _, argo = split(inputs.bootstrap)
    ns = argocd_namespace(inputs.bootstrap)
    if not argo:
        raise LlmopsError("the rendered bootstrap has no AppProject/Application", code="bug")

    def apply(ctx: StepContext) -> None:
        apply_all(ctx, argo)

    def after(ctx: StepContext) -> None:
        if not all_applied(ctx, argo):
            raise LlmopsError("the Argo CD objects did not stick", code="argocd")
        ctx.notes.append(
            f"Argo CD UI: kubectl --context {ctx.settings.cluster.context_name} -n {ns} "
            "port-forward svc/argocd-server 8080:443, then https://localhost:8080 (user admin)"
        )
        if ctx.options.show_password:
            pw = admin_password(ctx, ns)
            if pw:
                ctx.secrets["argocd admin password"] = pw
        else:
            ctx.notes.append("Argo CD admin password: run `llmops up --show-password` to print it")

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
