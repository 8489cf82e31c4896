"""Facts about the upstream programs `up` drives on a host, each with where it was read.

Only names and values (never copied code): what a test or a step needs to agree with the real program. A fact
that changes with a pin says which pin; `tests/e2e` checks the ones only a real host can (the installer's hash).
"""

from __future__ import annotations

from typing import Final

from llmops_cli import versions

# ---------------------------------------------------------------- k3s installer
# install.sh is version-independent (it installs whatever INSTALL_K3S_VERSION names), so it is pinned on its
# own: by commit, and by the sha256 of the file at that commit, checked before it runs. Commit 5aed4d7b is the
# k3s-io/k3s commit of tag v1.36.3+k3s1; the hash is the one published pins of that file record (the same
# file is served for v1.36.4+k3s1). `tests/e2e/test_laptop.py::test_pinned_installer_matches_its_hash`
# downloads it and recomputes the hash on a machine with internet access.
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
# pkg/controllers/chart/chart.go shouldManage; pkg/remove/handler.go: the remove handler only runs for managed
# charts). Its finalizer is wrangler's remove-handler finalizer for "on-helm-chart-remove"; deleting a managed
# chart runs `helm delete` (action "delete" in job()). chartContent (base64 .tgz) overrides the repository.
HELM_UNMANAGED_ANNOTATION: Final = "helmcharts.helm.cattle.io/unmanaged"
HELM_REMOVE_FINALIZER: Final = "wrangler.cattle.io/on-helm-chart-remove"

# ---------------------------------------------------------------- Argo CD chart (argoproj/argo-helm)
# charts/argo-cd at tag argo-cd-8.6.4: nameOverride "argocd" (values.yaml); argo-cd.fullname is the release
# name when it contains that name, else "<release>-argocd" (templates/_common.tpl); the server Service is
# "<fullname>-server" with ports 80 (http) and 443 (https), both to the server's 8080
# (templates/argocd-server/service.yaml, values.yaml server.service.servicePortHttp/servicePortHttps).
# With configs.params."server.insecure" the server speaks plain HTTP on both.
ARGOCD_CHART_NAME_OVERRIDE: Final = "argocd"
ARGOCD_SERVER_HTTP_PORT: Final = 80
# Chart labels: app.kubernetes.io/part-of: argocd on every object, CRDs included (templates/_common.tpl,
# templates/crds/*.yaml); the CRDs carry helm.sh/resource-policy: keep (crds.keep: true).
ARGOCD_PART_OF_LABEL: Final = "app.kubernetes.io/part-of=argocd"
ARGOCD_CRDS: Final = ("applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io")


def argocd_fullname(release: str) -> str:
    return release if ARGOCD_CHART_NAME_OVERRIDE in release else f"{release}-{ARGOCD_CHART_NAME_OVERRIDE}"


def argocd_server_service(release: str) -> str:
    return f"{argocd_fullname(release)}-server"


# ---------------------------------------------------------------- NVIDIA container toolkit
# NVIDIA/cloud-native-docs container-toolkit/1.18.0/install-guide.html: the four packages pinned to one
# version (apt: pkg=VERSION, dnf/zypper: pkg-VERSION), the repository and its key. The version is the pin in
# llmops_cli.versions, as NVIDIA's repository names its packages (`<version>-1`).
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

# ---------------------------------------------------------------- NVIDIA k8s-device-plugin (v0.17.4)
# The resource is nvidia.com/gpu; with time-slicing `replicas: N` each GPU is advertised N times (README,
# "Shared Access to GPUs"). The chart's default affinity accepts nodes labelled nvidia.com/gpu.present=true
# (deployments/helm/nvidia-device-plugin/values.yaml). WSL2 is supported through /dev/dxg and libdxcore
# (internal/rm/wsl_devices.go).
GPU_RESOURCE: Final = "nvidia.com/gpu"
GPU_PRESENT_LABEL: Final = "nvidia.com/gpu.present"

# ---------------------------------------------------------------- apt
# apt waits up to this long for the dpkg frontend lock (another apt, unattended-upgrades) instead of failing at
# once (`-o DPkg::Lock::Timeout=<seconds>`, apt >= 1.9.11); `up` also retries while apt says "Could not get lock".
APT_LOCK_TIMEOUT_S: Final = 600

# ---------------------------------------------------------------- UEFI Secure Boot
# efivarfs exposes the SecureBoot variable of the EFI global-variable GUID: 4 attribute bytes, then the value
# (1 = on) (kernel Documentation/filesystems/efivarfs.rst).
SECURE_BOOT_EFIVAR: Final = "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
