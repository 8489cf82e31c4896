"""HTTPS hostnames under an environment's ``domain``: the Policy Gateway (``gateway.<domain>``, the one door to
the models) and Grafana (``grafana.<domain>``), each an Ingress in its stack's folder, served with TLS from the
environment's certificate Secret (``tls_secret``). Without a domain, nothing."""

from __future__ import annotations

from llmops_cli.render import names
from llmops_cli.render.engine import render_objects
from llmops_cli.render.stacks.common import Files, RenderContext, add

# The grafana subchart's Service: "<release>-grafana" (grafana-community/helm-charts grafana-12.11.1
# templates/_helpers.tpl grafana.fullname, the parent's release name), port 80 (values.yaml service.port).
GRAFANA_SERVICE = "kube-prometheus-stack-grafana"
GRAFANA_PORT = 80


def hostnames(ctx: RenderContext) -> dict[str, str]:
    """Service role -> hostname, for what this environment renders."""
    e = ctx.settings.environments[ctx.env]
    if not e.domain:
        return {}
    s = ctx.settings.stacks
    out = {}
    if s.gateway.enabled:
        out["gateway"] = f"gateway.{e.domain}"
    if s.observability.enabled and s.observability.grafana:
        out["grafana"] = f"grafana.{e.domain}"
    return out


def stack_ingress(ctx: RenderContext) -> Files:
    hosts = hostnames(ctx)
    e = ctx.settings.environments[ctx.env]
    files: Files = {}
    targets = {
        "gateway": ("gateway", names.GATEWAY_NAME, names.APPS_NAMESPACE, names.GATEWAY_PORT),
        "grafana": ("observability", GRAFANA_SERVICE, names.MONITORING_NAMESPACE, GRAFANA_PORT),
    }
    for role, host in hosts.items():
        folder, service, namespace, port = targets[role]
        ing = {
            "name": service,
            "namespace": namespace,
            "labels": ctx.app_labels(service, "ingress"),
            "host": host,
            "tls_secret": e.tls_secret,
            "service": service,
            "port": port,
        }
        add(files, folder, render_objects("ingress/ingress.yaml.j2", ing=ing))
    return files
