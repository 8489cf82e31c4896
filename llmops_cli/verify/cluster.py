"""Verify inside a cluster: port-forwards to each component's Service (opened here, closed when the run ends),
the credentials it keeps in Secrets, and the Argo CD Applications' sync and health.

Where each Service is: our own workloads by the names in ``render.names``; Prometheus and Loki by the in-cluster
URLs the observability stack renders (``render.stacks.observability``); Grafana by the label the grafana chart
sets (``app.kubernetes.io/name=grafana``, the first port; grafana-community/helm-charts grafana-12.11.1, the
chart kube-prometheus-stack 88.5.3 depends on: ``templates/service.yaml`` and ``_helpers.tpl``
grafana.selectorLabels, port 80, which the stack names ``http-web``).

Argo CD v3.4.4 writes an Application's state to ``status.sync.status`` (Synced|OutOfSync|Unknown),
``status.sync.revision`` (``revisions`` for several sources: a Git commit, or the chart version of a Helm source)
and ``status.health.status`` (Healthy|Progressing|Degraded|Suspended|Missing|Unknown; its ``message`` is
deprecated and never set), with ``status.conditions``, ``status.operationState`` and each of
``status.resources[]``'s ``health`` for what went wrong; the last only when the controller persists it, which
the rendered chart values ask for (argoproj/argo-cd v3.4.4 ``pkg/apis/application/v1alpha1/types.go``,
gitops-engine ``pkg/health``; ``llmops_cli.adapters.upstream``).
"""

from __future__ import annotations

import base64
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from llmops_cli.errors import ClusterError, LlmopsError
from llmops_cli.verify.model import Endpoints, Outcome, Runner, fail, ok

if TYPE_CHECKING:
    from llmops_cli.adapters.kube import Kube
    from llmops_cli.adapters.portforward import PortForward
    from llmops_cli.config.model import Settings
    from llmops_cli.verify.expected import Expected


def detect_env(kube: Kube, settings: Settings) -> str | None:
    """The environment whose root Application (``llmops-<env>``) this cluster runs, when exactly one does."""
    from llmops_cli.render import names

    apps = {a["metadata"]["name"] for a in kube.list("argoproj.io/v1alpha1", "Application", names.ARGOCD_NAMESPACE)}
    found = [e for e in settings.environments if names.root_app_name(e) in apps]
    return found[0] if len(found) == 1 else None


def _secret(kube: Kube, name: str, namespace: str, key: str) -> str:
    obj = kube.get("v1", "Secret", name, namespace)
    if obj is None or key not in (obj.get("data") or {}):
        raise ClusterError(
            f"Secret {name} (key {key}) not found in namespace {namespace}",
            hint="`llmops up` creates it; run it again",
        )
    return base64.b64decode(obj["data"][key]).decode()


class ClusterAccess:
    """Port-forwards for the components that are enabled; what could not be opened is kept per component."""

    def __init__(self, kube: Kube, expected: Expected, settings: Settings, given: Endpoints) -> None:
        self.kube = kube
        self.expected = expected
        self.settings = settings
        self.given = given
        self.unavailable: dict[str, LlmopsError] = {}
        self.forwards: dict[str, PortForward] = {}
        self.endpoints = given
        self._stack = ExitStack()

    def _forward(self, component: str, namespace: str, service: str, port: int | str) -> PortForward:
        from llmops_cli.adapters.portforward import forward_service

        pf = self._stack.enter_context(forward_service(self.kube, namespace, service, port))
        self.forwards[component] = pf
        return pf

    def open(self) -> ClusterAccess:
        from llmops_cli.adapters.portforward import service_port
        from llmops_cli.render import names
        from llmops_cli.render.stacks.observability import LOKI_URL, PROMETHEUS_URL

        s = self.settings.stacks
        apps = names.APPS_NAMESPACE
        mon = names.MONITORING_NAMESPACE
        e: dict[str, Any] = {}

        def attempt(component: str, fn: Any) -> None:
            if not self.expected.stacks.get(component):
                return
            try:
                fn()
            except LlmopsError as err:
                self.unavailable[component] = err

        def gw() -> None:
            url = self._forward("gateway", apps, names.GATEWAY_NAME, "http").url()
            e["gateway_url"] = url
            # The gateway's metrics: a Service port named "metrics" when it has one, else the API port.
            svc = self.kube.get("v1", "Service", names.GATEWAY_NAME, apps) or {}
            if service_port(svc, "metrics") is not None:
                url = self._forward("gateway-metrics", apps, names.GATEWAY_NAME, "metrics").url()
            e["gateway_metrics_url"] = url + "/metrics"

        def vl() -> None:
            e["vllm_url"] = self._forward("vllm", apps, names.vllm_service_name(s.vllm.name), "http").url()

        def pg() -> None:
            user = _secret(self.kube, names.PGVECTOR_SECRET, apps, names.PGVECTOR_SECRET_USER_KEY)
            password = _secret(self.kube, names.PGVECTOR_SECRET, apps, names.PGVECTOR_SECRET_PASSWORD_KEY)
            pf = self._forward("pgvector", apps, names.PGVECTOR_NAME, "postgres")
            e["pg_dsn"] = (
                f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{pf.address}/{s.pgvector.database}"
            )

        def in_cluster(component: str, url: str) -> None:
            parts = urlsplit(url)
            host = parts.hostname or ""
            pf = self._forward(component, host.split(".")[1], host.split(".")[0], int(parts.port or 80))
            e[f"{component}_url"] = pf.url()

        def gf() -> None:
            found = self.kube.list("v1", "Service", mon, label_selector="app.kubernetes.io/name=grafana")
            if not found:
                raise ClusterError(f"no Grafana Service in namespace {mon}", hint="is kube-prometheus-stack synced?")
            svc = found[0]
            port = ((svc.get("spec") or {}).get("ports") or [{}])[0].get("port", 80)
            pf = self._forward("grafana", mon, svc["metadata"]["name"], port)
            user = _secret(self.kube, names.GRAFANA_ADMIN_SECRET, mon, names.GRAFANA_SECRET_USER_KEY)
            password = _secret(self.kube, names.GRAFANA_ADMIN_SECRET, mon, names.GRAFANA_SECRET_PASSWORD_KEY)
            e["grafana_url"] = f"http://{quote(user, safe='')}:{quote(password, safe='')}@{pf.address}"

        attempt("gateway", gw)
        attempt("vllm", vl)
        attempt("pgvector", pg)
        attempt("prometheus", lambda: in_cluster("prometheus", PROMETHEUS_URL))
        attempt("grafana", gf)
        attempt("loki", lambda: in_cluster("loki", LOKI_URL))
        self.endpoints = self.given.with_(**e)
        return self

    def hint(self, component: str) -> str | None:
        pf = self.forwards.get(component)
        return pf.last_error() if pf is not None else None

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> ClusterAccess:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


# ============================================================================================== Argo CD
def _revision(app: dict[str, Any]) -> str:
    sync = (app.get("status") or {}).get("sync") or {}
    revs = [sync["revision"]] if sync.get("revision") else list(sync.get("revisions") or [])
    shown = [r[:7] if len(r) == 40 and all(c in "0123456789abcdef" for c in r) else r for r in map(str, revs)]
    return ", ".join(shown) or "no revision"


def _problem(app: dict[str, Any]) -> str:
    from llmops_cli.cluster.steps.argocd import resource_health_note

    st = app.get("status") or {}
    parts = []
    for c in st.get("conditions") or []:
        parts.append(f"{c.get('type')}: {str(c.get('message', '')).strip()}")
    op = st.get("operationState") or {}
    if op.get("phase") in ("Failed", "Error"):
        parts.append(f"last sync {op.get('phase')}: {str(op.get('message', '')).strip()}")
    for r in st.get("resources") or []:
        rh = (r.get("health") or {}).get("status")
        if rh not in (None, "Healthy") or r.get("status") not in (None, "Synced"):
            where = f"{r.get('namespace')}/" if r.get("namespace") else ""
            rmsg = (r.get("health") or {}).get("message")
            parts.append(
                f"{r.get('kind')} {where}{r.get('name')}: {r.get('status', '?')}/{rh or '-'}"
                + (f" ({rmsg})" if rmsg else "")
            )
            break
    if note := resource_health_note(app):
        parts.append(note)
    return "; ".join(parts)


def argocd(runner: Runner, kube: Kube, expected: Expected) -> None:
    """One check per llmops Application: the rendered ones and any other in the llmops project."""
    from llmops_cli.cluster.steps.waits import app_state
    from llmops_cli.render import names

    try:
        apps = kube.list("argoproj.io/v1alpha1", "Application", names.ARGOCD_NAMESPACE)
    except LlmopsError as e:
        err = e
        runner.run("argocd", "argocd applications", lambda: fail(err.message, err.hint))
        return
    by_name = {
        a["metadata"]["name"]: a
        for a in apps
        if (a.get("spec") or {}).get("project") == names.PROJECT or a["metadata"]["name"] in expected.applications
    }
    for name in sorted(set(expected.applications) | set(by_name)):
        app = by_name.get(name)

        def check(app: dict[str, Any] | None = app, name: str = name) -> Outcome:
            if app is None:
                return fail(
                    f"Application {name} does not exist",
                    f"the root Application {names.root_app_name(expected.env)} creates it from the tree; "
                    "`llmops sync`, then `llmops status`",
                )
            sync, health = app_state(app)
            if (sync, health) == ("Synced", "Healthy"):
                return ok(f"Synced/Healthy at {_revision(app)}")
            why = _problem(app)
            return fail(
                f"{sync}/{health} at {_revision(app)}" + (f": {why}" if why else ""),
                f"kubectl -n {names.ARGOCD_NAMESPACE} describe application {name}",
            )

        runner.run("argocd", f"argocd {name}", check)
