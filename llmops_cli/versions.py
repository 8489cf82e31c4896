"""Every pinned upstream version, in one place, each with the repository and tag it was read from.

`llmops version --all` prints them; `llmops version --all --check` compares each with the newest stable tag
of its repository. Bump a pin here, update its fact table in tests/render/upstream/ (the suite fails until the
facts for the new release are read and recorded), run `llmops render --all` and commit the changed
`manifests/`: the drift test and `llmops render --check` keep the tree equal to these pins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmops_cli import __version__


@dataclass(frozen=True)
class Pin:
    """One pinned upstream release.

    ``value`` is what the tree or the installer uses (a version, a chart version or an image reference);
    ``repo`` and ``tag`` name the upstream release it comes from (a GitHub ``owner/name`` and the Git tag
    there). ``tags`` is a regular expression over that repository's tags whose group ``v`` is a comparable
    version, so `version --check` can tell whether a newer stable release exists (None: not trackable
    from Git tags, e.g. an image whose tags only exist on a registry).
    """

    name: str
    value: str
    repo: str
    tag: str
    tags: str | None
    held: str = ""  # why ``tags`` only admits one release line (a newer line needs other pins to move first)


# Stable release tags only: no -rc/-alpha/-beta/-pre suffixes.
_SEMVER = r"(?P<v>\d+\.\d+\.\d+)"


def _tag(prefix: str = "v", suffix: str = "") -> str:
    return rf"^{prefix}{_SEMVER}{suffix}$"


# --- k3s: the newest patch of the newest Kubernetes minor that the pinned Argo CD supports
# (argoproj/argo-cd v3.4.4 docs/operator-manual/tested-kubernetes-versions.md: 3.4 -> v1.32-v1.35).
K3S_VERSION = "v1.35.9+k3s1"
# Kubernetes minor of the pinned k3s; rendered objects are validated against it.
KUBERNETES_MINOR = "1.35"

# --- Argo CD (https://argoproj.github.io/argo-helm). The chart ships appVersion ARGOCD_CHART_APP_VERSION; the
# render runs ARGOCD_APP_VERSION, a later patch of the same minor, through the chart's `global.image.tag`
# ("Overrides the global Argo CD image tag whose default is the chart appVersion", argo-helm argo-cd-10.1.1
# charts/argo-cd/values.yaml). That is what argo-helm's own patch bumps do: its commits moving argo-cd to v3.4.2,
# v3.4.3 and v3.4.4 (8b96b7d9, f3aa47cc, 27fb6a4e) change charts/argo-cd/Chart.yaml only, and argoproj/argo-cd
# v3.4.4..v3.4.7 leaves manifests/crds unchanged. v3.4.5-v3.4.7 (2026-08-12) carry security fixes (Secret data
# in server-side diffs and last-applied annotations, CLI secret-mask spoofing, golang.org/x/crypto); the stored
# argo-helm history ends at argo-cd-10.1.1 (2026-07-02), so the chart that ships v3.4.7 cannot be named here.
ARGOCD_CHART_REPO = "https://argoproj.github.io/argo-helm"
ARGOCD_CHART_VERSION = "10.1.1"
ARGOCD_CHART_APP_VERSION = "v3.4.4"
ARGOCD_APP_VERSION = "v3.4.7"

# --- Argo Rollouts (argoproj/argo-helm, the same Helm repository as Argo CD). The chart ships appVersion
# ARGO_ROLLOUTS_CHART_APP_VERSION (argo-rollouts-2.41.0 charts/argo-rollouts/Chart.yaml); the render runs
# ARGO_ROLLOUTS_APP_VERSION, a later patch of the same minor, through the chart's `controller.image.tag` ("Overrides
# the image tag (default is the chart appVersion)", charts/argo-rollouts/values.yaml), as for Argo CD above.
# argoproj/argo-rollouts v1.9.0..v1.9.1 (2026-07-06; CVE-2026-35469 via moby/spdystream, grpc, golang.org/x, fixes)
# leaves manifests/crds and the RBAC (manifests/role, argo-rollouts-aggregate-roles.yaml) unchanged; its only
# manifest change drops the controller's readinessProbe on /metrics (#4704), which chart 2.41.0 still sets and
# the v1.9.1 controller still serves (controller/metrics unchanged). The argo-helm chart that ships v1.9.1 is past
# the stored history (argo-rollouts-2.41.0, 2026-06-05).
ARGO_ROLLOUTS_CHART_VERSION = "2.41.0"
ARGO_ROLLOUTS_CHART_APP_VERSION = "v1.9.0"
ARGO_ROLLOUTS_APP_VERSION = "v1.9.1"

# --- GPU (https://nvidia.github.io/k8s-device-plugin, https://nvidia.github.io/dcgm-exporter/helm-charts)
NVIDIA_DEVICE_PLUGIN_CHART_REPO = "https://nvidia.github.io/k8s-device-plugin"
NVIDIA_DEVICE_PLUGIN_VERSION = "0.20.0"
DCGM_EXPORTER_CHART_REPO = "https://nvidia.github.io/dcgm-exporter/helm-charts"
# dcgm-exporter's releases are tagged <DCGM>-<exporter>; the chart's version is the exporter half. 4.6.0-4.8.3
# (NVIDIA/dcgm-exporter release PR #711, 2026-07-14: deployment/Chart.yaml 4.8.3, values.yaml image.tag
# 4.6.0-4.8.3-distroless) labels GPU series with `hostname`, no longer `Hostname` (render_metrics.go).
DCGM_EXPORTER_VERSION = "4.8.3"
DCGM_VERSION = "4.6.0"
DCGM_EXPORTER_TAG = f"{DCGM_VERSION}-{DCGM_EXPORTER_VERSION}"
# The host package `--install-toolkit` installs (nvidia-container-toolkit).
NVIDIA_CONTAINER_TOOLKIT_VERSION = "1.20.0"
# CUDA 13.0: the CUDA line the pinned vLLM is built for (vllm 0.34.0 vllm/envs.py VLLM_MAIN_CUDA_VERSION), so
# the smoke pod asks the driver for no more than vLLM will (a CUDA 13 image needs an R580+ driver).
CUDA_SMOKE_IMAGE = "nvcr.io/nvidia/cuda:13.0.2-base-ubuntu24.04"

# --- Observability (prometheus-community and Grafana community Helm repositories)
PROMETHEUS_COMMUNITY_REPO = "https://prometheus-community.github.io/helm-charts"
GRAFANA_REPO = "https://grafana.github.io/helm-charts"
# The open-source Loki chart moved here on 2026-03-16 (grafana/loki production/helm/loki/CHANGELOG.md 7.0.0:
# the grafana/loki chart is for Grafana Enterprise Logs only from 7.0.0 on).
GRAFANA_COMMUNITY_REPO = "https://grafana-community.github.io/helm-charts"
PROMETHEUS_OPERATOR_CRDS_VERSION = "31.0.1"
KUBE_PROMETHEUS_STACK_VERSION = "88.5.3"
LOKI_VERSION = "18.11.0"
ALLOY_VERSION = "1.11.1"
# The Alertmanager kube-prometheus-stack deploys (kube-prometheus-stack-88.5.3 charts/kube-prometheus-stack/
# values.yaml alertmanager.alertmanagerSpec.image.tag): the receivers in the rendered config must exist there.
ALERTMANAGER_VERSION = "v0.34.0"

# --- Workloads we render ourselves
VLLM_VERSION = "v0.34.0"
VLLM_IMAGE = f"docker.io/vllm/vllm-openai:{VLLM_VERSION}"
# vLLM's CPU images are per architecture (vllm docs/getting_started/installation/cpu.x86.inc.md).
VLLM_CPU_IMAGE = f"docker.io/vllm/vllm-openai-cpu:{VLLM_VERSION}-x86_64"
INFERENCE_SIM_VERSION = "v0.10.2"
INFERENCE_SIM_IMAGE = f"ghcr.io/llm-d/llm-d-inference-sim:{INFERENCE_SIM_VERSION}"
# PostgreSQL 17 stays: a new major cannot open an existing data directory (pg_upgrade is a separate step).
PGVECTOR_IMAGE = "docker.io/pgvector/pgvector:0.8.6-pg17"
POSTGRES_EXPORTER_IMAGE = "quay.io/prometheuscommunity/postgres-exporter:v0.20.1"
# The prod profile runs PostgreSQL through the CloudNativePG operator (replication, failover, backups): the chart
# (https://cloudnative-pg.github.io/charts) and an operand image that carries pgvector. The "standard" images of
# cloudnative-pg/postgres-containers add pgvector to the minimal ones (README.md "Standard Images";
# docker-bake.hcl `extensions`); MM.mm-TYPE-OS is the tag the README recommends. PostgreSQL 17, as above.
CNPG_CHART_REPO = "https://cloudnative-pg.github.io/charts"
CNPG_CHART_VERSION = "0.29.0"
CNPG_APP_VERSION = "1.30.0"
CNPG_POSTGRES_IMAGE = "ghcr.io/cloudnative-pg/postgresql:17.11-standard-bookworm"
# Backups to an object store (stacks.pgvector.backup): CNPG 1.26+ moves barman-cloud out of the operator into the
# Barman Cloud CNPG-I plugin (cloudnative-pg v1.30.0 docs/src/backup.md), installed from the same chart repository
# (cloudnative-pg/charts plugin-barman-cloud-v0.7.0: appVersion v0.13.0). The render runs plugin v0.14.0 (2026-07-29;
# no chart ships it yet) through the chart's `image.tag` and `sidecarImage.tag`: plugin-barman-cloud v0.13.0..v0.14.0
# leaves config/ (CRD, RBAC) and api/ unchanged and adds no flag or environment variable; it is built against
# CloudNativePG 1.30.0 (go.mod). The plugin's mTLS certificates come from cert-manager (plugin-barman-cloud v0.13.0
# web/docs/installation.mdx), whose charts are published to https://charts.jetstack.io for every release
# (cert-manager v1.21.1 design/20240625.push-charts-to-oci.md).
BARMAN_CLOUD_CHART_VERSION = "0.7.0"
BARMAN_CLOUD_CHART_APP_VERSION = "v0.13.0"
BARMAN_CLOUD_VERSION = "v0.14.0"
CERT_MANAGER_CHART_REPO = "https://charts.jetstack.io"
CERT_MANAGER_VERSION = "v1.21.1"
SOFT_SERVE_IMAGE = "docker.io/charmbracelet/soft-serve:v0.12.2"
# The local push Job: git, tar and an OpenSSH client (alpine-docker/git Dockerfile: FROM alpine, apk add git ...
# openssh; busybox gives sh, tar and find). Its images are tagged v<git version> on Docker Hub only
# (.github/workflows/build.yml: `git version` of the built image) and rebuilt weekly under the same tag; the
# repository's own tags (1.0.x, last in 2022) name none of them, so `--check` cannot track this pin.
GIT_CLIENT_VERSION = "v2.54.0"
GIT_CLIENT_IMAGE = f"docker.io/alpine/git:{GIT_CLIENT_VERSION}"
GATEWAY_IMAGE = f"ghcr.io/llmops/policy-gateway:{__version__}"
# The gateway's shared rate-limit store (stacks.gateway.shared_rate_limits): Valkey, the BSD-licensed Redis fork
# of the Linux Foundation; the gateway speaks plain RESP2 to it. 9.1 is the newest stable line (9.2 is at rc);
# image tags per release: valkey-io/valkey-io.github.io content/download/releases/v9-1-2.md.
VALKEY_VERSION = "9.1.2"
VALKEY_IMAGE = f"docker.io/valkey/valkey:{VALKEY_VERSION}-alpine"
# The gateway's optional prompt-injection classifier (stacks.gateway.injection_classifier): Hugging Face Text
# Embeddings Inference, CPU image. Tags are `cpu-<version>` (huggingface/text-embeddings-inference v1.9.3
# .github/workflows/build.yaml: type=semver with the matrix's imageNamePrefix, `cpu-` in workflows/matrix.json).
TEI_VERSION = "1.9.3"
TEI_CPU_IMAGE = f"ghcr.io/huggingface/text-embeddings-inference:cpu-{TEI_VERSION}"
# The same image with the `litellm` extra (docker/gateway/Dockerfile, --build-arg EXTRAS=litellm), for
# `stacks.gateway.provider: litellm`: the plain image has no LiteLLM, and its pod would exit at start.
GATEWAY_LITELLM_IMAGE = f"{GATEWAY_IMAGE}-litellm"

RELEASES: tuple[Pin, ...] = (
    Pin("k3s", K3S_VERSION, "k3s-io/k3s", K3S_VERSION, rf"^v(?P<v>{re.escape(KUBERNETES_MINOR)}\.\d+)\+k3s(?P<r>\d+)$",
        held=f"Kubernetes {KUBERNETES_MINOR}: the newest minor the pinned Argo CD supports"),
    Pin("kubernetes", KUBERNETES_MINOR, "k3s-io/k3s", K3S_VERSION, None),
    Pin("argo-cd chart", ARGOCD_CHART_VERSION, "argoproj/argo-helm", f"argo-cd-{ARGOCD_CHART_VERSION}",
        _tag("argo-cd-")),
    Pin("argo-cd", ARGOCD_APP_VERSION, "argoproj/argo-cd", ARGOCD_APP_VERSION, _tag()),
    Pin("argo-rollouts chart", ARGO_ROLLOUTS_CHART_VERSION, "argoproj/argo-helm",
        f"argo-rollouts-{ARGO_ROLLOUTS_CHART_VERSION}", _tag("argo-rollouts-")),
    Pin("argo-rollouts", ARGO_ROLLOUTS_APP_VERSION, "argoproj/argo-rollouts", ARGO_ROLLOUTS_APP_VERSION, _tag()),
    Pin("nvidia-device-plugin chart", NVIDIA_DEVICE_PLUGIN_VERSION, "NVIDIA/k8s-device-plugin",
        f"v{NVIDIA_DEVICE_PLUGIN_VERSION}", _tag()),
    Pin("dcgm-exporter chart", DCGM_EXPORTER_VERSION, "NVIDIA/dcgm-exporter", DCGM_EXPORTER_TAG,
        rf"^(?P<r>\d+\.\d+\.\d+)-{_SEMVER}$"),
    Pin("nvidia-container-toolkit", NVIDIA_CONTAINER_TOOLKIT_VERSION, "NVIDIA/nvidia-container-toolkit",
        f"v{NVIDIA_CONTAINER_TOOLKIT_VERSION}", _tag()),
    Pin("cuda smoke image", CUDA_SMOKE_IMAGE, "NVIDIA/cuda (nvcr.io)", "13.0.2-base-ubuntu24.04", None),
    Pin("prometheus-operator-crds chart", PROMETHEUS_OPERATOR_CRDS_VERSION, "prometheus-community/helm-charts",
        f"prometheus-operator-crds-{PROMETHEUS_OPERATOR_CRDS_VERSION}", _tag("prometheus-operator-crds-")),
    Pin("kube-prometheus-stack chart", KUBE_PROMETHEUS_STACK_VERSION, "prometheus-community/helm-charts",
        f"kube-prometheus-stack-{KUBE_PROMETHEUS_STACK_VERSION}", _tag("kube-prometheus-stack-")),
    Pin("alertmanager", ALERTMANAGER_VERSION, "prometheus/alertmanager", ALERTMANAGER_VERSION, _tag()),
    Pin("loki chart", LOKI_VERSION, "grafana-community/helm-charts", f"loki-{LOKI_VERSION}", _tag("loki-")),
    Pin("alloy chart", ALLOY_VERSION, "grafana/alloy", f"helm-chart/{ALLOY_VERSION}", _tag("helm-chart/")),
    Pin("vllm", VLLM_VERSION, "vllm-project/vllm", VLLM_VERSION, _tag()),
    Pin("vllm image", VLLM_IMAGE, "vllm-project/vllm", VLLM_VERSION, None),
    Pin("vllm cpu image", VLLM_CPU_IMAGE, "vllm-project/vllm", VLLM_VERSION, None),
    Pin("inference simulator image", INFERENCE_SIM_IMAGE, "llm-d/llm-d-inference-sim", INFERENCE_SIM_VERSION,
        _tag()),
    Pin("pgvector image", PGVECTOR_IMAGE, "pgvector/pgvector", "v0.8.6", _tag(),
        held="PostgreSQL 17: a new major cannot open the existing data directory"),
    Pin("cloudnative-pg chart", CNPG_CHART_VERSION, "cloudnative-pg/charts", f"cloudnative-pg-v{CNPG_CHART_VERSION}",
        _tag("cloudnative-pg-v")),
    Pin("cloudnative-pg", CNPG_APP_VERSION, "cloudnative-pg/cloudnative-pg", f"v{CNPG_APP_VERSION}", _tag()),
    Pin("cloudnative-pg postgres image", CNPG_POSTGRES_IMAGE, "cloudnative-pg/postgres-containers",
        "a949ae58 (main, 2026-08-20; images are tagged on ghcr.io only)", None,
        held="PostgreSQL 17: a new major cannot open the existing data directory"),
    Pin("barman-cloud plugin chart", BARMAN_CLOUD_CHART_VERSION, "cloudnative-pg/charts",
        f"plugin-barman-cloud-v{BARMAN_CLOUD_CHART_VERSION}", _tag("plugin-barman-cloud-v")),
    Pin("barman-cloud plugin", BARMAN_CLOUD_VERSION, "cloudnative-pg/plugin-barman-cloud", BARMAN_CLOUD_VERSION,
        _tag()),
    Pin("cert-manager chart", CERT_MANAGER_VERSION, "cert-manager/cert-manager", CERT_MANAGER_VERSION, _tag()),
    Pin("postgres exporter image", POSTGRES_EXPORTER_IMAGE, "prometheus-community/postgres_exporter", "v0.20.1",
        _tag()),
    Pin("git server image", SOFT_SERVE_IMAGE, "charmbracelet/soft-serve", "v0.12.2", _tag()),
    Pin("git client image", GIT_CLIENT_IMAGE, "alpine-docker/git", f"{GIT_CLIENT_VERSION} (Docker Hub tag)", None),
    Pin("policy gateway image", GATEWAY_IMAGE, "llmops/llmops", f"v{__version__}", None),
    Pin("policy gateway image (litellm)", GATEWAY_LITELLM_IMAGE, "llmops/llmops", f"v{__version__}", None),
    Pin("rate-limit store image", VALKEY_IMAGE, "valkey-io/valkey", VALKEY_VERSION, rf"^{_SEMVER}$"),
    Pin("injection classifier image", TEI_CPU_IMAGE, "huggingface/text-embeddings-inference", f"v{TEI_VERSION}",
        _tag()),
)  # fmt: skip

PINS: dict[str, str] = {p.name: p.value for p in RELEASES}
