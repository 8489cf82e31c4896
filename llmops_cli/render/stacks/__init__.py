"""Each stack turns Settings (plus the resolved GPU flag) into files of the GitOps tree.

Layout of ``manifests/<env>/`` (one object per file, ``<kind>-<name>.yaml``):

- ``k3s/``        host files for /etc/rancher/k3s (not Kubernetes objects; `up` writes them on the host)
- ``bootstrap/``  what `up` applies itself: namespaces, the Argo CD HelmChart, the in-cluster Git server
                  (local mode), the AppProject and the root Application
- ``apps/``       the root Application's path (app-of-apps): one Application per stack component
- ``vllm/`` ``gateway/`` ``injection-classifier/`` ``pgvector/`` ``observability/``  our own workloads, synced by
  their Application (with Argo Rollouts on, vLLM and the gateway run as canary Rollouts judged on the risk KPIs:
  ``rollouts``)
- ``gpu/``        the GPU smoke Job `up` runs (not synced)

Sync waves order CRDs → operators → data → apps.
"""

from __future__ import annotations

from collections.abc import Callable

from llmops_cli.render.stacks.argocd import (
    APPLICATION_HEALTH_LUA,
    CLUSTER_RESOURCES,
    argocd_values,
    bootstrap_list,
    git_server_objects,
    stack_argocd,
)
from llmops_cli.render.stacks.common import (
    STACKS,
    Files,
    RenderContext,
    make_ctx,
    resolve_backend,
    resolve_gpu,
    tree_path,
)
from llmops_cli.render.stacks.gateway import PLACEHOLDER_POLICY, gateway_policy_text, stack_gateway
from llmops_cli.render.stacks.gpu import gpu_smoke_job_obj, stack_gpu, time_slicing_config
from llmops_cli.render.stacks.ingress import stack_ingress
from llmops_cli.render.stacks.injection_classifier import stack_injection_classifier
from llmops_cli.render.stacks.k3s import k3s_config_text, k3s_registries_text, stack_k3s
from llmops_cli.render.stacks.observability import (
    LOKI_URL,
    PROMETHEUS_URL,
    alloy_values,
    datasources_text,
    kube_prometheus_values,
    loki_values,
    stack_observability,
)
from llmops_cli.render.stacks.pgvector import init_sql, stack_pgvector
from llmops_cli.render.stacks.rollouts import rollouts_values, stack_rollouts
from llmops_cli.render.stacks.vllm import IMAGES, stack_vllm

STACK_RENDERERS: dict[str, Callable[[RenderContext], Files]] = {
    "k3s": stack_k3s,
    "gpu": stack_gpu,
    "argocd": stack_argocd,
    "rollouts": stack_rollouts,
    "vllm": stack_vllm,
    "gateway": stack_gateway,
    "injection-classifier": stack_injection_classifier,
    "pgvector": stack_pgvector,
    "observability": stack_observability,
    "ingress": stack_ingress,
}

__all__ = [
    "APPLICATION_HEALTH_LUA",
    "CLUSTER_RESOURCES",
    "IMAGES",
    "LOKI_URL",
    "PLACEHOLDER_POLICY",
    "PROMETHEUS_URL",
    "STACKS",
    "STACK_RENDERERS",
    "Files",
    "RenderContext",
    "alloy_values",
    "argocd_values",
    "bootstrap_list",
    "datasources_text",
    "gateway_policy_text",
    "git_server_objects",
    "gpu_smoke_job_obj",
    "init_sql",
    "k3s_config_text",
    "k3s_registries_text",
    "kube_prometheus_values",
    "loki_values",
    "make_ctx",
    "resolve_backend",
    "resolve_gpu",
    "rollouts_values",
    "stack_argocd",
    "stack_gateway",
    "stack_gpu",
    "stack_ingress",
    "stack_injection_classifier",
    "stack_k3s",
    "stack_observability",
    "stack_pgvector",
    "stack_rollouts",
    "stack_vllm",
    "time_slicing_config",
    "tree_path",
]
