"""Waits of the plan: namespaces left Terminating by a `down` must be gone before anything is created in
them (the API server refuses new content in a Terminating namespace); then every Argo CD Application must be
Synced and Healthy, with one progress line per Application.

On timeout the error names each unhealthy Application, its unhealthy resources with their health message,
the Application's conditions and the resources' latest events (Application status as Argo CD v3.4.4 writes it:
``llmops_cli.adapters.upstream``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops_cli.cluster.model import PlanInputs, Step, UpOptions
from llmops_cli.cluster.poll import wait_for
from llmops_cli.cluster.steps.argocd import app_state, argocd_namespace, is_healthy, resource_health_note, split

if TYPE_CHECKING:
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings


__all__ = ["app_state", "describe_apps", "is_healthy", "namespace_steps", "steps"]
NAMESPACE_TIMEOUT = 300.0


def plan_namespaces(inputs: PlanInputs) -> list[str]:
    """Every namespace `up` creates objects in directly."""
    names = {o["metadata"]["name"] for o in inputs.bootstrap if o.get("kind") == "Namespace"}
    names |= {o["metadata"].get("namespace") for o in inputs.bootstrap if o["metadata"].get("namespace")}
    names |= {s.namespace for s in inputs.secrets}
    if inputs.git_ssh is not None:
        names.add(inputs.git_ssh.namespace)
    return sorted(n for n in names if n and n not in ("kube-system", "default"))


def _terminating(ctx: StepContext, names: list[str]) -> list[dict[str, Any]]:
    out = []
    for n in names:
        ns = ctx.kube().get("v1", "Namespace", n)
        if ns is not None and (
            ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating"
        ):
            out.append(ns)
    return out


def namespace_steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    names = plan_namespaces(inputs)

    def wait(ctx: StepContext) -> None:
        def describe() -> list[str]:
            lines = []
            for ns in _terminating(ctx, names):
                conds = (ns.get("status") or {}).get("conditions") or []
                left = "; ".join(c.get("message", "") for c in conds if c.get("status") == "True" and c.get("message"))
                lines.append(f"namespace {ns['metadata']['name']} is still Terminating" + (f": {left}" if left else ""))
            return lines

        wait_for(
            lambda: True if not _terminating(ctx, names) else None,
            timeout=min(NAMESPACE_TIMEOUT, ctx.options.timeout),
            what="namespaces from an earlier `llmops down` to finish terminating",
            clock=ctx.clock,
            sleep=ctx.sleep,
            describe=describe,
            hint="something in them still has a finalizer; `llmops down` removes the platform in an order that "
            "lets Argo CD finish, run it again",
        )

    return [
        Step(
            id="wait_namespaces_active",
            phase="secrets",
            description="wait for earlier namespaces to finish terminating",
            changes="nothing (waits until " + ", ".join(names) + " are not Terminating)",
            check=lambda ctx: not _terminating(ctx, names),
            apply=wait,
            mutating=False,
            record=False,
        )
    ]


def describe_apps(kube: Kube, apps: list[dict[str, Any]], limit: int = 8) -> list[str]:
    lines: list[str] = []
    for app in apps:
        if is_healthy(app):
            continue
        name = app["metadata"]["name"]
        sync, health = app_state(app)
        st = app.get("status") or {}
        lines.append(f"Application {name}: {sync}/{health}")
        for c in st.get("conditions") or []:
            lines.append(f"    condition {c.get('type')}: {c.get('message', '').strip()}")
        op = st.get("operationState") or {}
        if op.get("phase") in ("Failed", "Error"):
            lines.append(f"    last sync {op.get('phase')}: {op.get('message', '').strip()}")
        if note := resource_health_note(app):
            lines.append(f"    {note}")
        shown = 0
        for r in st.get("resources") or []:
            rh = (r.get("health") or {}).get("status")
            if rh in (None, "Healthy") and r.get("status") == "Synced":
                continue
            if shown >= limit:
                lines.append("    ...")
                break
            shown += 1
            where = f"{r.get('namespace')}/" if r.get("namespace") else ""
            rmsg = (r.get("health") or {}).get("message") or ""
            lines.append(
                f"    {r.get('kind')} {where}{r.get('name')}: {r.get('status', '?')}/{rh or '-'}"
                + (f" ({rmsg})" if rmsg else "")
            )
            if r.get("namespace"):
                lines += [f"      {e}" for e in kube.events_for(r["namespace"], r["name"], r.get("kind"), limit=2)]
    return lines


def _poll(ctx: StepContext, ns: str, expected: set[str]) -> list[dict[str, Any]] | None:
    apps = ctx.kube().list("argoproj.io/v1alpha1", "Application", ns)
    for app in apps:
        sync, health = app_state(app)
        ctx.reporter.progress(app["metadata"]["name"], f"{sync}/{health}")
    names = {a["metadata"]["name"] for a in apps}
    if not expected <= names or not apps or not all(is_healthy(a) for a in apps):
        return None
    ctx.results["applications"] = {a["metadata"]["name"]: "/".join(app_state(a)) for a in apps}
    return apps


def steps(settings: Settings, facts: HostFacts, inputs: PlanInputs, options: UpOptions) -> list[Step]:
    ns = argocd_namespace(inputs.bootstrap)
    _, argo = split(inputs.bootstrap)
    expected = {o["metadata"]["name"] for o in argo if o["kind"] == "Application"}

    def wait(ctx: StepContext) -> None:
        kube = ctx.kube()
        wait_for(
            lambda: _poll(ctx, ns, expected),
            timeout=ctx.options.timeout,
            what="Argo CD Applications to be Synced and Healthy",
            clock=ctx.clock,
            sleep=ctx.sleep,
            describe=lambda: (
                describe_apps(kube, kube.list("argoproj.io/v1alpha1", "Application", ns))
                or [f"the Applications {', '.join(sorted(expected))} do not exist in namespace {ns}"]
            ),
            interval=5.0,
        )

    return [
        Step(
            id="wait_applications_healthy",
            phase="sync",
            description="wait for every Argo CD Application to be Synced and Healthy",
            changes="nothing (waits)",
            check=lambda ctx: _poll(ctx, ns, expected) is not None,
            apply=wait,
            mutating=False,
            record=False,
        )
    ]
