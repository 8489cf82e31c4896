"""The observability stack."""

from __future__ import annotations

from typing import Any

from llmops_cli import versions as versions_view
from llmops_cli.render import names
from llmops_cli.render.engine import render_objects
from llmops_cli.render.stacks.common import (
    WAVE_APPS,
    WAVE_CRDS,
    WAVE_OPERATORS,
    Files,
    RenderContext,
    add,
    app,
    res_values,
    tree_path,
)

PROMETHEUS_URL = f"http://kube-prometheus-stack-prometheus.{names.MONITORING_NAMESPACE}.svc:9090"
LOKI_URL = f"http://loki.{names.MONITORING_NAMESPACE}.svc:3100"


def retention(ctx: RenderContext) -> str:
    return ctx.settings.stacks.observability.retention or ctx.profile.retention


def kube_prometheus_values(ctx: RenderContext) -> dict[str, Any]:
    from llmops_cli.render.alerting import alertmanager_config, needs_secret

    obs = ctx.settings.stacks.observability
    p = ctx.profile
    alertmanager: dict[str, Any] = {"config": alertmanager_config(obs.alerting)}
    if needs_secret(obs.alerting):
        alertmanager["alertmanagerSpec"] = {"secrets": [obs.alerting.secret]}
    values: dict[str, Any] = {
        "fullnameOverride": "kube-prometheus-stack",
        "crds": {"enabled": False},  # installed by the prometheus-operator-crds Application (wave CRDs)
        # k3s runs these inside the k3s process: nothing to scrape separately.
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "alertmanager": alertmanager,
        "prometheus": {
            "prometheusSpec": {
                "retention": retention(ctx),
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "resources": res_values(p.prometheus),
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": p.prometheus_storage}},
                        }
                    }
                },
            }
        },
        "grafana": {
            "enabled": obs.grafana,
            "admin": {
                "existingSecret": names.GRAFANA_ADMIN_SECRET,
                "userKey": names.GRAFANA_SECRET_USER_KEY,
                "passwordKey": names.GRAFANA_SECRET_PASSWORD_KEY,
            },
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": "grafana_dashboard",
                    "labelValue": "1",
                    "searchNamespace": "ALL",
                },
                "datasources": {
                    "enabled": True,
                    "label": "grafana_datasource",
                    "labelValue": "1",
                    "defaultDatasourceEnabled": False,
                },
            },
        },
    }
    if p.prometheus_retention_size:
        values["prometheus"]["prometheusSpec"]["retentionSize"] = p.prometheus_retention_size
    return values


def loki_values(ctx: RenderContext) -> dict[str, Any]:
    p = ctx.profile
    return {
        # One process with every target; the chart renamed SingleBinary to Monolithic in 12.0.0
        # (grafana-community/helm-charts charts/loki/README.md, "From 11.x to 12.0.0").
        "deploymentMode": "Monolithic",
        "loki": {
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {
                "configs": [
                    {
                        "from": "2024-04-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "loki_index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {"retention_period": retention(ctx)},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
        },
        # No replicas: with filesystem storage the chart runs exactly one (templates/_helpers.tpl,
        # loki.monolithicReplicas) and ignores singleBinary.replicas.
        "singleBinary": {
            "persistence": {"size": p.loki_storage},
            "resources": res_values(p.loki),
        },
        "backend": {"replicas": 0},
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "minio": {"enabled": False},
    }


def alloy_values(ctx: RenderContext) -> dict[str, Any]:
    from llmops_cli.resources import templates_dir

    river = (templates_dir() / "observability" / "alloy.river").read_text(encoding="utf-8")
    river = river.replace("LOKI_PUSH_URL", f"{LOKI_URL}/loki/api/v1/push")
    return {
        # One Alloy per node, each tailing only the pods of its own node (alloy.river selects on
        # spec.nodeName = $HOSTNAME, which the chart sets from the pod's node), so every log line is read once.
        "controller": {"type": "daemonset"},
        "alloy": {"configMap": {"create": True, "content": river}, "mounts": {"varlog": False}},
    }


def datasources_text(ctx: RenderContext) -> str:
    from llmops_cli.render.yamlio import dump

    sources: list[dict[str, Any]] = [
        {
            "name": "Prometheus",
            "uid": "prometheus",
            "type": "prometheus",
            "access": "proxy",
            "url": PROMETHEUS_URL,
            "isDefault": True,
        },
    ]
    if ctx.settings.stacks.observability.loki:
        sources.append({"name": "Loki", "uid": "loki", "type": "loki", "access": "proxy", "url": LOKI_URL})
    return dump({"apiVersion": 1, "datasources": sources})


def stack_observability(ctx: RenderContext) -> Files:
    from llmops_cli.render.alerts import rule_groups
    from llmops_cli.render.dashboards import dashboards

    obs = ctx.settings.stacks.observability
    if not obs.enabled:
        return {}
    ns = names.MONITORING_NAMESPACE
    files: Files = {}
    pc = versions_view.PROMETHEUS_COMMUNITY_REPO
    add(
        files,
        "apps",
        app(
            ctx,
            "prometheus-operator-crds",
            ns,
            WAVE_CRDS,
            chart={
                "repo": pc,
                "name": "prometheus-operator-crds",
                "version": versions_view.PROMETHEUS_OPERATOR_CRDS_VERSION,
            },
            server_side=True,
        ),
    )
    add(
        files,
        "apps",
        app(
            ctx,
            "kube-prometheus-stack",
            ns,
            WAVE_OPERATORS,
            chart={
                "repo": pc,
                "name": "kube-prometheus-stack",
                "version": versions_view.KUBE_PROMETHEUS_STACK_VERSION,
            },
            values=kube_prometheus_values(ctx),
            server_side=True,
        ),
    )
    if obs.loki:
        add(
            files,
            "apps",
            app(
                ctx,
                "loki",
                ns,
                WAVE_OPERATORS,
                chart={
                    "repo": versions_view.GRAFANA_COMMUNITY_REPO,
                    "name": "loki",
                    "version": versions_view.LOKI_VERSION,
                },
                values=loki_values(ctx),
            ),
        )
        add(
            files,
            "apps",
            app(
                ctx,
                "alloy",
                ns,
                WAVE_OPERATORS,
                chart={
                    "repo": versions_view.GRAFANA_REPO,
                    "name": "alloy",
                    "version": versions_view.ALLOY_VERSION,
                },
                values=alloy_values(ctx),
            ),
        )
    labels = ctx.app_labels("llmops-observability", "observability")
    if obs.grafana:
        add(
            files,
            "observability",
            render_objects(
                "observability/datasources.yaml.j2",
                namespace=ns,
                labels=labels,
                datasources_text=datasources_text(ctx),
            ),
        )
        for d in dashboards(ctx.settings, gpu=ctx.gpu):
            add(
                files,
                "observability",
                render_objects("observability/dashboard.yaml.j2", namespace=ns, labels=labels, dashboard=d),
            )
    groups = rule_groups(ctx.settings, gpu=ctx.gpu, env=ctx.env)
    for g in groups:
        add(
            files,
            "observability",
            render_objects(
                "observability/prometheusrule.yaml.j2",
                namespace=ns,
                labels=labels,
                rule={"name": g["name"], "groups": [g]},
            ),
        )
    add(files, "apps", app(ctx, "observability", ns, WAVE_APPS, path=tree_path(ctx, "observability")))
    return files
