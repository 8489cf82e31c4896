"""The argocd stack."""

from __future__ import annotations

from typing import Any

from llmops_cli import versions as versions_view
from llmops_cli.adapters import upstream
from llmops_cli.render import names
from llmops_cli.render.engine import render_objects
from llmops_cli.render.stacks.common import (
    COMMON_SKIPS,
    WAVE_CRDS,
    WAVE_OPERATORS,
    Files,
    RenderContext,
    add,
    app,
    res,
    tree_path,
)
from llmops_cli.render.stacks.pgvector import backs_up, uses_operator

# Health of child Applications for the app-of-apps' sync waves: the child's own health.status (Progressing
# until the controller has set one). Argo CD v3.4.4 never sets an Application's health.message
# (pkg/apis/application/v1alpha1/types.go: AppHealthStatus.Message "Deprecated: this field is not used"), so
# the message is built from what it does set: error conditions, a failed sync operation, and the resources
# that are not Healthy (resources[].health, kept there by controller.resource.health.persist below). Argo CD
# runs health Lua with the base, table, package and a safe os library only (util/lua/lua.go): no string
# library, so no string methods here.
APPLICATION_HEALTH_LUA = """hs = {status = "Progressing", message = ""}
local st = obj.status
if st == nil then
  return hs
end
if st.health ~= nil and st.health.status ~= nil and st.health.status ~= "" then
  hs.status = st.health.status
end
local errors = {ComparisonError = true, DeletionError = true, InvalidSpecError = true, SyncError = true,
  UnknownError = true}
local parts = {}
if st.conditions ~= nil then
  for _, c in ipairs(st.conditions) do
    if c.type ~= nil and errors[c.type] and c.message ~= nil and c.message ~= "" then
      table.insert(parts, c.type .. ": " .. c.message)
    end
  end
end
local op = st.operationState
if op ~= nil and (op.phase == "Failed" or op.phase == "Error") and op.message ~= nil and op.message ~= "" then
  table.insert(parts, "sync " .. op.phase .. ": " .. op.message)
end
if hs.status ~= "Healthy" and st.resources ~= nil then
  local shown, more = 0, 0
  for _, r in ipairs(st.resources) do
    if r.health ~= nil and r.health.status ~= nil and r.health.status ~= "Healthy" then
      if shown < 3 then
        shown = shown + 1
        local name = r.name or ""
        if r.namespace ~= nil and r.namespace ~= "" then
          name = r.namespace .. "/" .. name
        end
        local line = (r.kind or "") .. " " .. name .. " " .. r.health.status
        if r.health.message ~= nil and r.health.message ~= "" then
          line = line .. ": " .. r.health.message
        end
        table.insert(parts, line)
      else
        more = more + 1
      end
    end
  end
  if more > 0 then
    table.insert(parts, "and " .. tostring(more) .. " more")
  end
end
hs.message = table.concat(parts, "; ")
return hs
"""


def argocd_values(ctx: RenderContext) -> dict[str, Any]:
    replicas = ctx.profile.argocd_replicas
    return {
        # The pinned Argo CD patch release, not the chart's appVersion (versions.ARGOCD_APP_VERSION).
        "global": {"logging": {"format": "json"}, "image": {"tag": versions_view.ARGOCD_APP_VERSION}},
        "configs": {
            "params": {
                "server.insecure": True,
                # Argo CD >= 3.0 keeps each resource's health out of the Application unless this is set; `up`
                # and `verify` name the unhealthy resource from there (llmops_cli.adapters.upstream).
                upstream.ARGOCD_PERSIST_RESOURCE_HEALTH: True,
            },
            "cm": {
                "application.resourceTrackingMethod": "annotation",
                "admin.enabled": True,
                # Argo CD >= 1.8 no longer assesses child Applications' health, so sync waves in an
                # app-of-apps would not wait for CRDs/operators to be ready. This restores it (Argo CD docs,
                # "Sync Phases and Waves" / app-of-apps health).
                "resource.customizations.health.argoproj.io_Application": APPLICATION_HEALTH_LUA,
            },
        },
        "dex": {"enabled": False},
        "notifications": {"enabled": False},
        "controller": {"replicas": 1},
        "server": {"replicas": replicas},
        "repoServer": {"replicas": replicas},
        "applicationSet": {"replicas": 1},
    }


def _argocd_chart() -> dict[str, str]:
    return {
        "repo": versions_view.ARGOCD_CHART_REPO,
        "name": "argo-cd",
        "version": versions_view.ARGOCD_CHART_VERSION,
    }


def _namespaces(ctx: RenderContext) -> list[dict[str, Any]]:
    psa = {
        names.ARGOCD_NAMESPACE: "baseline",
        names.SYSTEM_NAMESPACE: "restricted",
        names.APPS_NAMESPACE: "restricted",
        names.MONITORING_NAMESPACE: "privileged",  # node-exporter needs host namespaces
        names.GPU_NAMESPACE: "privileged",  # the device plugin talks to the kubelet socket
        # The argo-rollouts chart's pods run non-root, read-only, all capabilities dropped, RuntimeDefault
        # seccomp (charts/argo-rollouts/values.yaml podSecurityContext, containerSecurityContext).
        names.ROLLOUTS_NAMESPACE: "restricted",
        names.CNPG_NAMESPACE: "restricted",
        # cert-manager's pods run non-root, RuntimeDefault seccomp, all capabilities dropped (cert-manager v1.21.1
        # deploy/charts/cert-manager/values.yaml securityContext, containerSecurityContext).
        names.CERT_MANAGER_NAMESPACE: "restricted",
    }
    wanted = [names.ARGOCD_NAMESPACE, names.APPS_NAMESPACE]
    if uses_operator(ctx):
        wanted.append(names.CNPG_NAMESPACE)
    if backs_up(ctx):
        wanted.append(names.CERT_MANAGER_NAMESPACE)
    if ctx.settings.gitops.local:
        wanted.append(names.SYSTEM_NAMESPACE)
    if ctx.settings.stacks.observability.enabled:
        wanted.append(names.MONITORING_NAMESPACE)
    if ctx.gpu:
        wanted.append(names.GPU_NAMESPACE)
    if ctx.settings.stacks.rollouts.enabled:
        wanted.append(names.ROLLOUTS_NAMESPACE)
    nss = [{"name": ns, "labels": {**ctx.labels, "pod-security.kubernetes.io/enforce": psa[ns]}} for ns in wanted]
    return render_objects("argocd/namespaces.yaml.j2", namespaces=nss)


def _destinations(ctx: RenderContext) -> list[str]:
    dest = [
        names.ARGOCD_NAMESPACE,
        names.APPS_NAMESPACE,
        names.SYSTEM_NAMESPACE,
        names.MONITORING_NAMESPACE,
        names.GPU_NAMESPACE,
        names.ROLLOUTS_NAMESPACE,
        "kube-system",
    ]
    if uses_operator(ctx):
        dest.append(names.CNPG_NAMESPACE)
    if backs_up(ctx):
        dest.append(names.CERT_MANAGER_NAMESPACE)
    return sorted(dest)


CLUSTER_RESOURCES: list[tuple[str, str]] = [
    ("", "Namespace"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
    ("scheduling.k8s.io", "PriorityClass"),
    ("node.k8s.io", "RuntimeClass"),
]


def _chart_repos(ctx: RenderContext) -> list[str]:
    repos = {versions_view.ARGOCD_CHART_REPO}
    if ctx.gpu:
        repos.add(versions_view.NVIDIA_DEVICE_PLUGIN_CHART_REPO)
        if ctx.settings.gpu.dcgm_exporter:
            repos.add(versions_view.DCGM_EXPORTER_CHART_REPO)
    if uses_operator(ctx):
        repos.add(versions_view.CNPG_CHART_REPO)
    if backs_up(ctx):
        repos.add(versions_view.CERT_MANAGER_CHART_REPO)
    if ctx.settings.stacks.observability.enabled:
        repos.add(versions_view.PROMETHEUS_COMMUNITY_REPO)
        if ctx.settings.stacks.observability.loki:
            repos.add(versions_view.GRAFANA_REPO)  # alloy
            repos.add(versions_view.GRAFANA_COMMUNITY_REPO)  # loki
    return sorted(repos)


GIT_KEYS_DIR = "/keys"  # the git server's SSH keys, mounted read-only from names.GIT_SSH_SECRET


def git_server_objects(ctx: RenderContext) -> list[dict[str, Any]]:
    labels = ctx.app_labels(names.GIT_SERVER_NAME, "gitops")
    git = {
        "name": names.GIT_SERVER_NAME,
        "namespace": names.SYSTEM_NAMESPACE,
        "argocd_namespace": names.ARGOCD_NAMESPACE,
        "labels": labels,
        "selector": {"app.kubernetes.io/name": names.GIT_SERVER_NAME},
        "uid": 10001,
        "image": versions_view.SOFT_SERVE_IMAGE,
        "http_port": names.GIT_SERVER_HTTP_PORT,
        "port": names.GIT_SERVER_PORT,
        "public_url": f"http://{names.GIT_SERVER_NAME}.{names.SYSTEM_NAMESPACE}.svc:{names.GIT_SERVER_PORT}",
        "ssh_port": names.GIT_SERVER_SSH_PORT,
        "ssh_public_url": (f"ssh://{names.GIT_SERVER_NAME}.{names.SYSTEM_NAMESPACE}.svc:{names.GIT_SERVER_SSH_PORT}"),
        "ssh_secret": names.GIT_SSH_SECRET,
        "keys_dir": GIT_KEYS_DIR,
        "host_key": names.GIT_SSH_HOST_KEY,
        "host_pub": names.GIT_SSH_HOST_PUB,
        "admin_pub": names.GIT_SSH_ADMIN_PUB,
        "host_key_path": f"{GIT_KEYS_DIR}/{names.GIT_SSH_HOST_KEY}",
        "admin_pub_path": f"{GIT_KEYS_DIR}/{names.GIT_SSH_ADMIN_PUB}",
        "resources": res(ctx.profile.git),
        "checkov_skips": dict(COMMON_SKIPS),
    }
    return render_objects("argocd/git-server.yaml.j2", git=git)


def bootstrap_list(ctx: RenderContext) -> list[dict[str, Any]]:
    """What `up` applies, in order: namespaces, Argo CD (HelmChart), Git server, AppProject, root app."""
    from llmops_cli.render.yamlio import dump

    objs = _namespaces(ctx)
    objs += render_objects(
        "argocd/helmchart.yaml.j2",
        release=names.ARGOCD_RELEASE,
        namespace=names.ARGOCD_NAMESPACE,
        chart=_argocd_chart(),
        values_text=dump(argocd_values(ctx)),
        labels=ctx.labels,
    )
    if ctx.settings.gitops.local:
        objs += git_server_objects(ctx)
    objs += render_objects(
        "argocd/appproject.yaml.j2",
        project=names.PROJECT,
        namespace=names.ARGOCD_NAMESPACE,
        labels=ctx.labels,
        source_repos=sorted({ctx.repo_url, *_chart_repos(ctx)}),
        destinations=_destinations(ctx),
        cluster_resources=CLUSTER_RESOURCES,
    )
    root = app(ctx, names.root_app_name(ctx.env), names.ARGOCD_NAMESPACE, WAVE_CRDS, path=tree_path(ctx, "apps"))
    objs += root
    return objs


def stack_argocd(ctx: RenderContext) -> Files:
    files: Files = {}
    add(files, "bootstrap", bootstrap_list(ctx))
    add(
        files,
        "apps",
        app(
            ctx,
            names.ARGOCD_RELEASE,
            names.ARGOCD_NAMESPACE,
            WAVE_OPERATORS,
            chart=_argocd_chart(),
            values=argocd_values(ctx),
            server_side=True,
            # Never cascade: deleting this Application must not uninstall Argo CD itself.
            cascade=False,
        ),
    )
    return files
