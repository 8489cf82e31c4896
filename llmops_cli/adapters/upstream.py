"""Facts about the upstream programs `up` drives on a host, each with where it was read.

Only names and values (never copied code): what a test or a step needs to agree with the real program. A fact
that changes with a pin says which pin; `tests/e2e` checks the ones only a real host can (the installer's hash).
"""

from __future__ import annotations

from typing import Final

from llmops_cli import versions

# The pin each group of facts below was last read at, by its name in llmops_cli.versions.PINS (for k3s and its
# helm-controller: see the tables in tests/render/upstream/). tests/adapters/test_upstream.py fails when a pin
# moves on and this table does not: read the facts again at the new release, fix what changed, then update it.
READ_AT: Final = {
    "argo-cd chart": "10.1.1",
    "argo-cd": "v3.4.7",
    "nvidia-device-plugin chart": "0.20.0",
    "nvidia-container-toolkit": "1.20.0",
    "vllm": "v0.34.0",
    "cuda smoke image": "nvcr.io/nvidia/cuda:13.0.2-base-ubuntu24.04",
}

# ---------------------------------------------------------------- k3s installer
# install.sh is version-independent (it installs whatever INSTALL_K3S_VERSION names), so it is pinned on its
# own: by commit, and by the sha256 of the file at that commit, checked before it runs. Commit 5aed4d7b is the
# k3s-io/k3s commit of tag v1.36.3+k3s1 (the gitCommit that release's binary reports). The hash is the one
# independent pins of install.sh record for this commit and for tags v1.36.2+k3s1, v1.36.4+k3s1 and
# v1.36.5+k3s1 (the file did not change between them; 37,118 bytes); re-checked on 2026-12-07 against those
# pins only: the file itself at this commit could not be read from here (the search index holds only a 2020
# install.sh, and the k3s-io/k3s snapshot is over the fetch limit). `tests/e2e/test_laptop.py::
# test_pinned_installer_matches_its_hash` downloads it and recomputes the hash on a machine with internet access.
K3S_INSTALLER_COMMIT: Final = "5aed4d7beddeb3e67120da477c876ac9efd70318"
K3S_INSTALLER_URL: Final = f"https://raw.githubusercontent.com/k3s-io/k3s/{K3S_INSTALLER_COMMIT}/install.sh"
K3S_INSTALLER_SHA256: Final = "46177d4c99440b4c0311b67233823a8e8a2fc09693f6c89af1a7161e152fbfad"

# What install.sh copies into the service's environment file (k3s-io/k3s install.sh, create_env_file):
# variables starting K3S_ or CONTAINERD_ (case-sensitive), and NO_PROXY/HTTP_PROXY/HTTPS_PROXY in any case
# (grep -Ei). k3s passes CONTAINERD_* to its containerd with the prefix stripped (pkg/agent/containerd,
# "Strip variables with CONTAINERD_ prefix"): a proxy for image pulls only (k3s-io/docs docs/advanced.md,
# "Configuring an HTTP proxy"). sudo's env_reset drops all of them, so `up` passes them on explicitly.
K3S_PROXY_VARIABLES: Final = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
K3S_ENV_PREFIXES: Final = ("CONTAINERD_",)

# install.sh's order (main block): download_and_verify (binary), create_symlinks, create_killall,
# create_uninstall, systemd_disable (removes an existing unit), create_env_file, create_service_file,
# service_enable_and_start. A run killed before the end leaves the binary without the unit: "installed" is the
# unit and the uninstall script, not the binary alone. A re-run that changes no file (binary, unit, env file
# hashes) does not restart k3s; INSTALL_K3S_FORCE_RESTART=true makes it.

# ---------------------------------------------------------------- k3s config
# /etc/rancher/k3s/config.yaml.d/*.yaml are read in order after config.yaml; a key ending in `+` appends to the
# value so far instead of replacing it (k3s-io/docs docs/installation/configuration.md "Multiple Config
# Files"; k3s-io/k3s pkg/configfilearg/parser.go: isAppend := strings.HasSuffix(k, "+")).
K3S_APPEND_SUFFIX: Final = "+"

# ---------------------------------------------------------------- k3s helm-controller
# A HelmChart annotated unmanaged is skipped by the controller, on change and on removal (k3s-io/helm-controller
# v0.17.1 and v0.17.7, the line k3s v1.35.9+k3s1 bundles: pkg/controllers/chart/chart.go shouldManage;
# pkg/remove/handler.go: the remove handler only runs for managed charts). Its finalizer is wrangler's
# remove-handler finalizer for "on-helm-chart-remove"; deleting a managed chart runs `helm delete` (action
# "delete" in job()). chartContent (base64 .tgz) overrides the repository.
HELM_UNMANAGED_ANNOTATION: Final = "helmcharts.helm.cattle.io/unmanaged"
HELM_REMOVE_FINALIZER: Final = "wrangler.cattle.io/on-helm-chart-remove"

# ---------------------------------------------------------------- Argo CD chart (argoproj/argo-helm)
# charts/argo-cd at tag argo-cd-10.1.1 (unchanged since argo-cd-8.6.4): nameOverride "argocd" (values.yaml);
# argo-cd.fullname is the release name when it contains that name, else "<release>-argocd"
# (templates/_common.tpl); the server Service is "<fullname>-server" with ports 80 (http) and 443 (https), both
# to the server's 8080 (templates/argocd-server/service.yaml, values.yaml server.service.servicePortHttp/Https);
# the application controller is the StatefulSet "<fullname>-application-controller" (templates/_helpers.tpl
# argo-cd.controller.fullname; a Deployment only with controller.dynamicClusterDistribution, which we leave off).
# With configs.params."server.insecure" the server speaks plain HTTP on both.
ARGOCD_CHART_NAME_OVERRIDE: Final = "argocd"
ARGOCD_SERVER_HTTP_PORT: Final = 80
# Chart labels: app.kubernetes.io/part-of: argocd on every object, CRDs and ClusterRoles included
# (templates/_common.tpl argo-cd.labels, templates/crds/crd-*.yaml); the CRDs carry helm.sh/resource-policy: keep
# (values.yaml crds.keep: true).
ARGOCD_PART_OF_LABEL: Final = "app.kubernetes.io/part-of=argocd"
ARGOCD_CRDS: Final = ("applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io")

# ------------------------------------------------ Argo CD (argoproj/argo-cd v3.4.4, unchanged at v3.4.7)
# An Application's status (pkg/apis/application/v1alpha1/types.go, ApplicationStatus): sync.status
# Synced|OutOfSync|Unknown, sync.revision (sync.revisions for several sources), health.status (gitops-engine
# pkg/health: Healthy|Progressing|Degraded|Suspended|Missing|Unknown), conditions[].type|message,
# operationState.phase|message (Running|Terminating|Failed|Error|Succeeded), resources[].kind|namespace|name|
# status|health. AppHealthStatus.message is deprecated and never set: the reason is in conditions,
# operationState and each resource's health.message. Since 3.0 the controller keeps each resource's health out
# of the Application unless this argocd-cmd-params-cm key is "true" (docs/operator-manual/argocd-cmd-params-cm.yaml,
# default "false"; upgrading/2.14-3.0.md "Health status in the Application CR"); without it the Application
# says status.resourceHealthSource: appTree and resources[] carry no health. The rendered chart values set it.
ARGOCD_PERSIST_RESOURCE_HEALTH: Final = "controller.resource.health.persist"
ARGOCD_HEALTH_IN_APP_TREE: Final = "appTree"


def argocd_fullname(release: str) -> str:
    return release if ARGOCD_CHART_NAME_OVERRIDE in release else f"{release}-{ARGOCD_CHART_NAME_OVERRIDE}"


def argocd_server_service(release: str) -> str:
    return f"{argocd_fullname(release)}-server"


# ---------------------------------------------------------------- NVIDIA container toolkit
# NVIDIA/cloud-native-docs container-toolkit/install-guide.md for toolkit 1.20.0 (commit 52dcb7b8, where
# repo.toml names container-toolkit version 1.20.0; the guide as of 4419c6bd "CNT 1.20 updates"): the four
# packages pinned to one version (apt: pkg=VERSION, dnf/zypper: pkg-VERSION), the repository and its key.
# The version is the pin in llmops_cli.versions, as NVIDIA's repository names its packages (`<version>-1`).
NVIDIA_TOOLKIT_VERSION: Final = f"{versions.NVIDIA_CONTAINER_TOOLKIT_VERSION}-1"
NVIDIA_TOOLKIT_PACKAGES: Final = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)
NVIDIA_REPO: Final = "https://nvidia.github.io/libnvidia-container"
NVIDIA_KEYRING: Final = "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg"
NVIDIA_APT_LIST: Final = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"
NVIDIA_YUM_REPO: Final = "/etc/yum.repos.d/nvidia-container-toolkit.repo"
# The primary key of ${NVIDIA_REPO}/gpgkey. The install guide does not print it; apt names the key
# DDCAE044F796ECB0 (its last 16 hex digits) in NO_PUBKEY errors, and configuration-management modules that pin
# this repository record this full fingerprint. `up` refuses a downloaded key with any other primary key.
NVIDIA_KEY_FINGERPRINT: Final = "C95B321B61E88C1809C4F759DDCAE044F796ECB0"

# ---------------------------------------------------------------- NVIDIA k8s-device-plugin (v0.20.0)
# The resource is nvidia.com/gpu; with time-slicing `replicas: N` each GPU is advertised N times (README,
# "Shared Access to GPUs"). The chart's default affinity accepts nodes labelled nvidia.com/gpu.present=true
# (deployments/helm/nvidia-device-plugin/values.yaml, beside the NFD PCI-vendor and Tegra terms). WSL2 is found
# through libdxcore (vendored go-nvlib pkg/nvlib/info HasDXCore); since v0.20.0 the plugin advertises all of a
# WSL2 host's GPUs as one device "all" on /dev/dxg (internal/rm/wsl_devices.go, device_map.go), where v0.17.4 had
# one per GPU: on WSL2, allocatable is 1 x the time-slicing replicas whatever the GPU count.
GPU_RESOURCE: Final = "nvidia.com/gpu"
GPU_PRESENT_LABEL: Final = "nvidia.com/gpu.present"

# ---------------------------------------------------------------- CUDA and the NVIDIA driver
# The CUDA line each vLLM release is built for, by the pinned version: vllm-project/vllm v0.34.0 (PyPI wheel
# vllm-0.34.0, commit g62d4bc3c7) vllm/envs.py VLLM_MAIN_CUDA_VERSION "13.0" (its kernels come as [cu13] wheels).
# versions.CUDA_SMOKE_IMAGE is on the same line, so the smoke pod asks the driver for no more than vLLM does.
VLLM_CUDA: Final = {"v0.34.0": "13.0"}
# The oldest driver branch a CUDA major runs on (minor version compatibility): NVIDIA CUDA Compatibility guide,
# "Minor Version Compatibility", Table 1 (docs.nvidia.com/deploy/cuda-compatibility/
# minor-version-compatibility.html): CUDA 13.x >= 580, 12.x >= 525, 11.x >= 450. Data center branches alike
# (docs.nvidia.com/datacenter/tesla/drivers, "CUDA and Drivers": R580 supports CUDA 13.x). Under WSL2 nvidia-smi
# reports the Windows driver, numbered on the same branches.
CUDA_MIN_DRIVER: Final = {"13": 580, "12": 525, "11": 450}


def vllm_cuda() -> str:
    """The CUDA line (``13.0``) the pinned vLLM is built for."""
    return VLLM_CUDA[versions.VLLM_VERSION]


def min_driver(cuda: str) -> int:
    """The oldest driver branch (``580``) that runs the CUDA line ``cuda`` (``13.0``)."""
    return CUDA_MIN_DRIVER[cuda.split(".")[0]]


# ---------------------------------------------------------------- apt
# apt waits up to this long for the dpkg frontend lock (another apt, unattended-upgrades) instead of failing at
# once (`-o DPkg::Lock::Timeout=<seconds>`, apt >= 1.9.11); `up` also retries while apt says "Could not get lock".
APT_LOCK_TIMEOUT_S: Final = 600

# ---------------------------------------------------------------- UEFI Secure Boot
# efivarfs exposes the SecureBoot variable of the EFI global-variable GUID: 4 attribute bytes, then the value
# (1 = on) (kernel Documentation/filesystems/efivarfs.rst).
SECURE_BOOT_EFIVAR: Final = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
