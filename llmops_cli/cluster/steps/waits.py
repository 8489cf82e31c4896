"""Wait until every Argo CD Application is Synced and Healthy, with one progress line per Application.

On timeout the error names each unhealthy Application, its unhealthy resources with their health message,
the Application's conditions and the resources' latest events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops_cli.cluster.model import PlanInputs, Step, UpOptions
from llmops_cli.cluster.steps.argocd import argocd_namespace, split

if TYPE_CHECKING:
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.cluster.facts import HostFacts
    from llmops_cli.cluster.model import StepContext
    from llmops_cli.config.model import Settings


def app_state(app: dict[str, Any]) -> tuple[str, str]:
    st = app.get("status") or {}
    return (st.get("sync") or {}).get("status", "Unknown"), (st.get("health") or {}).get("status", "Unknown")


def is_healthy(app: dict[str, Any]) -> bool:
    return app_state(app) == ("Synced", "Healthy")


def describe_apps(kube: Kube, apps: list[dict[str, Any]], limit: int = 8) -> list[str]:
    lines: list[str] = []
    for app in apps:
        if is_healthy(app):
            continue
        name = app["metadata"]["name"]
        sync, health = app_state(app)
        st = app.get("status") or {}
        msg = (st.get("health") or {}).get("message") or ""
        lines.append(f"Application {name}: {sync}/{health}" + (f" ({msg})" if msg else ""))
        for c in st.get("conditions") or []:
            lines.append(f"    condition {c.get('type')}: {c.get('message', '').strip()}")
        op = st.get("operationState") or {}
        if op.get("phase") in ("Failed", "Error"):
            lines.append(f"    last sync {op.get('phase')}: {op.get('message', '').strip()}")
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
        kube.wait_until(
            lambda: _poll(ctx, ns, expected),
            timeout=ctx.options.timeout,
            what="Argo CD Applications to be Synced and Healthy",
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
