"""Builders for host facts, rendered inputs and a simulated cluster (controllers as FakeKube hooks)."""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import pytest

from llmops_cli.adapters import hostfacts as hf
from llmops_cli.adapters.hostfacts import GpuInfo, HostFacts, K3sFacts, NvidiaFacts
from llmops_cli.cluster.model import PlanInputs, SecretSpec, SshKeysSpec
from llmops_cli.config.model import Settings
from tests.cluster.fakes import FakeHost, FakeKube, ok

LOCAL_URL = "http://llmops-git.llmops-system.svc:80/llmops.git"
K3S_YAML = """apiVersion: v1
clusters:
- cluster: {certificate-authority-data: Q0E=, server: 'https://127.0.0.1:6443'}
  name: default
contexts:
- context: {cluster: default, user: default}
  name: default
current-context: default
kind: Config
users:
- name: default
  user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ}
"""


def make_facts(
    *,
    gpu: bool = False,
    toolkit: bool = False,
    k3s: str | None = None,
    root: bool = True,
    distro: str = "ubuntu",
) -> HostFacts:
    nv = NvidiaFacts()
    if gpu:
        nv = NvidiaFacts(
            smi_present=True,
            gpus=(GpuInfo("NVIDIA GeForce RTX 4090", 24564, "550.90.12"),),
            driver_version="550.90.12",
            cuda_version="12.4",
        )
    if toolkit:
        nv = replace(nv, toolkit_version="1.17.8", runtime_path="/usr/bin/nvidia-container-runtime")
    like = {"ubuntu": ("debian",), "fedora": (), "opensuse-leap": ("suse", "opensuse"), "arch": ()}[distro]
    k = K3sFacts()
    if k3s is not None:
        k = K3sFacts(installed=True, version=k3s, running=True)
    return HostFacts(
        hostname="laptop",
        os_id=distro,
        os_like=like,
        os_pretty=distro,
        arch="x86_64",
        kernel="6.8.0",
        is_root=root,
        sudo="root" if root else "passwordless",
        init_system="systemd",
        cpus=8,
        memory_mib=32000,
        disk_free_mib=200_000,
        cgroup_v2=True,
        cgroup_controllers=("cpu", "memory", "pids"),
        k3s=k,
        nvidia=nv,
    )


def bootstrap(repo_url: str = LOCAL_URL, local: bool = True) -> tuple[dict[str, Any], ...]:
    objs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}},
        {
            "apiVersion": "helm.cattle.io/v1",
            "kind": "HelmChart",
            "metadata": {"name": "argo-cd", "namespace": "argocd"},
            "spec": {"chart": "argo-cd", "version": "8.3.0"},
        },
    ]
    if local:
        objs += [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llmops-system"}},
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "llmops-git", "namespace": "llmops-system"},
                "spec": {"replicas": 1},
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "llmops-git", "namespace": "llmops-system"},
            },
        ]
    objs += [
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "llmops", "namespace": "argocd"},
        },
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "llmops-dev", "namespace": "argocd"},
            "spec": {"source": {"repoURL": repo_url, "path": "manifests/dev/apps"}},
        },
    ]
    return tuple(objs)


SMOKE_JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "llmops-gpu-smoke", "namespace": "nvidia-device-plugin"},
    "spec": {"template": {"spec": {"runtimeClassName": "nvidia"}}},
}
SECRETS = (
    SecretSpec("llmops-pgvector", "llmops", ("password",), fixed=(("username", "llmops"),)),
    SecretSpec("llmops-gateway", "llmops", ("admin-key",)),
    SecretSpec("llmops-grafana-admin", "monitoring", ("admin-password",), fixed=(("admin-user", "admin"),)),
)


GIT_SSH = SshKeysSpec(
    name="llmops-git-ssh",
    namespace="llmops-system",
    host="[llmops-git.llmops-system.svc]:23231",
    host_key="ssh_host_ed25519_key",
    host_pub="ssh_host_ed25519_key.pub",
    admin_key="admin_ed25519",
    admin_pub="admin_ed25519.pub",
    known_hosts="known_hosts",
)


def make_inputs(*, gpu: bool = False, registries: str | None = None, remote: str | None = None) -> PlanInputs:
    url = remote or LOCAL_URL
    return PlanInputs(
        env="dev",
        k3s_config='write-kubeconfig-mode: "0600"\n' + ("default-runtime: nvidia\n" if gpu else ""),
        k3s_registries=registries,
        bootstrap=bootstrap(url, local=remote is None),
        repo_url=url,
        smoke_job=SMOKE_JOB if gpu else None,
        tree=None if remote else {"apps/root.yaml": "kind: List\n", "vllm/deploy.yaml": "kind: Deployment\n"},
        secrets=SECRETS,
        git_ssh=None if remote else GIT_SSH,
    )


@pytest.fixture
def settings() -> Settings:
    return Settings()


class Cluster:
    """Simulated k3s + controllers: what a real host would do in response to our calls."""

    def __init__(self, *, gpu: bool = False, k3s_installed: bool = False, nvidia_detected: bool = True) -> None:
        self.host = FakeHost(
            tools={"curl", "sh", "mktemp", "systemctl", "nvidia-smi"} | ({"nvidia-container-runtime"} if gpu else set())
        )
        self.kube = FakeKube(logs_text="GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-1234)\n", hooks=[self.controllers])
        self.gpu = gpu
        self.nvidia_detected = nvidia_detected
        self.app_health = "Healthy"
        self.installs = 0
        self.restarts = 0
        self.host.responses = {
            "mktemp -t k3s-install.*": ok("/tmp/k3s-install.abc123\n"),
            "nvidia-smi --query-gpu*": ok("NVIDIA GeForce RTX 4090, 24564, 550.90.12\n"),
        }
        self.host.on_run = self.on_run
        if k3s_installed:
            self._install()

    def _install(self) -> None:
        self.installs += 1
        self.host.files[hf.K3S_BIN] = ""
        self.host.files[hf.K3S_KUBECONFIG] = K3S_YAML
        self.host.files[hf.K3S_UNINSTALL] = ""
        self._containerd()
        self.kube.put(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "laptop", "labels": {"kubernetes.io/hostname": "laptop"}},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
        )

    def _containerd(self) -> None:
        runtimes = '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]\n'
        if self.gpu and self.nvidia_detected and "nvidia-container-runtime" in self.host.tools:
            runtimes += '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes."nvidia"]\n'
        self.host.files[hf.K3S_CONTAINERD_CONFIG] = runtimes

    def on_run(self, host: FakeHost, argv: list[str]) -> None:
        if (argv[0] == "sh" and argv[1] in ("/tmp/k3s-install.abc123",)) or (
            argv[0] == "sh" and argv[1].endswith("install.sh")
        ):
            self._install()
        if argv[:2] == ["systemctl", "restart"]:
            self.restarts += 1
            self._containerd()
        if argv[:3] == ["apt-get", "install", "-y"]:
            host.tools.add("nvidia-container-runtime")

    def controllers(self, kube: FakeKube) -> None:
        objs = kube.objects
        if ("helm.cattle.io/v1", "HelmChart", "argocd", "argo-cd") in objs:
            for name in ("argo-cd-argocd-server", "argo-cd-argocd-repo-server"):
                key = ("apps/v1", "Deployment", "argocd", name)
                if key not in objs:
                    kube.put(
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "metadata": {"name": name, "namespace": "argocd"},
                            "spec": {"replicas": 1},
                            "status": {"availableReplicas": 1},
                        }
                    )
            if ("v1", "Secret", "argocd", "argocd-initial-admin-secret") not in objs:
                kube.put(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "metadata": {"name": "argocd-initial-admin-secret", "namespace": "argocd"},
                        "data": {"password": base64.b64encode(b"argo-pw").decode()},
                    }
                )
        git = objs.get(("apps/v1", "Deployment", "llmops-system", "llmops-git"))
        if git is not None and "status" not in git:
            git["status"] = {"availableReplicas": 1}
        for (av, kind, ns, name), obj in list(objs.items()):
            if kind == "Job" and not obj.get("status"):
                obj["status"] = {"succeeded": 1}
                kube.put(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": f"{name}-x", "namespace": ns, "labels": {"job-name": name}},
                        "status": {"phase": "Succeeded"},
                    }
                )
            if kind == "Application":
                obj["status"] = {
                    "sync": {"status": "Synced"},
                    "health": {"status": self.app_health},
                    "resources": []
                    if self.app_health == "Healthy"
                    else [
                        {
                            "kind": "Deployment",
                            "namespace": "llmops",
                            "name": "vllm-qwen",
                            "status": "Synced",
                            "health": {
                                "status": "Progressing",
                                "message": "0 of 1 updated replicas available",
                            },
                        }
                    ],
                }
        if self.gpu:
            for (av, kind, ns, name), obj in objs.items():
                if kind == "Node" and ("argoproj.io/v1alpha1", "Application", "argocd", "llmops-dev") in objs:
                    obj.setdefault("status", {}).setdefault("allocatable", {})["nvidia.com/gpu"] = "1"

    def kube_factory(self):  # type: ignore[no-untyped-def]
        from llmops_cli.errors import ClusterError

        def build() -> FakeKube:
            if hf.K3S_KUBECONFIG not in self.host.files:
                raise ClusterError("k3s.yaml does not exist yet", code="unreachable")
            return self.kube

        return build
