"""Fixtures for `promote`: stand-in VMs (real sshd in network namespaces, tests/sshvm.py) carrying the k3s and
systemd stand-ins, and a simulated cluster whose nodes are the VMs whose k3s service runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llmops_cli.adapters import upstream
from llmops_cli.config.model import Settings
from tests.cluster.fakes import FakeKube
from tests.cluster.kubesim import Sim
from tests.promote.k3s_standin import STATE_DIR, airgap_bundle, installer_sha256, vm_files
from tests.sshvm import Vm, Vms, vms

REPO_URL = "https://git.example.test/platform/llmops.git"


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Vms]:
    with vms(tmp_path / "vms") as g:
        yield g


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The stand-in installer is the "pinned" one here; its hash check is what runs (tests/e2e checks the real one).
    monkeypatch.setattr(upstream, "K3S_INSTALLER_SHA256", installer_sha256())
    return airgap_bundle(tmp_path / "bundle")


def start_vms(group: Vms, names: list[str], *, users: tuple[str, ...] = ("root",)) -> list[Vm]:
    out = []
    for name in names:
        vm = group.start(name, files=vm_files(), users=users)
        group.trust(vm)
        out.append(vm)
    return out


def env_settings(vms_: list[Vm], roles: list[str], *, user: str = "root", **extra: Any) -> Settings:
    hosts = [{"address": vm.address, "role": role, "user": user} for vm, role in zip(vms_, roles, strict=True)]
    data: dict[str, Any] = {
        "gitops": {"repo_url": REPO_URL},
        "environments": {
            "dev": {"profile": "dev"},
            "prod": {"profile": "prod", "hosts": hosts, **extra},
        },
    }
    return Settings.model_validate(data)


def service_running(vm: Vm, unit: str) -> bool:
    return vm.upper(f"{STATE_DIR}/{unit}.active").exists()


@dataclass
class VmCluster:
    """The Kubernetes side of the VMs: the API answers once the first server's k3s runs; a VM is a Ready node
    while its k3s (or k3s-agent) service runs."""

    vms: list[Vm]
    sim: Sim = field(default_factory=Sim)
    kube: FakeKube = field(init=False)
    # Where "Argo CD" reads the environment's branch: a real (bare) repository, read at its tip on every tick.
    origin: Path | None = None
    branch: str = "main"
    repo_url: str = REPO_URL
    _seen: str | None = None

    def __post_init__(self) -> None:
        self.kube = FakeKube(self.sim, reachable=lambda: service_running(self.vms[0], "k3s"))
        self.kube.hooks = [lambda k: self._nodes(), lambda k: self._git(), lambda k: k.sim.tick()]

    def _git(self) -> None:
        import subprocess

        if self.origin is None:
            return
        r = subprocess.run(
            ["git", "-C", str(self.origin), "rev-parse", "--verify", "--quiet", f"refs/heads/{self.branch}"],
            capture_output=True,
            text=True,
            check=False,
        )
        tip = r.stdout.strip()
        if not tip or tip == self._seen:
            return
        from llmops_cli.adapters.gitrepo import GitRepo

        self.sim.remote_trees[self.repo_url] = {
            f"manifests/{k}": v for k, v in GitRepo(self.origin).files(tip, "manifests").items()
        }
        self.sim.remote_revisions[self.repo_url] = tip
        self._seen = tip

    def _nodes(self) -> None:
        if not service_running(self.vms[0], "k3s"):
            return
        self.sim.k3s_started()
        for vm in self.vms:
            key = ("v1", "Node", "", vm.hostname)
            up = service_running(vm, "k3s") or service_running(vm, "k3s-agent")
            if up and key not in self.sim.objects:
                self.sim.add_node(vm.hostname, cpus=8, memory_gib=32)
            elif not up and key in self.sim.objects:
                del self.sim.objects[key]


class StandInRegistry:
    """Promotions in tests that are not about registries pin each image to a digest derived from its name and tag
    (tests/promote/test_image_digests.py resolves them through a real registry)."""

    def resolve_all(self, refs: list[Any]) -> dict[str, str]:
        import hashlib

        return {r.text: "sha256:" + hashlib.sha256(f"{r.name}:{r.tag}".encode()).hexdigest() for r in refs}

    def base(self, ref: Any) -> str:
        from llmops_cli.adapters.registry import api_base

        return str(api_base(ref.domain))

    def close(self) -> None:
        return None


@pytest.fixture(autouse=True)
def no_registry_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops_cli.promote import images

    monkeypatch.setattr(images, "registry_client", StandInRegistry)
