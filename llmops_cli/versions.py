"""Every pinned upstream version, in one place (`llmops version --all` prints them).

Bump a pin here, run `llmops render --all` and commit the changed `manifests/`: the drift test and
`llmops render --check` keep the tree equal to these pins.
"""

from __future__ import annotations

from llmops_cli import __version__

K3S_VERSION = "v1.33.5+k3s1"
# Kubernetes minor of the pinned k3s; rendered objects are validated against it.
KUBERNETES_MINOR = "1.33"

# --- Argo CD (https://argoproj.github.io/argo-helm), chart 8.x ships Argo CD 3.1
ARGOCD_CHART_REPO = "https://argoproj.github.io/argo-helm"
ARGOCD_CHART_VERSION = "8.6.4"
ARGOCD_APP_VERSION = "v3.1.9"

# --- GPU (https://nvidia.github.io/k8s-device-plugin, https://nvidia.github.io/dcgm-exporter/helm-charts)
NVIDIA_DEVICE_PLUGIN_CHART_REPO = "https://nvidia.github.io/k8s-device-plugin"
NVIDIA_DEVICE_PLUGIN_VERSION = "0.17.4"
DCGM_EXPORTER_CHART_REPO = "https://nvidia.github.io/dcgm-exporter/helm-charts"
DCGM_EXPORTER_VERSION = "4.6.0"
CUDA_SMOKE_IMAGE = "nvcr.io/nvidia/cuda:12.9.1-base-ubuntu24.04"

# --- Observability (prometheus-community and grafana Helm repositories)
PROMETHEUS_COMMUNITY_REPO = "https://prometheus-community.github.io/helm-charts"
GRAFANA_REPO = "https://grafana.github.io/helm-charts"
PROMETHEUS_OPERATOR_CRDS_VERSION = "23.0.0"
KUBE_PROMETHEUS_STACK_VERSION = "77.14.0"
LOKI_VERSION = "6.42.0"
ALLOY_VERSION = "1.3.1"

# --- Workloads we render ourselves
VLLM_VERSION = "v0.11.0"
VLLM_IMAGE = f"docker.io/vllm/vllm-openai:{VLLM_VERSION}"
VLLM_CPU_IMAGE = f"public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo:{VLLM_VERSION}"
INFERENCE_SIM_VERSION = "v0.6.1"
INFERENCE_SIM_IMAGE = f"ghcr.io/llm-d/llm-d-inference-sim:{INFERENCE_SIM_VERSION}"
PGVECTOR_IMAGE = "docker.io/pgvector/pgvector:0.8.1-pg17"
POSTGRES_EXPORTER_IMAGE = "quay.io/prometheuscommunity/postgres-exporter:v0.18.1"
SOFT_SERVE_IMAGE = "docker.io/charmbracelet/soft-serve:v0.10.0"
# The local push Job: git, tar and an OpenSSH client (the soft-serve image has git but no ssh).
GIT_CLIENT_IMAGE = "docker.io/alpine/git:v2.47.2"
GATEWAY_IMAGE = f"ghcr.io/llmops/policy-gateway:{__version__}"
# The gateway's shared rate-limit store (stacks.gateway.shared_rate_limits): Valkey, the BSD-licensed Redis fork
# of the Linux Foundation; the gateway speaks plain RESP to it.
VALKEY_IMAGE = "docker.io/valkey/valkey:8.1.11-alpine"
# The same image with the `litellm` extra (docker/gateway/Dockerfile, --build-arg EXTRAS=litellm), for
# `stacks.gateway.provider: litellm`: the plain image has no LiteLLM, and its pod would exit at start.
GATEWAY_LITELLM_IMAGE = f"{GATEWAY_IMAGE}-litellm"

PINS: dict[str, str] = {
    "k3s": K3S_VERSION,
    "kubernetes": KUBERNETES_MINOR,
    "argo-cd chart": ARGOCD_CHART_VERSION,
    "argo-cd": ARGOCD_APP_VERSION,
    "nvidia-device-plugin chart": NVIDIA_DEVICE_PLUGIN_VERSION,
    "dcgm-exporter chart": DCGM_EXPORTER_VERSION,
    "cuda smoke image": CUDA_SMOKE_IMAGE,
    "prometheus-operator-crds chart": PROMETHEUS_OPERATOR_CRDS_VERSION,
    "kube-prometheus-stack chart": KUBE_PROMETHEUS_STACK_VERSION,
    "loki chart": LOKI_VERSION,
    "alloy chart": ALLOY_VERSION,
    "vllm": VLLM_VERSION,
    "vllm image": VLLM_IMAGE,
    "vllm cpu image": VLLM_CPU_IMAGE,
    "inference simulator image": INFERENCE_SIM_IMAGE,
    "pgvector image": PGVECTOR_IMAGE,
    "postgres exporter image": POSTGRES_EXPORTER_IMAGE,
    "git server image": SOFT_SERVE_IMAGE,
    "git client image": GIT_CLIENT_IMAGE,
    "policy gateway image": GATEWAY_IMAGE,
    "policy gateway image (litellm)": GATEWAY_LITELLM_IMAGE,
    "rate-limit store image": VALKEY_IMAGE,
}
