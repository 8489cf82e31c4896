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


def environ_for(tmp_path: Path) -> dict[str, str]:
    return {"KUBECONFIG": str(tmp_path / "kubeconfig"), "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}


def plan_for(settings, hosts, cluster, bundle: Path, environ, reporter, api_via: str = "auto"):  # type: ignore[no-untyped-def]
    """Every host's plan, with a fake clock; ``cluster`` (a VmCluster) stands in for the API, or None: the real
    client, through :class:`llmops_cli.promote.remote.ApiAccess`."""
    from llmops_cli.cluster.model import UpOptions
    from llmops_cli.cluster.up import inspect_airgap_bundle
    from llmops_cli.promote.remote import plan_cluster
    from tests.cluster.fakes import FakeClock

    cp = plan_cluster(
        settings,
        "prod",
        hosts,
        options=UpOptions(timeout=120, airgap=inspect_airgap_bundle(bundle)),
        environ=environ,
        reporter=reporter,
        kube_factory=(lambda: cluster.kube) if cluster is not None else None,
        api_via=api_via,
    )
    clock = FakeClock()
    cp.sleep, cp.clock = clock.sleep, clock.now
    return cp


def connect_env(group: Vms, settings: Settings, reporter: Any) -> dict[str, Any]:
    """Connections to every host of ``prod``, through the group's ssh config (its known_hosts)."""
    from llmops_cli.promote.remote import ConnectOptions, connect_hosts

    opts = ConnectOptions(ssh_config=str(group.ssh_config))
    return connect_hosts(settings.environments["prod"].hosts, opts, password=None, reporter=reporter)


def kill_at_installer(node: Any, vm: Vm, calls: list[int] | None = None) -> None:
    """The node's machine dies as its plan runs k3s's installer (its sshd goes away); ``calls`` gets the time
    (ns) of each command the node's plan sends."""
    import time

    real_run = node.host.run

    def dies_at_the_installer(argv, **kw):  # type: ignore[no-untyped-def]
        if calls is not None:
            calls.append(time.time_ns())
        if argv[:1] == ["sh"] and any("install.sh" in a for a in argv):
            vm._stop_sshd()
        return real_run(argv, **kw)

    node.host.run = dies_at_the_installer


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
